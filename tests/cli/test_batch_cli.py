"""``blog-images batch`` end to end: the real CLI, the real openai SDK, the fake Images API, real stores."""

from __future__ import annotations

import itertools
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from blog_images_tui import layout
from blog_images_tui.cli import main
from blog_images_tui.cli.batch import worst_exit_code
from blog_images_tui.ids import SectionRef
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import Reply
from tests.support import TEST_KEY, default_sigint, files_under, settle

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CLI = [sys.executable, "-m", "blog_images_tui"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder (the current folder) with the example config and a local store."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(EXAMPLES / "blog-images.toml", tmp_path / "blog-images.toml")
    (tmp_path / "static").mkdir()
    return tmp_path


def all_metadata(store_url: str) -> list[dict]:
    store = open_store(store_url)
    found = []
    for post in store.list_posts():
        for section in store.list_sections(post):
            ref = SectionRef(post, section)
            for name in store.list_raw_names(ref):
                if name.endswith(layout.METADATA_SUFFIX):
                    found.append(store.read_metadata(ref, name[: -len(layout.METADATA_SUFFIX)]))
    return found


def batch(*args: str) -> int:
    return main(["batch", *args])


@pytest.mark.parametrize("ext", ["jsonl", "csv", "toml"])
def test_each_format_runs_end_to_end(api_env, project, memory_store_url, capsys, ext):
    code = batch(str(EXAMPLES / f"batch.{ext}"), "--store", memory_store_url)
    out, err = capsys.readouterr()
    count = 4 if ext == "jsonl" else 3
    assert code == 0, err
    assert len(api_env.requests) == count
    metadata = all_metadata(memory_store_url)
    assert len(metadata) == count and all(m["job_id"] and m["cost_usd"] > 0 for m in metadata)
    assert api_env.max_concurrent <= 3  # [defaults] jobs = 3 in the project file
    assert {r.body["quality"] for r in api_env.requests} == {"low", "medium"}  # config default + one entry's own
    assert f"[{count}/{count}] " in err and "stored" in out and "elapsed" in out
    last = [line for line in err.splitlines() if line.startswith(f"[{count}/{count}]")][0]
    assert f"| stored {count} skipped 0 failed 0, elapsed" in last and "ETA -" in last


def test_json_prints_one_result_object_per_job(api_env, project, memory_store_url, capsys):
    assert batch(str(EXAMPLES / "batch.jsonl"), "--store", memory_store_url, "--json") == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["line"] for r in results) == [2, 3, 4, 5]
    assert {r["state"] for r in results} == {"stored"} and {r["exit_code"] for r in results} == {0}
    paths = {m["image_path"] for m in all_metadata(memory_store_url)}
    assert {r["image_path"] for r in results} == paths
    assert all(r["cost_usd"] > 0 and r["estimated_cost_usd"] > 0 for r in results)
    hero = next(r for r in results if r["line"] == 2)
    assert hero["filename"] == "hero" and hero["post_id"] == 53 and hero["section_id"] == 1


def test_a_rerun_skips_stored_images_without_calling_the_api(api_env, project, capsys):
    store = str(project / "static")
    assert batch(str(EXAMPLES / "batch.jsonl"), "--store", store) == 0
    first_files = files_under(store)
    capsys.readouterr()
    assert batch(str(EXAMPLES / "batch.jsonl"), "--store", store, "--json") == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["state"] for r in results} == {"skipped"} and len(results) == 4
    assert len(api_env.requests) == 4
    assert files_under(store) == first_files


@pytest.mark.s3
def test_batch_into_s3_and_rerun(api_env, project, s3_store_url, capsys):
    assert batch(str(EXAMPLES / "batch.toml"), "--store", s3_store_url) == 0
    assert len(all_metadata(s3_store_url)) == 3
    assert batch(str(EXAMPLES / "batch.toml"), "--store", s3_store_url) == 0
    assert len(api_env.requests) == 3


def test_dry_run_sends_and_writes_nothing_and_prints_the_plan(api_env, project, capsys):
    store = str(project / "static")
    code = batch(str(EXAMPLES / "batch.jsonl"), "--store", store, "--dry-run")
    out = capsys.readouterr().out
    assert code == 0
    assert api_env.requests == [] and files_under(store) == []
    assert "4 images: 4 to generate, 0 already stored" in out
    assert "estimated cost: ~$0.092" in out and "nothing was sent" in out
    plan_lines = [line for line in out.splitlines() if line.startswith("  ") and line.strip()[0].isdigit()]
    assert len(plan_lines) == 4 and "hero" in plan_lines[0]


def test_dry_run_after_a_partial_run_shows_what_is_left(api_env, project, capsys):
    store = str(project / "static")
    first = project / "first.jsonl"
    first.write_text((EXAMPLES / "batch.jsonl").read_text().splitlines()[1] + "\n")
    assert batch(str(first), "--store", store) == 0
    capsys.readouterr()
    assert batch(str(EXAMPLES / "batch.jsonl"), "--store", store, "--dry-run", "--json") == 0
    plan = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["line"], p["status"]) for p in plan] == [(2, "already stored"), (3, "new"), (4, "new"), (5, "new")]
    assert plan[1]["estimated_cost"]["basis"] == "estimate" and plan[1]["estimated_cost"]["usd"] > 0
    assert len(api_env.requests) == 1


def test_dry_run_over_budget_is_bad_input(api_env, project, capsys):
    code = batch(str(EXAMPLES / "batch.jsonl"), "--store", str(project / "static"), "--dry-run", "--budget", "0.03")
    out, err = capsys.readouterr()
    assert code == 2
    assert "budget $0.030: does not fit" in out
    assert "line 4: it would go over the budget" in err
    assert api_env.requests == []


def test_budget_refuses_jobs_in_a_real_run_and_finishes_the_rest(api_env, project, memory_store_url, capsys):
    code = batch(str(EXAMPLES / "batch.jsonl"), "--store", memory_store_url, "--budget", "0.04", "--jobs", "1",
                 "--json")
    results = {r["line"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert code == 2
    assert results[4]["state"] == "failed" and results[4]["error"]["type"] == "BudgetRefused"
    assert [results[line]["state"] for line in (2, 3, 5)] == ["stored"] * 3  # cheaper ones still fit
    assert len(api_env.requests) == 3


def write_batch(path: Path, count: int, **extra) -> Path:
    lines = [json.dumps({"post_id": 9, "section_id": 1, "prompt": f"image {i}", "size": "1024x1024", **extra})
             for i in range(count)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_exit_code_is_the_worst_failure_after_finishing_the_rest(api_env, project, memory_store_url, capsys):
    # In order, one at a time: ok, temporary failure (5), content policy (4), ok.
    api_env.enqueue(Reply.ok(), Reply.server_error(), Reply.error(400, code="content_policy_violation"), Reply.ok())
    file = write_batch(project / "b.jsonl", 4)
    code = batch(str(file), "--store", memory_store_url, "--jobs", "1", "--max-retries", "0", "--json")
    out, err = capsys.readouterr()
    results = {r["line"]: r for r in map(json.loads, out.splitlines())}
    assert code == 4  # 4 is worse than 5: a prompt must be edited; a re-run fixes a 5
    assert [results[n]["exit_code"] for n in (1, 2, 3, 4)] == [0, 5, 4, 0]
    assert len(all_metadata(memory_store_url)) == 2
    assert "exit 4: the prompt was rejected by the content policy" in err
    assert "exit code 4: the API rejected some prompts, edit those entries" in err  # the summary (stderr with --json)


@pytest.mark.parametrize("codes, worst", [([0, 0], 0), ([5, 4, 2], 4), ([2, 5], 5), ([3, 7, 6], 7), ([4, 1], 1),
                                          ([6, 3], 6), ([3, 1], 3), ([2], 2)])
def test_worst_exit_code_order(codes, worst):
    assert worst_exit_code(codes) == worst


def test_a_bad_key_stops_early_and_never_shows(api_env, project, memory_store_url, monkeypatch, capsys):
    wrong = "sk-wrong-SECRET-0123456789abcdef"
    monkeypatch.setenv("OPENAI_AUTH_TOKEN", wrong)
    file = write_batch(project / "b.jsonl", 6)
    code = batch(str(file), "--store", memory_store_url, "--jobs", "1", "--json")
    out, err = capsys.readouterr()
    assert code == 3
    assert len(api_env.requests) == 1  # not six refused requests
    assert wrong not in out + err and "incorrect api key" in (out + err).lower()
    assert all_metadata(memory_store_url) == []


def test_no_key_is_exit_3_and_sends_nothing(fake_api, project, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_api.base_url)
    code = batch(str(EXAMPLES / "batch.jsonl"), "--store", str(project / "static"))
    assert code == 3 and "API key required" in capsys.readouterr().err
    assert fake_api.requests == [] and files_under(project / "static") == []


@pytest.mark.parametrize("name, text, line", [
    ("b.jsonl", '{"post_id": 1, "section_id": 1, "prompt": "ok"}\n{"post_id": 1, "section_id": 1, "size": "x"}\n', 2),
    ("b.csv", "post_id,section_id,prompt\n1,1,ok\n1,2,ok\n1,,no section\n", 4),
    ("b.toml", '[[image]]\npost_id = 1\nsection_id = 1\nprompt = "ok"\n\n[[image]]\npost_id = 1\nsection_id = 2\n'
               'prompt = "ok"\nquality = "ultra"\n', 6),
])
def test_a_bad_line_is_exit_2_with_its_number_and_nothing_happens(api_env, project, capsys, name, text, line):
    file = project / name
    file.write_text(text)
    store = project / "static"
    code = batch(str(file), "--store", str(store))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"error: {file}, line {line}: ")
    assert api_env.requests == [] and files_under(store) == []


def test_every_bad_line_is_listed(api_env, project, capsys):
    file = project / "b.jsonl"
    file.write_text('{"post_id": 0, "section_id": 1, "prompt": "a"}\n{"post_id": 1, "section_id": 1, "prompt": "b"}\n'
                    '{"post_id": 1, "section_id": 1}\n')
    assert batch(str(file), "--store", str(project / "static")) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"error: {file}, line 1: invalid post id")
    assert err[1].startswith(f"error: {file}, line 3: missing prompt") and "2 problems, nothing was sent" in err[1]
    assert api_env.requests == []


def test_batch_from_standard_input(api_env, project, memory_store_url):
    file = write_batch(project / "b.jsonl", 2)
    result = subprocess.run([*CLI, "batch", "-", "--store", str(project / "static"), "--json"],
                            input=file.read_text(), capture_output=True, text=True, cwd=project, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["state"] for line in result.stdout.splitlines()] == ["stored", "stored"]


def test_rpm_from_the_command_line_spaces_requests(api_env, project, memory_store_url, capsys):
    file = write_batch(project / "b.jsonl", 3)
    assert batch(str(file), "--store", memory_store_url, "--jobs", "3", "--rpm", "300") == 0  # one per 0.2 s
    starts = sorted(r.received_at for r in api_env.requests)
    assert all(b - a >= 0.2 - 0.05 for a, b in itertools.pairwise(starts)), starts
    assert "at most 300/min" in capsys.readouterr().err


def test_bad_options_are_exit_2(project, capsys):
    for args in (["--jobs", "0"], ["--rpm", "0"], ["--budget", "-1"]):
        assert batch(str(EXAMPLES / "batch.jsonl"), *args) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


# -- Ctrl-C and the terminal: real subprocesses ------------------------------------------------------

def test_ctrl_c_stops_cleanly_and_a_rerun_finishes_only_what_is_missing(api_env, project):
    api_env.set_latency(0.6)
    file = write_batch(project / "b.jsonl", 8)
    store = project / "static"
    proc = subprocess.Popen([*CLI, "batch", str(file), "--store", str(store), "--jobs", "2"], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        assert api_env.wait_for_requests(4, timeout=30)  # two stored, two in flight
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in out and "run the same command again" in out
    assert "Traceback" not in err
    files = files_under(store)
    assert not [f for f in files if ".blog-images-tmp-" in f]  # no partial file anywhere
    images = {f.rsplit(".", 1)[0] for f in files if f.endswith(".png")}
    metas = {f[: -len(layout.METADATA_SUFFIX)] for f in files if f.endswith(layout.METADATA_SUFFIX)}
    assert images == metas and 1 <= len(metas) < 8
    stored_first = len(metas)
    sent_first = settle(api_env)

    api_env.set_latency(0)
    rerun = subprocess.run([*CLI, "batch", str(file), "--store", str(store), "--jobs", "2"], cwd=project,
                           capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert len(api_env.requests) - sent_first == 8 - stored_first
    ids = [m["job_id"] for m in all_metadata(str(store))]
    assert len(ids) == len(set(ids)) == 8  # nothing twice, nothing lost


def read_pty(fd: int, proc: subprocess.Popen, timeout: float = 60) -> bytes:
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            break
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def test_progress_bar_on_a_terminal_and_summary_on_stdout(api_env, project):
    api_env.set_latency(0.2)
    file = write_batch(project / "b.jsonl", 3)
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="160")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([*CLI, "batch", str(file), "--store", str(project / "static")], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    try:
        screen = read_pty(master, proc).decode("utf-8", "replace")
        out = proc.stdout.read().decode()
        proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "3/3" in screen and "ETA" in screen and "elapsed" in screen and "stored 3" in screen
    assert "[1/3]" not in screen  # not the plain lines
    assert "stored" in out and "elapsed" in out and "\x1b[" not in out  # the summary stays plain on a pipe


def test_the_key_never_appears_with_verbose_logging(api_env, project, memory_store_url, capsys):
    api_env.enqueue(Reply.rate_limited(0.1))
    file = write_batch(project / "b.jsonl", 2)
    assert batch(str(file), "--store", memory_store_url, "-vv", "--json") == 0
    out, err = capsys.readouterr()
    assert TEST_KEY not in out + err


def test_force_generates_stored_images_again(api_env, project, memory_store_url, capsys):
    file = write_batch(project / "b.jsonl", 2)
    assert batch(str(file), "--store", memory_store_url) == 0
    assert batch(str(file), "--store", memory_store_url, "--force") == 0
    assert len(api_env.requests) == 4 and len(all_metadata(memory_store_url)) == 4


def test_a_filename_taken_by_another_image_is_caught_by_the_dry_run(api_env, project, capsys):
    store = str(project / "static")
    taken = project / "taken.jsonl"
    taken.write_text('{"post_id": 53, "section_id": 1, "prompt": "something else", "filename": "hero"}\n')
    assert batch(str(taken), "--store", store) == 0
    capsys.readouterr()

    assert batch(str(EXAMPLES / "batch.jsonl"), "--store", store, "--dry-run") == 2
    out, err = capsys.readouterr()
    assert "name taken" in out and "line 2: its filename already exists in the store" in err
    assert len(api_env.requests) == 1

    # The real run refuses that one (nothing overwritten) and does the rest.
    assert batch(str(EXAMPLES / "batch.jsonl"), "--store", store, "--json") == 2
    results = {r["line"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert results[2]["exit_code"] == 2 and "already exists" in results[2]["error"]["message"]
    assert [results[n]["state"] for n in (3, 4, 5)] == ["stored"] * 3
    hero = open_store(store).read_metadata(SectionRef(53, 1), "hero")
    assert hero["prompt"] == "something else"
