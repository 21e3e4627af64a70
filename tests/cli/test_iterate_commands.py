"""`blog-images import`, `edit`, `--n`, `delete` and batch edits as a user runs them, on local disk and S3.

Most runs call the CLI's main() in this process (the same code path as the
command, minus a 2 s interpreter start); one runs the real subprocess.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from PIL import Image

from blog_images_tui.cli import main
from blog_images_tui.ids import SectionRef
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import Reply, make_png

SECTION = SectionRef(53, 1)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def rgba_mask(width: int, height: int) -> bytes:
    image = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, width // 2, height))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(params=["local", "s3"])
def store_url(request):
    return request.getfixturevalue(f"{request.param}_store_url")


def test_import_brings_a_file_in_with_checked_metadata(capsys, store_url, tmp_path):
    photo = tmp_path / "team-photo.png"
    photo.write_bytes(make_png(320, 200))
    code, out, _ = cli(capsys, "import", str(photo), "--post-id", "53", "--section-id", "1", "--store", store_url,
                       "--prompt", "our team", "--json")
    assert code == 0
    answer = json.loads(out)
    assert answer["ok"] is True and len(answer["images"]) == 1
    assert answer["image_path"] == answer["images"][0]["image_path"]  # K = 1: today's fields stay
    meta = open_store(store_url).read_metadata(SECTION, "team-photo")
    assert meta["operation"] == "import" and (meta["width"], meta["height"]) == (320, 200)
    assert meta["prompt"] == "our team" and meta["output_format"] == "png" and len(meta["sha256"]) == 64
    assert str(tmp_path) not in json.dumps(meta["imported_from"])
    # the same name again: refused, nothing overwritten
    code, out, err = cli(capsys, "import", str(photo), "--post-id", "53", "--section-id", "1",
                         "--store", store_url, "--json")
    assert code == 2 and json.loads(out)["error"]["exit_code"] == 2 and "already exists" in err


def test_import_refuses_what_does_not_decode(capsys, local_store_url, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(make_png(64, 64)[:-40] + b"IEND\xaeB`\x82")  # a PNG whose data is cut
    code, _, err = cli(capsys, "import", str(broken), "--post-id", "1", "--section-id", "1",
                       "--store", local_store_url)
    assert code == 2 and "could not be decoded" in err
    code, _, err = cli(capsys, "import", str(tmp_path / "nope.png"), "--post-id", "1", "--section-id", "1",
                       "--store", local_store_url)
    assert code == 2 and "not found" in err
    assert not any(p.is_file() for p in (tmp_path / "static").rglob("*"))


def test_generate_n_3_prints_every_image(capsys, api_env, store_url):
    code, out, _ = cli(capsys, "generate", "--prompt", "x", "--post-id", "53", "--section-id", "1", "--store",
                       store_url, "--filename", "cand", "--n", "3", "--size", "1024x1024", "--json")
    assert code == 0
    answer = json.loads(out)
    assert [item["image_path"].rsplit("/", 1)[-1] for item in answer["images"]] == [
        "cand-1.png", "cand-2.png", "cand-3.png"]
    assert "image_path" not in answer  # K > 1: the list only
    assert [item["metadata"]["variant"] for item in answer["images"]] == [1, 2, 3]


def test_a_partial_answer_exits_0_with_a_warning(capsys, api_env, local_store_url):
    api_env.enqueue(Reply.ok(count=1))
    code, out, err = cli(capsys, "generate", "--prompt", "x", "--post-id", "53", "--section-id", "1", "--store",
                         local_store_url, "--n", "2", "--size", "1024x1024", "--json")
    assert code == 0 and "asked for 2 images, the API returned 1" in err
    assert len(json.loads(out)["images"]) == 1


def test_edit_from_the_store_with_a_mask_and_variants(capsys, api_env, store_url, tmp_path):
    assert cli(capsys, "generate", "--prompt", "a lighthouse", "--post-id", "53", "--section-id", "1",
               "--store", store_url, "--filename", "hero", "--size", "1024x1024")[0] == 0
    mask = tmp_path / "mask.png"
    mask.write_bytes(rgba_mask(1024, 1024))
    code, out, err = cli(capsys, "edit", "53", "1", "hero", "--prompt", "at night", "--mask", str(mask),
                         "--n", "2", "--filename", "night", "--store", store_url, "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert len(answer["images"]) == 2
    meta = answer["images"][0]["metadata"]
    assert meta["operation"] == "edit" and meta["source"]["name"] == "hero" and meta["group_id"]
    assert meta["size"] == "1024x1024"  # from the source, not generate's 1792x1024
    sent = api_env.requests[-1]
    assert sent.path.endswith("/edits") and sent.body["n"] == "2"
    assert [name for name, *_ in sent.files] == ["image[]", "mask"]


@pytest.mark.parametrize("extra, message", [
    (["--mask", "MASK_WRONG_SIZE"], "same dimensions"),
    (["--input-fidelity", "high"], "does not take --input-fidelity"),
    (["--model", "dall-e-3"], "does not take edits"),
    (["--n", "11"], "use 1 to 10"),
    (["--compression", "50"], "--compression needs --format"),
    (["--image", "53/1/missing"], "no image missing"),
])
def test_bad_edits_exit_2_with_one_error_object_and_send_nothing(capsys, api_env, local_store_url, tmp_path,
                                                                  extra, message):
    cli(capsys, "generate", "--prompt", "x", "--post-id", "53", "--section-id", "1", "--store", local_store_url,
        "--filename", "hero", "--size", "1024x1024")
    wrong = tmp_path / "wrong.png"
    wrong.write_bytes(rgba_mask(512, 512))
    extra = [str(wrong) if item == "MASK_WRONG_SIZE" else item for item in extra]
    before = len(api_env.requests)
    code, out, err = cli(capsys, "edit", "53", "1", "hero.png", "--prompt", "x", "--store", local_store_url,
                         "--json", *extra)
    assert code == 2 and message in err
    error = json.loads(out)
    assert error["ok"] is False and error["error"]["exit_code"] == 2 and message in error["error"]["message"]
    assert len(api_env.requests) == before


def test_delete_asks_refuses_without_yes_and_keeps_sources(capsys, api_env, store_url):
    for name in ("hero", "other"):
        cli(capsys, "generate", "--prompt", "x", "--post-id", "53", "--section-id", "1", "--store", store_url,
            "--filename", name, "--size", "1024x1024")
    assert cli(capsys, "edit", "53", "1", "hero", "--prompt", "night", "--filename", "night",
               "--store", store_url)[0] == 0
    store = open_store(store_url)
    code, _, err = cli(capsys, "delete", "53", "1", "other", "--store", store_url)
    assert code == 2 and "without --yes" in err  # stdin is not a terminal under pytest
    code, _, err = cli(capsys, "delete", "53", "1", "hero", "--yes", "--store", store_url)
    assert code == 2 and "source of 53/1/night" in err
    code, out, _ = cli(capsys, "delete", "53", "1", "other.png", "--yes", "--store", store_url, "--json")
    assert code == 0 and json.loads(out)["deleted"] == ["other.png"]
    names = {entry.filename for entry in store.list_images(SECTION)}
    assert names == {"hero", "night"}
    assert "other_metadata.json" not in store.list_raw_names(SECTION)
    code, _, _ = cli(capsys, "delete", "53", "1", "hero", "night", "--yes", "--store", store_url)
    assert code == 0 and store.list_images(SECTION) == []  # deleted together with the one naming it


def test_prune_a_group_to_the_one_kept(capsys, api_env, store_url):
    code, out, _ = cli(capsys, "generate", "--prompt", "x", "--post-id", "53", "--section-id", "1", "--store",
                       store_url, "--filename", "cand", "--n", "3", "--size", "1024x1024", "--json")
    group = json.loads(out)["images"][0]["metadata"]["group_id"]
    code, _, err = cli(capsys, "delete", "53", "1", "--group", group, "--keep", "nope", "--yes", "--store", store_url)
    assert code == 2 and "not in group" in err
    code, out, _ = cli(capsys, "delete", "53", "1", "--group", group, "--keep", "cand-2", "--yes", "--store",
                       store_url, "--json")
    assert code == 0 and json.loads(out) == {"ok": True, "deleted": ["cand-1.png", "cand-3.png"], "kept": "cand-2"}
    assert [entry.filename for entry in open_store(store_url).list_images(SECTION)] == ["cand-2"]


def test_batch_edit_and_variant_entries_rerun_without_a_request(capsys, api_env, store_url, tmp_path):
    cli(capsys, "generate", "--prompt", "x", "--post-id", "53", "--section-id", "1", "--store", store_url,
        "--filename", "hero", "--size", "1024x1024")
    batch = tmp_path / "jobs.jsonl"
    batch.write_text("\n".join(json.dumps(entry) for entry in [
        {"post_id": 53, "section_id": 2, "prompt": "a boat", "n": 2, "size": "1024x1024"},
        {"post_id": 53, "section_id": 2, "prompt": "a boat", "n": 2, "size": "1024x1024", "filename": "boat"},
        {"edit": "53/1/hero", "prompt": "at night", "n": 2},
        {"edit": "53/1/hero", "prompt": "at dawn", "post_id": 53, "section_id": 3, "filename": "dawn"},
    ]) + "\n")
    before = len(api_env.requests)
    code, out, err = cli(capsys, "batch", str(batch), "--store", store_url, "--json")
    assert code == 0, err
    assert len(api_env.requests) == before + 4
    results = [json.loads(line) for line in out.splitlines()]
    assert sorted(len(r["images"]) for r in results) == [1, 2, 2, 2]
    store = open_store(store_url)
    assert len(store.list_images(SectionRef(53, 2))) == 4
    assert {e.filename for e in store.list_images(SectionRef(53, 2))} >= {"boat-1", "boat-2"}
    assert store.read_metadata(SectionRef(53, 3), "dawn")["source"]["name"] == "hero"
    code, out, _ = cli(capsys, "batch", str(batch), "--store", store_url, "--json")
    assert code == 0 and len(api_env.requests) == before + 4  # nothing asked twice
    assert {json.loads(line)["state"] for line in out.splitlines()} == {"skipped"}


def test_batch_edit_entries_are_validated_up_front(capsys, api_env, local_store_url, tmp_path):
    batch = tmp_path / "jobs.jsonl"
    batch.write_text(json.dumps({"post_id": 1, "section_id": 1, "prompt": "x"}) + "\n"
                     + json.dumps({"edit": "53/1/missing", "prompt": "x"}) + "\n"
                     + json.dumps({"post_id": 1, "section_id": 1, "prompt": "x", "mask": "m.png"}) + "\n")
    code, _, err = cli(capsys, "batch", str(batch), "--store", local_store_url)
    assert code == 2 and "line 2: no image missing" in err and "line 3: mask needs edit" in err
    assert api_env.requests == []


def test_the_real_command_edits_with_a_local_reference(api_env, local_store_url, tmp_path):
    ref = tmp_path / "logo.png"
    ref.write_bytes(make_png(64, 64))
    run = [sys.executable, "-m", "blog_images_tui"]
    first = subprocess.run(run + ["import", str(ref), "--post-id", "7", "--section-id", "1",
                                  "--store", local_store_url], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(run + ["edit", "7", "1", "logo", "--prompt", "in blue", "--image", str(ref),
                                   "--store", local_store_url, "--json"], capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 0, second.stderr
    meta = json.loads(second.stdout)["metadata"]
    assert meta["references"][0]["name"] == "logo.png" and meta["source"]["post_id"] == 7
    assert meta["model"] == "gpt-image-2" and meta["output_format"] == "png"


def test_dry_run_sees_a_taken_variant_name_and_counts_every_variant(capsys, api_env, local_store_url, tmp_path):
    cli(capsys, "generate", "--prompt", "x", "--post-id", "53", "--section-id", "1", "--store", local_store_url,
        "--filename", "boat-2", "--size", "1024x1024")
    batch = tmp_path / "jobs.jsonl"
    batch.write_text(json.dumps({"post_id": 53, "section_id": 1, "prompt": "a boat", "n": 2, "filename": "boat",
                                 "size": "1024x1024", "model": "gpt-image-1.5", "quality": "low"}) + "\n"
                     + json.dumps({"post_id": 53, "section_id": 1, "prompt": "a boat", "n": 3,
                                   "size": "1024x1024", "model": "gpt-image-1.5", "quality": "low"}) + "\n")
    before = len(api_env.requests)
    code, out, err = cli(capsys, "batch", str(batch), "--dry-run", "--store", local_store_url, "--json")
    assert code == 2 and "line 1: its filename already exists" in err
    lines = [json.loads(line) for line in out.splitlines()]
    plan = [row for row in lines if "status" in row]
    assert lines[-1]["ok"] is False  # and then the one error object
    assert [row["status"] for row in plan] == ["name taken", "new"]
    # three low-quality 1024x1024 gpt-image-1.5 images at $0.009 each, plus the prompt's few tokens
    assert plan[1]["estimated_cost"]["usd"] == pytest.approx(3 * 0.009, abs=0.001)
    assert len(api_env.requests) == before


def test_the_iterate_example_runs_after_the_batch_example(capsys, api_env, local_store_url, tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    monkeypatch.chdir(tmp_path)  # a project folder with the example config (its templates)
    shutil.copy(examples / "blog-images.toml", tmp_path / "blog-images.toml")
    assert cli(capsys, "batch", str(examples / "batch.jsonl"), "--store", local_store_url)[0] == 0
    code, _, err = cli(capsys, "batch", str(examples / "batch-iterate.jsonl"), "--store", local_store_url)
    assert code == 0, err
    store = open_store(local_store_url)
    names = {entry.filename for entry in store.list_images(SECTION)}
    assert {"hero-options-1", "hero-options-2", "hero-options-3", "hero-night"} <= names
    assert {entry.filename for entry in store.list_images(SectionRef(53, 3))} >= {"hero-wide-1", "hero-wide-2"}
    assert store.read_metadata(SECTION, "hero-night")["source"]["name"] == "hero"
