"""`blog-images publish` and `blog-images alt` as a user runs them: real subprocesses, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from blog_images_tui.storage import open_store
from tests.support import files_under
from tests.support.publish import make_image, parse_html, stored

ROOT = Path(__file__).resolve().parents[2]
WEB = Path("content/posts/53/sections/1/web")


def run_cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blog_images_tui", *args], capture_output=True, text=True,
                          env=dict(os.environ), cwd=cwd or ROOT, timeout=300)


@pytest.fixture
def local_store(local_store_url):
    store = open_store(local_store_url)
    stored(store)
    return local_store_url


def test_publish_one_image_then_again_says_unchanged(local_store):
    first = run_cli("publish", "53", "1", "hero", "--widths", "64,128", "--store", local_store)
    assert first.returncode == 0, first.stderr
    assert "4 files (4 new, 0 already there), manifest written" in first.stdout
    web = sorted(p.name for p in Path(local_store, WEB).iterdir())
    assert "hero_web.json" in web and len(web) == 5
    again = run_cli("publish", "53", "1", "hero.png", "--widths", "64,128", "--store", local_store)
    assert again.returncode == 0, again.stderr
    assert "unchanged (4 files already published with these settings)" in again.stdout
    assert sorted(p.name for p in Path(local_store, WEB).iterdir()) == web


def test_publish_json_prints_the_manifest_with_the_images(local_store):
    result = run_cli("publish", "53", "1", "hero", "--widths", "64", "--formats", "webp,jpeg", "--quality",
                     "jpeg=70", "--json", "--store", local_store)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["ok"] is True and body["changed"] is True
    assert body["manifest_path"] == str(Path(local_store, WEB, "hero_web.json"))
    assert sorted(body["images"]) == sorted(e["path"] for e in body["derivatives"])
    assert [e["format"] for e in body["derivatives"]] == ["webp", "jpeg"]
    assert body["settings"]["quality"] == {"jpeg": 70}
    assert json.loads(Path(body["manifest_path"]).read_text())["html"] == body["html"]


@pytest.mark.parametrize("kind", ["html", "markdown"])
def test_print_writes_just_the_snippet(local_store, kind):
    result = run_cli("publish", "53", "1", "hero", "--widths", "64", "--print", kind, "--store", local_store)
    assert result.returncode == 0, result.stderr
    manifest = json.loads(Path(local_store, WEB, "hero_web.json").read_text())
    assert result.stdout == manifest[kind] + "\n"
    if kind == "html":
        assert [tag for tag, _ in parse_html(result.stdout)] == ["picture", "source", "img"]


def test_a_whole_post_publishes_every_section(local_store_url):
    store = open_store(local_store_url)
    stored(store, "one")
    from blog_images_tui.ids import SectionRef

    other = SectionRef(53, 2)
    store.save(other, "two", "png", make_image(), {"post_id": 53, "section_id": 2, "prompt": "a cat",
                                                   "output_format": "png"})
    result = run_cli("publish", "53", "--widths", "64", "--formats", "webp", "--json", "--store", local_store_url)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((line["section_id"], line["name"]) for line in lines) == [(1, "one"), (2, "two")]
    assert Path(local_store_url, "content/posts/53/sections/2/web/two_web.json").is_file()


def test_publish_defaults_come_from_the_config_file_and_flags_win(local_store, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "blog-images.toml").write_text('[publish]\nwidths = [48]\nformats = ["webp"]\n'
                                              'quality = { webp = 50 }\n')
    result = run_cli("publish", "53", "1", "hero", "--json", "--store", local_store, cwd=str(project))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert [(e["format"], e["width"]) for e in body["derivatives"]] == [("webp", 48)]
    assert body["settings"]["quality"] == {"webp": 50}
    flagged = run_cli("publish", "53", "1", "hero", "--widths", "64", "--json", "--store", local_store,
                      cwd=str(project))
    assert [(e["format"], e["width"]) for e in json.loads(flagged.stdout)["derivatives"]] == [("webp", 64)]
    (project / "blog-images.toml").write_text('[publish]\nwidths = "wide"\n')
    bad = run_cli("publish", "53", "1", "hero", "--store", local_store, cwd=str(project))
    assert bad.returncode == 2 and "blog-images.toml" in bad.stderr and "[publish]" in bad.stderr


@pytest.mark.parametrize("args, message", [
    (["--widths", "abc"], "invalid --widths"),
    (["--widths", "0"], "invalid width 0"),
    (["--formats", "gif"], "unknown format 'gif'"),
    (["--quality", "png=3"], "png takes no quality"),
    (["--quality", "avif=500"], "invalid quality 500"),
    (["--sizes", "a\tb"], "invalid --sizes"),
    (["--alt", "bad\x07bell"], "control characters"),
])
def test_bad_publish_input_exits_2_and_writes_nothing(local_store, args, message):
    before = files_under(local_store)
    result = run_cli("publish", "53", "1", "hero", *args, "--store", local_store)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert files_under(local_store) == before


def test_publishing_what_is_not_there_exits_2(local_store):
    assert run_cli("publish", "53", "1", "ghost", "--store", local_store).returncode == 2
    assert run_cli("publish", "99", "--store", local_store).returncode == 2
    assert run_cli("publish", "53", "--alt", "x", "--store", local_store).returncode == 2
    assert run_cli("publish", "../53", "--store", local_store).returncode == 2


def test_alt_shows_the_derived_text_then_sets_it(local_store):
    shown = run_cli("alt", "53", "1", "hero", "--json", "--store", local_store)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["alt_source"] == "prompt"
    run_cli("publish", "53", "1", "hero", "--widths", "64", "--store", local_store)
    result = run_cli("alt", "53", "1", "hero", 'A "red" circle & a blue box', "--json", "--store", local_store)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["metadata_changed"] and body["manifest_changed"] and body["previous"] is None
    html = run_cli("publish", "53", "1", "hero", "--widths", "64", "--print", "html", "--store", local_store).stdout
    img = [attrs for tag, attrs in parse_html(html) if tag == "img"][0]
    assert img["alt"] == 'A "red" circle & a blue box'
    assert run_cli("alt", "53", "1", "ghost", "x", "--store", local_store).returncode == 2


def test_a_publish_killed_midway_leaves_no_partial_file_and_a_rerun_completes_it(local_store_url):
    """SIGKILL once the first derivative is in web/: every file there is whole, and the re-run finishes."""
    store = open_store(local_store_url)
    stored(store, data=make_image(1600, 900))
    args = ["publish", "53", "1", "hero", "--widths", "400,800,1200,1600", "--formats", "avif,webp", "--workers",
            "1", "--json", "--store", local_store_url]
    process = subprocess.Popen([sys.executable, "-m", "blog_images_tui", *args], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    web = Path(local_store_url, WEB)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if web.is_dir() and any(p.suffix in (".avif", ".webp") for p in web.iterdir()):
            break
        time.sleep(0.01)
    assert process.poll() is None, "the publish finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    left = sorted(p.name for p in web.iterdir())
    finals = [name for name in left if not name.startswith(".")]
    # Killed after the first derivative landed and before the manifest: how many of the 8 landed in
    # between depends on the machine's speed (the files are written as their encodes finish).
    assert "hero_web.json" not in finals and 0 < len(finals) <= 8
    for name in finals:  # whole files only under final names
        image = Image.open(web / name)
        image.load()
        assert image.width == int(name.split("-")[1].rstrip("w"))
    doctor = run_cli("doctor", "--json", "--store", local_store_url)
    assert "web derivatives without a manifest" in doctor.stdout
    rerun = run_cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    body = json.loads(rerun.stdout)
    assert len(body["derivatives"]) == 8 and len(body["created"]) == 8 - len(finals)
    assert all(Path(path).is_file() for path in body["images"])
    # what the kill may leave is a hidden temp file of the write it cut, which doctor --fix removes
    after = run_cli("doctor", "--json", "--store", local_store_url)
    assert {f["problem"] for f in json.loads(after.stdout)["findings"]} <= {"leftover temp file"}, after.stdout
    assert run_cli("doctor", "--fix", "--min-temp-age", "0", "--store", local_store_url).returncode == 0


def test_doctor_fix_removes_a_whole_derivative_temp_file_but_keeps_a_whole_raw_one(local_store_url):
    """A kill between a write's fsync and its link can leave a complete image in a temp file. In raw/ it
    may be the only copy of a paid-for image: kept. In web/ it is a derivative publish makes again: removed."""
    store = open_store(local_store_url)
    stored(store)
    picture = make_image(64, 36, fmt="WEBP")
    web_temp = Path(local_store_url, WEB, ".blog-images-tmp-hero-64w-0123456789.webp.abc123")
    raw_temp = Path(local_store_url, "content/posts/53/sections/1/raw/.blog-images-tmp-other.png.def456")
    web_temp.parent.mkdir(parents=True)
    web_temp.write_bytes(picture)
    raw_temp.write_bytes(make_image(64, 36))
    fixed = run_cli("doctor", "--fix", "--min-temp-age", "0", "--json", "--store", local_store_url)
    assert fixed.returncode == 7, fixed.stdout  # the raw one is still reported
    assert not web_temp.exists() and raw_temp.exists()
    notes = {f["path"].rsplit("/", 1)[-1]: f["note"] for f in json.loads(fixed.stdout)["findings"]}
    assert notes[web_temp.name] == "removed" and "kept" in notes[raw_temp.name]


def test_batch_publish_publishes_each_stored_image_and_a_rerun_changes_nothing(api_env, local_store_url, tmp_path):
    batch = tmp_path / "batch.jsonl"
    batch.write_text('{"post_id": 53, "section_id": 1, "prompt": "a lighthouse", "filename": "one", '
                     '"size": "1024x1024"}\n'
                     '{"post_id": 53, "section_id": 2, "prompt": "a fox", "filename": "two", "size": "1024x1024"}\n')
    args = ["batch", str(batch), "--publish", "--widths", "64,128", "--formats", "webp", "--publish-quality",
            "webp=60", "--json", "--store", local_store_url]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    published = sorted((line["section_id"], line["filename"], len(line["created"]))
                       for line in lines if line.get("published"))
    assert published == [(1, "one", 2), (2, "two", 2)]
    for section, name in ((1, "one"), (2, "two")):
        manifest = json.loads(Path(local_store_url, f"content/posts/53/sections/{section}/web/{name}_web.json")
                              .read_text())
        assert [e["width"] for e in manifest["derivatives"]] == [64, 128]
        assert manifest["settings"]["quality"] == {"webp": 60}
    requests = len(api_env.requests)
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert len(api_env.requests) == requests  # stored jobs are skipped: no new request
    relines = [json.loads(line) for line in again.stdout.splitlines() if '"published"' in line]
    assert len(relines) == 2 and not any(line["changed"] for line in relines)


def test_batch_publish_publishes_every_variant_of_an_entry_with_n(api_env, local_store_url, tmp_path):
    batch = tmp_path / "batch.jsonl"
    batch.write_text('{"post_id": 53, "section_id": 1, "prompt": "a lighthouse", "filename": "trio", "n": 3, '
                     '"size": "1024x1024"}\n')
    result = run_cli("batch", str(batch), "--publish", "--widths", "64", "--formats", "webp", "--json",
                     "--store", local_store_url)
    assert result.returncode == 0, result.stderr
    published = sorted(json.loads(line)["filename"] for line in result.stdout.splitlines() if '"published"' in line)
    assert published == ["trio-1", "trio-2", "trio-3"]
    web = Path(local_store_url, "content/posts/53/sections/1/web")
    assert sorted(p.name for p in web.glob("*_web.json")) == ["trio-1_web.json", "trio-2_web.json", "trio-3_web.json"]
    assert len(api_env.requests) == 1  # one request for the three


def test_batch_publish_with_a_bad_publish_flag_sends_nothing(api_env, local_store_url, tmp_path):
    batch = tmp_path / "batch.jsonl"
    batch.write_text('{"post_id": 53, "section_id": 1, "prompt": "a lighthouse"}\n')
    result = run_cli("batch", str(batch), "--publish", "--formats", "gif", "--store", local_store_url)
    assert result.returncode == 2 and "unknown format 'gif'" in result.stderr
    assert api_env.requests == []
