"""The `blog-images` command as a user runs it: real subprocesses, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from blog_images_tui.testing.fake_images_api import Reply
from tests.support import TEST_KEY, files_under
from tests.support.faults import FAULT_ENV

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blog_images_tui", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd or ROOT, timeout=120)


def gen(store: str, *extra: str, post="53", section="1", prompt="a lighthouse") -> list[str]:
    return ["generate", "--prompt", prompt, "--post-id", post, "--section-id", section, "--store", store, *extra]


def test_generate_stores_image_and_metadata_with_original_fields(api_env, local_store_url):
    result = run_cli(*gen(local_store_url, "--filename", "hero"))
    assert result.returncode == 0, result.stderr
    image = Path(local_store_url, "content/posts/53/sections/1/raw/hero.png")
    assert f"image:    {image}" in result.stdout
    metadata = json.loads(image.with_name("hero_metadata.json").read_text())
    assert metadata["post_id"] == 53 and metadata["section_id"] == 1  # JSON numbers, as in the original
    assert metadata["prompt"] == "a lighthouse"
    assert metadata["image_path"] == str(image)
    assert metadata["model"] == "gpt-image-2" and metadata["size"] == "1792x1024"
    assert metadata["generated_at"].startswith("20")
    assert metadata["sha256"] and metadata["bytes"] == image.stat().st_size
    assert (metadata["width"], metadata["height"]) == (1792, 1024)
    assert TEST_KEY not in json.dumps(metadata)


def test_default_filename_is_a_timestamp_and_two_runs_do_not_collide(api_env, local_store_url):
    for _ in range(2):
        assert run_cli(*gen(local_store_url)).returncode == 0
    names = files_under(local_store_url)
    assert len(names) == 4
    assert all(Path(n).name.startswith("20") for n in names)


def test_json_output_is_one_object(api_env, memory_store_url, local_store_url):
    result = run_cli(*gen(local_store_url, "--json"))
    answer = json.loads(result.stdout)
    assert answer["ok"] is True and answer["metadata"]["post_id"] == 53
    assert Path(answer["image_path"]).is_file()


def test_existing_filename_is_refused_before_any_request(api_env, local_store_url):
    assert run_cli(*gen(local_store_url, "--filename", "hero")).returncode == 0
    before = Path(local_store_url, "content/posts/53/sections/1/raw/hero.png").read_bytes()
    result = run_cli(*gen(local_store_url, "--filename", "hero"))
    assert result.returncode == 2 and "already exists" in result.stderr
    assert len(api_env.requests) == 1
    assert Path(local_store_url, "content/posts/53/sections/1/raw/hero.png").read_bytes() == before


@pytest.mark.parametrize("args, words", [
    (["--post-id", "../etc"], "invalid post id"),
    (["--section-id", "a/b"], "invalid section id"),
    (["--filename", "x.png"], "invalid filename"),
    (["--size", "1000x1000"], "multiples of 16"),
    (["--prompt", ""], "prompt is empty"),
    (["--style", "vivid"], "style"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(api_env, local_store_url, args, words):
    base = {"--prompt": "p", "--post-id": "53", "--section-id": "1"}
    flat = dict(zip(args[::2], args[1::2], strict=True))
    argv = ["generate", "--store", local_store_url]
    for key, value in {**base, **flat}.items():
        argv += [key, value]
    argv += [a for a in args if a not in flat and a not in flat.values()]
    result = run_cli(*argv)
    assert result.returncode == 2
    assert words in result.stderr and result.stderr.count("\n") == 1
    assert api_env.requests == [] and files_under(local_store_url) == []


def test_usage_errors_exit_2(local_store_url):
    result = run_cli("generate", "--post-id", "1")
    assert result.returncode == 2 and result.stderr.startswith("error: ")


def test_missing_key_exits_3_before_any_request(fake_api, local_store_url):
    result = run_cli(*gen(local_store_url), env={"OPENAI_BASE_URL": fake_api.base_url})
    assert result.returncode == 3 and "OPENAI_AUTH_TOKEN" in result.stderr
    assert fake_api.requests == [] and files_under(local_store_url) == []


def test_invalid_key_exits_3_and_is_never_echoed(fake_api, local_store_url):
    bad = "sk-not-the-right-one-424242"
    result = run_cli(*gen(local_store_url), "-vv", env={"OPENAI_AUTH_TOKEN": bad, "OPENAI_BASE_URL": fake_api.base_url})
    assert result.returncode == 3
    assert bad not in result.stdout + result.stderr


def test_api_key_flag_warns_and_never_prints_the_key(fake_api, local_store_url):
    result = run_cli(*gen(local_store_url, "--api-key", TEST_KEY, "-v"), env={"OPENAI_BASE_URL": fake_api.base_url})
    assert result.returncode == 0
    assert "visible to other users" in result.stderr
    assert TEST_KEY not in result.stdout + result.stderr


def test_content_policy_exits_4(api_env, local_store_url):
    api_env.enqueue(Reply.error(400, code="moderation_blocked", message="Rejected by the safety system."))
    result = run_cli(*gen(local_store_url))
    assert result.returncode == 4 and "content policy" in result.stderr
    assert files_under(local_store_url) == []


def test_server_errors_exit_5_after_bounded_retries(api_env, local_store_url):
    api_env.enqueue(*[Reply.server_error() for _ in range(3)])
    result = run_cli(*gen(local_store_url, "--max-retries", "2"))
    assert result.returncode == 5 and len(api_env.requests) == 3
    assert files_under(local_store_url) == []


def test_unusable_store_exits_6_before_paying(api_env, tmp_path):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    result = run_cli(*gen(str(blocker / "static")))
    assert result.returncode == 6 and api_env.requests == []


def test_a_raw_folder_that_is_a_file_is_refused_before_paying(api_env, local_store_url):
    # A file sits where `raw` should be: no image could be stored, so none is paid for.
    raw_parent = Path(local_store_url, "content/posts/53/sections/1")
    raw_parent.mkdir(parents=True)
    (raw_parent / "raw").write_text("not a folder")
    result = run_cli(*gen(local_store_url, "--filename", "hero", "--json"))
    assert result.returncode == 6, result.stderr
    assert json.loads(result.stdout)["error"]["exit_code"] == 6
    assert "is a file, not a folder" in result.stderr
    assert api_env.requests == []
    assert (raw_parent / "raw").read_text() == "not a folder"


def test_store_failure_after_generation_keeps_image_and_recover_finishes(cli, api_env, faulty_backend,
                                                                         local_store_url):
    # The store refuses the image after it was paid for (no file can be created in the section).
    url = faulty_backend + local_store_url
    run = cli.run(*gen(url, "--filename", "hero", "--json"), env={FAULT_ENV: "image:eacces-open"})
    assert run.code == 7, run
    answer = json.loads(run.stdout)
    kept = Path(answer["error"]["recovery_path"])
    kept_bytes = (kept / "hero.png").read_bytes()
    assert (kept / "hero_metadata.json").is_file()
    assert "blog-images recover" in run.stderr
    listed = cli.run("recover", "--list")
    assert str(kept) in listed.stdout
    # The store works again; the user finishes the upload without paying twice.
    finished = cli.run("recover")
    assert finished.code == 0, finished
    stored = Path(local_store_url, "content/posts/53/sections/1/raw/hero.png")
    assert stored.read_bytes() == kept_bytes
    assert not kept.exists()
    assert json.loads(stored.with_name("hero_metadata.json").read_text())["image_path"] == str(stored)
    assert len(api_env.requests) == 1


def test_ls_and_show_browse_the_store(api_env, local_store_url):
    run_cli(*gen(local_store_url, "--filename", "hero"))
    run_cli(*gen(local_store_url, "--filename", "other", post="intro", section="2"))
    assert run_cli("ls", "--store", local_store_url).stdout.split() == ["53", "intro"]
    assert run_cli("ls", "53", "--store", local_store_url).stdout.split() == ["1"]
    listing = json.loads(run_cli("ls", "53", "1", "--store", local_store_url, "--json").stdout)
    assert [i["name"] for i in listing["images"]] == ["hero.png"] and listing["images"][0]["has_metadata"]
    shown = json.loads(run_cli("show", "53", "1", "hero.png", "--store", local_store_url).stdout)
    assert shown["prompt"] == "a lighthouse"
    assert run_cli("show", "53", "1", "../x", "--store", local_store_url).returncode == 2


@pytest.mark.s3
def test_generate_into_s3_through_moto(api_env, s3_store_url, moto_s3):
    result = run_cli(*gen(s3_store_url, "--filename", "hero", "--json"))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["image_path"] == f"{s3_store_url}/content/posts/53/sections/1/raw/hero.png"
    assert answer["metadata"]["image_path"] == answer["image_path"]
    assert run_cli("ls", "53", "1", "--store", s3_store_url).stdout.startswith("hero.png")


@pytest.mark.s3
def test_missing_bucket_exits_6_before_any_request(api_env, moto_s3):
    result = run_cli(*gen("s3://bucket-that-is-not-there/x"), env={"AWS_ENDPOINT_URL_S3": moto_s3.endpoint_url})
    assert result.returncode == 6 and api_env.requests == []


def test_models_and_help_and_version():
    assert run_cli("models").stdout.splitlines()[1].split()[:2] == ["gpt-image-2", "default"]
    assert json.loads(run_cli("models", "--json").stdout)["models"][0]["model"] == "gpt-image-2"
    help_text = run_cli("--help").stdout
    assert "generate" in help_text and "Exit codes" in help_text
    assert run_cli("--version").stdout.startswith("blog-images ")


def test_log_file_is_written_and_redacted(api_env, local_store_url, tmp_path):
    log_file = tmp_path / "debug.log"
    result = run_cli(*gen(local_store_url, "--log-file", str(log_file), "-vv"))
    assert result.returncode == 0
    text = log_file.read_text()
    assert "generating: model=gpt-image-2" in text and TEST_KEY not in text
    assert TEST_KEY not in result.stderr


@pytest.mark.parametrize("script", ["generate_from_python.py", "generate_via_subprocess.py"])
def test_examples_run(api_env, local_store_url, script):
    env = {"BLOG_IMAGES_STORE": local_store_url, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script), "53", "1", "A lighthouse"],
                            capture_output=True, text=True, env={**os.environ, **env}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "stored " in result.stdout
    assert len(files_under(local_store_url)) == 2


def test_generate_takes_defaults_from_the_project_config_and_flags_win(api_env, tmp_path):
    store = tmp_path / "static"
    store.mkdir()
    # The project file sits beside a local store's folder (not published with it).
    (tmp_path / "blog-images.toml").write_text('[defaults]\nquality = "low"\nformat = "webp"\nsize = "1024x1024"\n')
    result = run_cli(*gen(str(store), "--json"), cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    meta = json.loads(result.stdout)["metadata"]
    assert (meta["quality"], meta["output_format"], meta["size"]) == ("low", "webp", "1024x1024")
    flagged = json.loads(run_cli(*gen(str(store), "--json", "--format", "png"), cwd=str(tmp_path)).stdout)
    assert flagged["metadata"]["output_format"] == "png" and flagged["metadata"]["quality"] == "low"
