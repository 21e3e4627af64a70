"""What a new user sees on stdout: a pipe that closes early, `show --json`, a readable `ls` listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import files_under

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "blog_images_tui"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_batch_json_into_a_pipe_closed_early_finishes_without_a_traceback(api_env, local_store_url, tmp_path):
    # `blog-images batch FILE --json | head -1`: the reader leaves after the first line; the batch
    # must go on storing what it was asked (paid-for work) and say nothing about the pipe.
    entries = [{"post_id": 53, "section_id": 1, "prompt": f"a lighthouse, take {i}"} for i in range(3)]
    batch_file = tmp_path / "batch.jsonl"
    batch_file.write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first result is written
    try:
        result = subprocess.run([*CLI, "batch", str(batch_file), "--json", "--store", local_store_url],
                                stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=120)
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "listener failed" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    assert len([name for name in files_under(local_store_url) if name.endswith(".png")]) == 3


def test_show_takes_json_and_answers_an_unknown_image_with_the_error_object(api_env, local_store_url):
    assert run_cli("generate", "--prompt", "a lighthouse", "--post-id", "53", "--section-id", "1",
                   "--filename", "hero", "--store", local_store_url).returncode == 0
    shown = run_cli("show", "53", "1", "hero", "--store", local_store_url, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["prompt"] == "a lighthouse"
    missing = run_cli("show", "53", "1", "nope", "--store", local_store_url, "--json")
    assert missing.returncode == 2
    error = json.loads(missing.stdout)["error"]
    assert set(error) == {"type", "code", "message", "hint", "exit_code"} and error["exit_code"] == 2
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith("error: ")


def test_ls_of_a_section_lines_up_its_columns(api_env, local_store_url):
    for name in ("hero", "a-much-longer-image-name"):
        assert run_cli("generate", "--prompt", "a lighthouse", "--post-id", "53", "--section-id", "1",
                       "--filename", name, "--store", local_store_url).returncode == 0
    lines = run_cli("ls", "53", "1", "--store", local_store_url).stdout.splitlines()
    assert len(lines) == 2
    size_ends = {line.index(" 20") for line in lines}  # where the size column ends and the date begins
    assert len(size_ends) == 1, lines


def test_an_api_option_before_the_command_says_where_it_goes_and_never_echoes_the_key(local_store_url):
    key = "sk-canary-misplaced-0123456789"
    result = run_cli("--api-key", key, "generate", "--prompt", "a lighthouse", "--post-id", "53",
                     "--section-id", "1", "--store", local_store_url, "--json")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--api-key is an option of a command" in result.stderr, result.stderr
    assert "after the command" in json.loads(result.stdout)["error"]["message"]
    assert key not in result.stdout + result.stderr and "canary" not in result.stdout + result.stderr
    assert files_under(local_store_url) == []


def test_a_warning_without_v_is_one_warning_line(api_env, local_store_url, tmp_path):
    # The ledger cannot be written (its folder is a file): the image is stored, and the user reads
    # one `warning: ...` line, not Python's raw last-resort print of the log record.
    not_a_folder = tmp_path / "ledger"
    not_a_folder.write_text("")
    result = subprocess.run([*CLI, "generate", "--prompt", "a lighthouse", "--post-id", "53", "--section-id", "1",
                             "--store", local_store_url], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={**os.environ, "BLOG_IMAGES_LEDGER_DIR": str(not_a_folder)})
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("warning: ") for line in lines), lines
    assert any("job ledger" in line for line in lines) and "Traceback" not in result.stderr


def test_a_bad_value_from_the_config_file_names_the_file(api_env, tmp_path):
    # `quality = "low"` in ./blog-images.toml's [defaults]; the user picks dall-e-3 and never typed "low".
    (tmp_path / "static").mkdir()
    (tmp_path / "blog-images.toml").write_text('[defaults]\nquality = "low"\n')
    result = subprocess.run([*CLI, "generate", "--prompt", "a lighthouse", "--post-id", "53", "--section-id", "1",
                             "--model", "dall-e-3", "--json"], capture_output=True, text=True, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "quality 'low'" in result.stderr
    hint = json.loads(result.stdout)["error"]["hint"]
    assert "quality = 'low'" in hint and str(tmp_path / "blog-images.toml") in hint, hint
    assert api_env.requests == []


def test_a_batch_naming_templates_where_there_are_none_says_where_they_would_be(api_env, tmp_path):
    # examples/batch.jsonl run from a folder without blog-images.toml (the README's templates are beside static/).
    (tmp_path / "static").mkdir()
    result = subprocess.run([*CLI, "batch", str(ROOT / "examples" / "batch.jsonl"), "--dry-run", "--json"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "unknown template 'hero'" in result.stderr
    hint = json.loads(result.stdout)["error"]["hint"]
    assert "no templates found" in hint and str(tmp_path / "blog-images.toml") in hint, hint
    assert api_env.requests == []
