"""The REST API on a real uvicorn, on a local store and on moto S3, against the fake Images API."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from PIL import Image

from blog_images_tui.testing.fake_images_api import Reply
from tests.support import TEST_KEY, settle, wait_until
from tests.support.web import JOB, TOKEN, assert_error, generate, read_events, start_server, wait_for_job


def test_generate_then_browse_every_store_route(web, fake_api):
    with web.client() as client:
        assert client.get("/api/v1/posts").json() == {"posts": []}
        job = generate(client)
        assert job["status"] == "stored", job
        [stored] = job["images"]
        name = stored["name"]

        assert client.get("/api/v1/posts").json() == {"posts": [{"post_id": 53}]}
        assert client.get("/api/v1/posts/53/sections").json() == {"post_id": 53,
                                                                  "sections": [{"section_id": "intro"}]}
        listing = client.get("/api/v1/posts/53/sections/intro/images").json()
        [image] = listing["images"]
        assert image["name"] == name and image["format"] == "png" and image["has_metadata"] is True
        assert image["bytes"] > 0 and image["file_url"] == stored["file_url"]

        detail = client.get(f"/api/v1/posts/53/sections/intro/images/{name}").json()
        assert detail["metadata"]["prompt"] == JOB["prompt"]
        assert detail["metadata"]["job_id"] == job["job_id"]
        assert detail["lineage"]["job_id"] == job["job_id"]

        original = client.get(image["file_url"])
        assert original.status_code == 200 and original.headers["content-type"] == "image/png"
        assert int(original.headers["content-length"]) == image["bytes"] == len(original.content)
        assert Image.open(io.BytesIO(original.content)).size == (1024, 1024)

        thumb = client.get(image["thumb_url"], params={"w": 200})
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
        picture = Image.open(io.BytesIO(thumb.content))
        assert picture.format == "WEBP" and picture.size == (256, 256)  # 200 snaps up to 256, aspect kept
        assert len(fake_api.requests) == 1


def test_thumbnails_are_cached_and_never_upscaled(web_local):
    with web_local.client() as client:
        job = generate(client, size="1024x1024")
        url = job["images"][0]["thumb_url"]
        first = client.get(url, params={"w": 960}).content
        again = client.get(url, params={"w": 900}).content  # snaps to the same 960
        assert first == again
        assert web_local.state.thumbnails.made == 1
        assert Image.open(io.BytesIO(first)).size == (960, 960)
        client.get(url, params={"w": 64})
        assert web_local.state.thumbnails.made == 2
        for bad in ("0", "15", "961", "99999", "abc"):
            assert_error(client.get(url, params={"w": bad}), 422, "invalid_request", 2)


def test_models_estimate_server_and_schema(web_local):
    with web_local.client() as client:
        models = client.get("/api/v1/models").json()
        names = [model["name"] for model in models["models"]]
        assert "gpt-image-2" in names and "dall-e-3" not in names  # retired models are not offered
        fixed = next(model for model in models["models"] if model["name"] == "gpt-image-1.5")
        assert fixed["sizes"] == ["1024x1024", "1536x1024", "1024x1536", "auto"] and not fixed["free_sizes"]
        assert models["defaults"]["model"] == "gpt-image-2"

        estimate = client.post("/api/v1/estimate", json={**JOB, "quality": "low"}).json()
        assert estimate["cost"]["usd"] > 0 and estimate["cost"]["text"].startswith("~$")
        posted = client.post("/api/v1/jobs", json={**JOB, "quality": "low"}).json()
        assert posted["job_id"] == estimate["job_id"]  # the estimate names the job a post would make

        info = client.get("/api/v1/server").json()
        assert info["has_api_key"] is True and info["store"] == web_local.store_url
        assert TEST_KEY not in json.dumps(info)

        schema = client.get("/api/v1/openapi.json").json()
        assert "/api/v1/jobs" in schema["paths"] and "/api/v1/posts/{post}/sections/{section}/images" in schema["paths"]
        assert "JobCreate" in schema["components"]["schemas"]
        for public_docs in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            assert client.get(public_docs).status_code == 404


def test_page_and_static_files_need_no_token_and_hold_no_data(web_local):
    with web_local.client(token=None) as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "cdn" not in page.text.lower() and "https://" not in page.text
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["referrer-policy"] == "no-referrer"
        for name in ("app.css", "api.js", "gallery.js", "jobs.js", "app.js", "icon.svg"):
            response = anonymous.get(f"/static/{name}")
            assert response.status_code == 200, name
            assert "https://" not in response.text, f"{name} refers to the internet"
        assert_error(anonymous.get("/static/..%2Fapp.py"), 404, "not_found", 2)
        assert_error(anonymous.get("/static/index.html.bak"), 404, "not_found", 2)


# -- who may in ---------------------------------------------------------------------------

ROUTES = [("GET", "/api/v1/posts"), ("GET", "/api/v1/posts/53/sections"),
          ("GET", "/api/v1/posts/53/sections/1/images"), ("GET", "/api/v1/posts/53/sections/1/images/a.png"),
          ("GET", "/api/v1/posts/53/sections/1/images/a.png/file"),
          ("GET", "/api/v1/posts/53/sections/1/images/a.png/thumb"), ("GET", "/api/v1/jobs"),
          ("POST", "/api/v1/jobs"), ("GET", "/api/v1/jobs/abc"), ("DELETE", "/api/v1/jobs/abc"),
          ("GET", "/api/v1/jobs/abc/events"), ("GET", "/api/v1/models"), ("POST", "/api/v1/estimate"),
          ("GET", "/api/v1/server"), ("POST", "/api/v1/session"), ("GET", "/api/v1/openapi.json"),
          ("GET", "/api/v1/no-such-route"), ("GET", "/api/v2/anything")]


def test_every_api_route_is_401_without_the_right_token(web_local, fake_api):
    with web_local.client(token=None) as anonymous, web_local.client(token=TOKEN + "x") as wrong, \
            web_local.client(token=TOKEN[:-1]) as prefix:
        for method, path in ROUTES:
            for client in (anonymous, wrong, prefix):
                response = client.request(method, path, json=JOB if method == "POST" else None)
                error = assert_error(response, 401, "unauthorized", 3)
                assert response.headers["www-authenticate"] == "Bearer"
                assert error["message"] == "missing or wrong token", (method, path)
        # Not in a query string, not as another scheme, not as the session cookie's value.
        assert anonymous.get("/api/v1/posts", params={"token": TOKEN}).status_code == 401
        assert anonymous.get("/api/v1/posts", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
        assert anonymous.get("/api/v1/posts", headers={"Authorization": TOKEN}).status_code == 401
    assert len(fake_api.requests) == 0


def test_the_session_cookie_opens_image_bytes_only(web_local):
    with web_local.client() as client:
        name = generate(client)["images"][0]["name"]
        session = client.post("/api/v1/session")
        assert session.status_code == 204
        cookie = session.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert TOKEN not in cookie
        value = session.cookies["blog_images_session"]
    base = f"/api/v1/posts/53/sections/intro/images/{name}"
    with httpx.Client(base_url=web_local.base_url, cookies={"blog_images_session": value}) as browser:
        assert browser.get(f"{base}/file").status_code == 200
        assert browser.get(f"{base}/thumb", params={"w": 64}).status_code == 200
        for path in ("/api/v1/posts", base, "/api/v1/jobs"):
            assert_error(browser.get(path), 401, "unauthorized", 3)
        assert_error(browser.post("/api/v1/jobs", json=JOB), 401, "unauthorized", 3)
    with httpx.Client(base_url=web_local.base_url, cookies={"blog_images_session": value[:-1] + "0"}) as forged:
        assert forged.get(f"{base}/file").status_code == 401


def test_host_header_must_name_this_server(web_local):
    with web_local.client() as client:
        for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "localhost.evil.example:80",
                     "", "10.0.0.1"):
            response = client.get("/api/v1/posts", headers={"Host": host})
            assert_error(response, 400, "bad_host", 2)
            assert "posts" not in response.text
            assert client.get("/", headers={"Host": host}).status_code == 400
        # ssh -L may forward another local port: the name matters, not the port.
        for host in ("127.0.0.1:9999", "localhost:8765", "localhost", "[::1]:8765"):
            assert client.get("/api/v1/posts", headers={"Host": host}).status_code == 200, host
        # No CORS: a preflight from another origin gets no allow header.
        preflight = client.options("/api/v1/jobs", headers={"Origin": "http://evil.example",
                                                             "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in preflight.headers


# -- bad input: the core's words, nothing sent or written ---------------------------------------

def test_traversal_and_bad_names_never_reach_the_store(web_local, fake_api, tmp_path):
    with web_local.client() as client:
        generate(client)
        for path in ("/api/v1/posts/../sections", "/api/v1/posts/..%2F..%2Fetc/sections",
                     "/api/v1/posts/%2e%2e/sections", "/api/v1/posts/53/sections/..%2F..%2F..%2Fetc/images",
                     "/api/v1/posts/53/sections/intro/images/..%2F..%2Fsecret.png/file",
                     "/api/v1/posts/53/sections/intro/images/%2e%2e.png/file"):
            response = client.get(path)
            assert response.status_code in (400, 404), (path, response.text)
            assert_error(response, response.status_code, response.json()["error"]["code"], 2)
        error = assert_error(client.get("/api/v1/posts/a%20b/sections"), 400, "bad_input", 2)
        assert "invalid post id 'a b'" in error["message"]
        assert_error(client.get("/api/v1/posts/007/sections"), 400, "bad_input", 2)
        assert_error(client.get("/api/v1/posts/53/sections/intro/images/x_metadata.json/file"), 400, "bad_input", 2)
        assert_error(client.get("/api/v1/posts/53/sections/intro/images/missing.png"), 404, "not_found", 2)
        assert_error(client.get("/api/v1/posts/53/sections/intro/images/missing.png/file"), 404, "not_found", 2)
        assert_error(client.get("/api/v1/posts/53/sections/intro/images/missing.png/thumb"), 404, "not_found", 2)
        assert_error(client.get("/api/v1/jobs/nope"), 404, "not_found", 2)
        assert_error(client.get("/api/v1/jobs/..%2Fx"), 404, "not_found", 2)
        assert_error(client.get("/api/v1/jobs/a.b"), 400, "bad_input", 2)
        assert client.get("/api/v1/posts/54/sections").json()["sections"] == []
    assert len(fake_api.requests) == 1


@pytest.mark.parametrize("body, status, code, words", [
    ({**JOB, "post_id": "../etc"}, 400, "bad_input", "invalid post id"),
    ({**JOB, "section_id": "a/b"}, 400, "bad_input", "invalid section id"),
    ({**JOB, "size": "1000x1000"}, 400, "bad_input", "multiples of 16"),
    ({**JOB, "prompt": "   "}, 400, "bad_input", "the prompt is empty"),
    ({**JOB, "prompt": "x" * 32001}, 400, "bad_input", "takes at most 32000"),
    ({**JOB, "filename": "../../x"}, 400, "bad_input", "invalid filename"),
    ({**JOB, "model": "gpt-image-1.5", "size": "1792x1024"}, 400, "bad_input", "not available for gpt-image-1.5"),
    ({**JOB, "template": "nope", "prompt": None}, 400, "bad_input", "nope"),
    ({**JOB, "post_id": True}, 422, "invalid_request", "post_id"),
    ({**JOB, "post_id": 1.5}, 422, "invalid_request", "post_id"),
    ({**JOB, "image_path": "/etc/passwd"}, 422, "invalid_request", "image_path"),
    ({**JOB, "partial_images": 9}, 422, "invalid_request", "partial_images"),
    ({"prompt": "no ids"}, 400, "bad_input", "missing post_id"),
])
def test_bad_job_bodies_are_refused_before_anything_is_sent(web_local, fake_api, body, status, code, words):
    with web_local.client() as client:
        response = client.post("/api/v1/jobs", json=body)
        error = assert_error(response, status, code, 2)
        assert words in error["message"], error
        assert client.post("/api/v1/estimate", json=body).status_code == status
        assert client.get("/api/v1/jobs").json() == {"jobs": []}
    assert len(fake_api.requests) == 0
    assert client and not any(web_local.state.store.list_posts())


def test_bodies_that_are_not_json_or_too_big(web_local, fake_api):
    with web_local.client() as client:
        assert_error(client.post("/api/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"}),
                     422, "invalid_request", 2)
        big = json.dumps({**JOB, "prompt": "x" * (2 * 1024 * 1024)}).encode()
        assert_error(client.post("/api/v1/jobs", content=big, headers={"Content-Type": "application/json"}),
                     413, "too_large", 2)

        def chunks():  # no Content-Length: the limit still holds
            for _ in range(40):
                yield b"x" * 65536

        assert_error(client.post("/api/v1/jobs", content=chunks(), headers={"Content-Type": "application/json"}),
                     413, "too_large", 2)
        assert client.post("/api/v1/jobs", content=iter([json.dumps(JOB).encode()]),
                           headers={"Content-Type": "application/json"}).status_code == 202
    assert fake_api.wait_for_requests(1)


# -- jobs -----------------------------------------------------------------------------------

def test_the_same_job_posted_twice_is_one_job_and_one_request(web, fake_api):
    fake_api.set_latency(0.5)
    with web.client() as client:
        first = client.post("/api/v1/jobs", json=JOB).json()
        second = client.post("/api/v1/jobs", json=JOB).json()
        assert second["job_id"] == first["job_id"]
        done = wait_for_job(client, first["job_id"])
        assert done["status"] == "stored"
        third = client.post("/api/v1/jobs", json=JOB)
        assert third.status_code == 202 and third.json()["status"] == "stored"
        assert third.json()["images"] == done["images"]
        assert [job["job_id"] for job in client.get("/api/v1/jobs").json()["jobs"]] == [first["job_id"]]
        other = generate(client, prompt="A lighthouse at night")
        assert other["job_id"] != first["job_id"]
    assert settle(fake_api) == 2


def test_a_job_posted_again_after_a_restart_is_found_not_paid_again(local_store_url, fake_api, tmp_path):
    first = start_server(local_store_url, base_url=fake_api.base_url, tmp_path=tmp_path)
    with first.client() as client:
        stored = generate(client)
    first.stop()
    second = start_server(local_store_url, base_url=fake_api.base_url, tmp_path=tmp_path)
    try:
        with second.client() as client:
            again = generate(client)
    finally:
        second.stop()
    assert again["job_id"] == stored["job_id"] and again["status"] == "skipped"
    assert again["images"][0]["name"] == stored["images"][0]["name"]
    assert len(fake_api.requests) == 1


def test_events_come_in_order_with_partial_previews(web, fake_api):
    fake_api.set_latency(0.3)
    with web.client() as client:
        job = client.post("/api/v1/jobs", json={**JOB, "partial_images": 2}).json()
        events = read_events(client, job["job_id"])
        kinds = [kind for _, kind, _ in events]
        assert [int(seq) for seq, _, _ in events] == list(range(1, len(events) + 1))
        assert [data["seq"] for _, _, data in events] == list(range(1, len(events) + 1))
        assert kinds[0] == "queued" and kinds[1] == "started" and kinds[-1] == "stored"
        stages = [data["stage"] for _, kind, data in events if kind == "stage"]
        assert stages.index("generating") < stages.index("storing") < stages.index("stored")
        partials = [data for _, kind, data in events if kind == "partial"]
        assert [data["index"] for data in partials] == [0, 1]
        assert kinds.index("partial") > kinds.index("started") and kinds.index("partial") < kinds.index("stored")
        # Once finished, a replay has every event but no pixels; Last-Event-ID resumes after it.
        replay = read_events(client, job["job_id"])
        assert [kind for _, kind, _ in replay] == kinds
        assert all("image" not in data for _, _, data in replay)
        tail = read_events(client, job["job_id"], headers={"Last-Event-ID": str(len(events) - 2)})
        assert [kind for _, kind, _ in tail] == kinds[-2:]
        assert client.get(f"/api/v1/jobs/{job['job_id']}").json()["events"] == len(events)


def test_a_live_stream_carries_the_newest_preview_image(web_local, fake_api):
    fake_api.set_latency(0.5)
    with web_local.client() as client:
        job = client.post("/api/v1/jobs", json={**JOB, "partial_images": 2}).json()
        events = read_events(client, job["job_id"])
    previews = [data for _, kind, data in events if kind == "partial"]
    assert previews and all(data.get("image") for data in previews)
    import base64

    assert Image.open(io.BytesIO(base64.b64decode(previews[-1]["image"]))).format == "PNG"


def test_cancel_a_running_job(web, fake_api):
    fake_api.enqueue(Reply.hang(30))
    with web.client() as client:
        job = client.post("/api/v1/jobs", json=JOB).json()
        assert fake_api.wait_for_requests(1, timeout=20)
        cancelled = client.delete(f"/api/v1/jobs/{job['job_id']}")
        assert cancelled.status_code == 200
        done = wait_for_job(client, job["job_id"])
        assert done["status"] == "cancelled" and done["images"] == []
        assert done["error"]["code"] == "interrupted" and done["error"]["exit_code"] == 130
        events = read_events(client, job["job_id"])
        assert events[-1][1] == "cancelled"
        assert client.get("/api/v1/posts/53/sections/intro/images").json()["images"] == []
        # Cancelling a finished job changes nothing; a cancelled job may be posted again (same id).
        assert client.delete(f"/api/v1/jobs/{job['job_id']}").json()["status"] == "cancelled"
        again = generate(client)
        assert again["job_id"] == job["job_id"] and again["status"] == "stored"


def test_an_api_error_is_the_job_error_in_words(web_local, fake_api):
    fake_api.enqueue(Reply.error(400, code="moderation_blocked",
                                 message="Your request was rejected as a result of our safety system."))
    with web_local.client() as client:
        job = generate(client)
    assert job["status"] == "failed"
    error = job["error"]
    assert error["code"] == "api_rejected" and error["exit_code"] == 4 and error["type"] == "ApiRejected"
    assert "content policy" in error["message"] and "safety system" in error["message"]
    assert TEST_KEY not in json.dumps(job)


def test_the_key_never_reaches_a_client_even_when_the_api_echoes_it(web_local, fake_api):
    fake_api.enqueue(Reply.error(401, message=f"Incorrect API key provided: {TEST_KEY}."))
    with web_local.client() as client:
        job = generate(client)
        everything = json.dumps(job) + client.get("/api/v1/jobs").text + json.dumps(read_events(client, job["job_id"]))
    assert job["status"] == "failed" and job["error"]["code"] == "auth_config"
    assert TEST_KEY not in everything and TEST_KEY[-12:] not in everything


def test_without_a_key_the_server_browses_and_refuses_jobs(local_store_url, fake_api, tmp_path):
    server = start_server(local_store_url, base_url=fake_api.base_url, tmp_path=tmp_path, api_key=None)
    try:
        with server.client() as client:
            assert client.get("/api/v1/server").json()["has_api_key"] is False
            assert client.get("/api/v1/posts").status_code == 200
            error = assert_error(client.post("/api/v1/jobs", json=JOB), 503, "auth_config", 3)
            assert "OPENAI_AUTH_TOKEN" in error["message"] and "start blog-images serve again" in error["message"]
            assert_error(client.post("/api/v1/jobs", json={**JOB, "size": "7x7"}), 400, "bad_input", 2)
    finally:
        server.stop()
    assert len(fake_api.requests) == 0


# -- stopping ---------------------------------------------------------------------------------

def test_stop_within_seconds_with_an_event_stream_open(local_store_url, fake_api, tmp_path):
    fake_api.enqueue(Reply.hang(60))
    server = start_server(local_store_url, base_url=fake_api.base_url, tmp_path=tmp_path)
    client = server.client()
    job = client.post("/api/v1/jobs", json=JOB).json()
    assert fake_api.wait_for_requests(1, timeout=20)
    received: list = []
    import threading

    def listen():
        try:
            read_events(client, job["job_id"], into=received)
        except httpx.HTTPError as error:
            received.append((None, f"error: {error}", {}))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    # The stream is open, has replayed the job's events and waits for more.
    wait_until(lambda: any(data.get("stage") == "generating" for _, _, data in received), timeout=20,
               what="the stream to show the job generating")
    took = server.stop(timeout_s=15)
    listener.join(5)
    client.close()
    assert not server.thread.is_alive(), "the server did not stop"
    assert took < 10, f"stopping took {took:.1f} s"
    assert not listener.is_alive() and "started" in [kind for _, kind, _ in received]
    assert server.state.hub.records[job["job_id"]].job.state.value == "cancelled"
