"""Edit, variants, delete and prune, publish and alt through the API (the iterate and publish cores)."""

from __future__ import annotations

import pytest

from tests.support import settle
from tests.support.web import JOB, assert_error, generate, wait_for_job


def test_variants_then_keep_one_and_prune_the_rest(web, fake_api):
    with web.client() as client:
        job = generate(client, n=3)
        assert job["status"] == "stored" and len(job["images"]) == 3
        names = [image["name"] for image in job["images"]]
        details = [client.get(f"/api/v1/posts/53/sections/intro/images/{name}").json() for name in names]
        groups = {detail["lineage"]["group_id"] for detail in details}
        assert len(groups) == 1 and [d["lineage"]["variant"] for d in details] == [1, 2, 3]
        assert {d["lineage"]["variants"] for d in details} == {3}
        kept = client.post("/api/v1/posts/53/sections/intro/prune",
                           json={"group_id": groups.pop(), "keep": names[1]}).json()
        assert kept["kept"] == names[1].rsplit(".", 1)[0] and sorted(kept["deleted"]) == sorted([names[0], names[2]])
        listing = client.get("/api/v1/posts/53/sections/intro/images").json()["images"]
        assert [image["name"] for image in listing] == [names[1]]
        assert_error(client.post("/api/v1/posts/53/sections/intro/prune", json={"group_id": "nope", "keep": names[1]}),
                     400, "bad_input", 2)
    assert len(fake_api.requests) == 1


def test_edit_a_stored_image_with_a_store_reference(web, fake_api):
    with web.client() as client:
        source = generate(client)["images"][0]["name"]
        reference = generate(client, prompt="a brand mark")["images"][0]["name"]
        edit = client.post("/api/v1/jobs", json={"edit": f"53/intro/{source}", "prompt": "The same, at night",
                                                 "images": [f"53/intro/{reference}"], "partial_images": 0})
        assert edit.status_code == 202, edit.text
        done = wait_for_job(client, edit.json()["job_id"])
        assert done["status"] == "stored", done
        [made] = done["images"]
        lineage = client.get(f"/api/v1/posts/53/sections/intro/images/{made['name']}").json()["lineage"]
        assert lineage["operation"] == "edit"
        assert lineage["source"]["name"] == source.rsplit(".", 1)[0] and lineage["source"]["sha256"]
        assert [ref["name"] for ref in lineage["references"]] == [reference.rsplit(".", 1)[0]]
        assert fake_api.requests[-1].path.endswith("/images/edits")
        # The same edit posted again is the same job; the source cannot go while the edit names it.
        again = client.post("/api/v1/jobs", json={"edit": f"53/intro/{source}", "prompt": "The same, at night",
                                                  "images": [f"53/intro/{reference}"], "partial_images": 0}).json()
        assert again["job_id"] == done["job_id"]
        error = assert_error(client.delete(f"/api/v1/posts/53/sections/intro/images/{source}"), 400, "bad_input", 2)
        assert "is the source of" in error["message"]
        assert source in [i["name"] for i in client.get("/api/v1/posts/53/sections/intro/images").json()["images"]]
        deleted = client.delete(f"/api/v1/posts/53/sections/intro/images/{source}", params={"force": "true"}).json()
        assert deleted["deleted"] == [source]
        assert_error(client.get(f"/api/v1/posts/53/sections/intro/images/{source}"), 404, "not_found", 2)
    assert settle(fake_api) == 3


@pytest.mark.parametrize("field, value, words", [
    ("images", ["/etc/passwd"], "invalid post id"),
    ("images", ["local/files/here.png"], "no image here.png"),
    ("edit", "../../etc/passwd", "invalid image reference"),
    ("edit", "53/intro/missing.png", "no image missing.png"),
])
def test_an_edit_never_reads_the_servers_own_files(web_local, fake_api, tmp_path, monkeypatch, field, value, words):
    # A file at the path a client names, relative to the server's working folder: still never read.
    (tmp_path / "local" / "files").mkdir(parents=True)
    (tmp_path / "local" / "files" / "here.png").write_bytes(b"\x89PNG\r\n\x1a\n private")
    monkeypatch.chdir(tmp_path)
    with web_local.client() as client:
        source = generate(client)["images"][0]["name"]
        body = {"edit": f"53/intro/{source}", "prompt": "at night", field: value}
        error = assert_error(client.post("/api/v1/jobs", json=body), 400, "bad_input", 2)
        assert words in error["message"]
        assert_error(client.post("/api/v1/jobs", json={**body, "mask": "mask.png"}), 422, "invalid_request", 2)
    assert settle(fake_api) == 1


def test_publish_then_again_then_alt(web, fake_api):
    with web.client() as client:
        name = generate(client)["images"][0]["name"]
        path = f"/api/v1/posts/53/sections/intro/images/{name}"
        assert_error(client.get(f"{path}/publish"), 404, "not_found", 2)
        first = client.post(f"{path}/publish", json={"widths": [320, 640], "formats": ["webp"]})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["changed"] is True and len(body["created"]) == 2
        assert "<img" in body["html"] and 'sizes="' in body["html"] and 'alt="A lighthouse at dawn' in body["html"]
        assert body["markdown"].startswith("![")
        again = client.post(f"{path}/publish", json={"widths": [320, 640], "formats": ["webp"]}).json()
        assert again["changed"] is False and again["created"] == [] and len(again["reused"]) == 2
        alt = client.put(f"{path}/alt", json={"text": 'A lighthouse, "at dawn" <b>'}).json()
        assert alt["metadata_changed"] and alt["manifest_changed"]
        shown = client.get(f"{path}/publish").json()
        assert 'alt="A lighthouse, &quot;at dawn&quot; &lt;b&gt;"' in shown["html"]
        assert client.get(path).json()["metadata"]["alt"] == 'A lighthouse, "at dawn" <b>'
        assert_error(client.post(f"{path}/publish", json={"widths": [5]}), 400, "bad_input", 2)
        assert_error(client.post(f"{path}/publish", json={"formats": ["gif"]}), 400, "bad_input", 2)
        assert_error(client.post(f"{path}/publish", json={"path": "/tmp"}), 422, "invalid_request", 2)
        assert_error(client.put(f"{path}/alt", json={"text": 5}), 422, "invalid_request", 2)
        assert_error(client.post("/api/v1/posts/53/sections/intro/images/missing.png/publish", json={}), 400,
                     "bad_input", 2)
    assert len(fake_api.requests) == 1


def test_the_new_routes_need_the_token(web_local):
    with web_local.client(token=None) as anonymous:
        base = "/api/v1/posts/53/sections/intro/images/a.png"
        for method, path, body in (("DELETE", base, None), ("POST", "/api/v1/posts/53/sections/intro/prune",
                                                             {"group_id": "g", "keep": "a.png"}),
                                   ("POST", f"{base}/publish", {}), ("GET", f"{base}/publish", None),
                                   ("PUT", f"{base}/alt", {"text": "x"})):
            assert_error(anonymous.request(method, path, json=body), 401, "unauthorized", 3)
    assert JOB  # the shared job body is the one the other API tests post


def _png(width: int = 64, height: int = 48) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def test_upload_an_image_into_a_section(web, fake_api):
    with web.client() as client:
        path = "/api/v1/posts/53/sections/intro/images"
        made = client.post(path, params={"filename": "brand-mark", "prompt": "our logo"}, content=_png(),
                           headers={"Content-Type": "image/png"})
        assert made.status_code == 201, made.text
        assert made.json()["name"] == "brand-mark.png"
        detail = client.get(f"{path}/brand-mark.png").json()
        assert detail["lineage"]["operation"] == "import" and detail["metadata"]["width"] == 64
        assert client.get(f"{path}/brand-mark.png/file").content == _png()
        # It can be edited like any other image, named by its store reference.
        edit = client.post("/api/v1/jobs", json={"edit": "53/intro/brand-mark.png", "prompt": "in gold",
                                                 "partial_images": 0}).json()
        assert wait_for_job(client, edit["job_id"])["status"] == "stored"
        assert_error(client.post(path, params={"filename": "brand-mark"}, content=_png()), 400, "bad_input", 2)
        assert_error(client.post(path, content=b"not an image at all"), 400, "bad_input", 2)
        truncated = _png()[:-40]
        assert_error(client.post(path, params={"filename": "cut"}, content=truncated), 400, "bad_input", 2)
        assert_error(client.post(path, params={"filename": "../x"}, content=_png()), 400, "bad_input", 2)
        auto = client.post(path, content=_png()).json()["name"]
        assert auto != "brand-mark.png" and auto.endswith(".png")
        names = {image["name"] for image in client.get(path).json()["images"]}
        assert "cut.png" not in names and {"brand-mark.png", auto} <= names
    assert settle(fake_api) == 1


def test_uploads_have_their_own_size_limit(local_store_url, fake_api, tmp_path):
    from tests.support.web import start_server

    server = start_server(local_store_url, base_url=fake_api.base_url, tmp_path=tmp_path, max_upload_bytes=20_000)
    try:
        with server.client() as client:
            path = "/api/v1/posts/53/sections/intro/images"
            assert client.post(path, content=_png()).status_code == 201
            assert_error(client.post(path, content=_png(800, 800) + b"\0" * 30_000), 413, "too_large", 2)
            assert_error(client.post(path, content=iter([b"\0" * 25_000])), 413, "too_large", 2)
    finally:
        server.stop()


def test_the_same_publish_asked_at_once_runs_once(web_local):
    import threading

    with web_local.client() as client:
        name = generate(client)["images"][0]["name"]
    path = f"/api/v1/posts/53/sections/intro/images/{name}/publish"
    answers: list[dict] = []

    def ask() -> None:
        with web_local.client() as client:
            answers.append(client.post(path, json={"widths": [320, 640, 960], "formats": ["webp", "avif"]}).json())

    askers = [threading.Thread(target=ask) for _ in range(3)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(60)
    assert len(answers) == 3 and all("html" in answer for answer in answers), answers
    # One run made the files; a run after it would have found them (reused), none made them twice.
    made = [answer["created"] for answer in answers if answer["created"]]
    assert made and all(created == made[0] for created in made)
    for answer in answers:  # the shared run's answer, or a later run's that found every file made
        assert sorted(answer["created"] + answer["reused"]) == sorted(made[0])
    with web_local.client() as client:
        again = client.post(path, json={"widths": [320, 640, 960], "formats": ["webp", "avif"]}).json()
        assert again["changed"] is False
