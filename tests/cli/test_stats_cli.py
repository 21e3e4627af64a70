"""``blog-images stats`` as a real subprocess, over ledgers written by real ``batch`` runs.

The fake Images API serves the faults; Ctrl-C is a real SIGINT. Every run goes
through the fault suite's harness, which fails a test if the key appears in
any output or any file under the test's folder (the ledger lives there:
``XDG_STATE_HOME`` is per test).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from blog_images_tui import ledger
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import Reply
from tests.support import settle
from tests.support.faults import Cli

pytestmark = pytest.mark.usefixtures("api_env")

FIELDS = {"jobs", "stored", "skipped", "failed", "cancelled", "kept", "success_rate", "cost_usd",
          "cost_estimated_usd", "duration_s", "groups"}


def write_batch(path: Path, count: int, *, posts: int = 2) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for index in range(count):
            out.write(json.dumps({"post_id": 1 + index % posts, "section_id": 1,
                                  "prompt": f"image number {index}: a lighthouse", "size": "64x64"}) + "\n")
    return path


def store_metadata(root: str) -> list[dict]:
    return [json.loads(path.read_text()) for path in Path(root).glob("content/posts/*/sections/*/raw/*_metadata.json")]


def ledger_lines(store_url: str) -> list[dict]:
    return [json.loads(line) for path in ledger.ledger_files(ledger.store_id(open_store(store_url)))
            for line in path.read_text(encoding="utf-8").splitlines()]


def stats_json(cli: Cli, *args: str) -> dict:
    run = cli.run("stats", *args, "--json")
    assert run.code == 0, run
    data = json.loads(run.stdout)
    assert set(data) == FIELDS
    assert all(set(group) == FIELDS - {"groups"} | {"key"} for group in data["groups"])
    return data


def test_stats_of_a_faulty_batch_match_what_the_fake_served(cli: Cli, fake_api, local_store_url, tmp_path):
    batch = write_batch(tmp_path / "batch.jsonl", 6)
    fake_api.enqueue(Reply.ok(), Reply.error(400, code="moderation_blocked", message="rejected by the fake"),
                     Reply.rate_limited(300), Reply.ok(), Reply.server_error(503), Reply.ok())
    run = cli.run("batch", str(batch), "--store", local_store_url, "--jobs", "1", "--max-retries", "0", "--json")
    assert run.code == 4, run  # 4 beats 5 in the batch's severity order
    assert settle(fake_api) == 6
    metadata = store_metadata(local_store_url)
    assert len(metadata) == 3

    data = stats_json(cli, "--store", local_store_url)
    assert (data["jobs"], data["stored"], data["failed"], data["skipped"], data["cancelled"], data["kept"]) == (
        6, 3, 3, 0, 0, 0)
    assert data["stored"] + data["failed"] == len(fake_api.requests)
    assert data["success_rate"] == 0.5
    assert data["cost_usd"] == pytest.approx(sum(m["cost_usd"] for m in metadata), abs=1e-5)
    assert data["cost_estimated_usd"] == 0
    durations = sorted(line["duration_s"] for line in ledger_lines(local_store_url) if line["outcome"] == "stored")
    assert data["duration_s"] == {"median": durations[1], "p95": durations[2]}
    assert sorted(line["error"]["exit_code"] for line in ledger_lines(local_store_url)
                  if line["outcome"] == "failed") == [4, 5, 5]

    by_post = stats_json(cli, "--store", local_store_url, "--by", "post")
    # Entries alternate posts 1 and 2: post 1 got ok, 429, 503; post 2 got 400, ok, ok.
    assert [(g["key"], g["jobs"], g["stored"]) for g in by_post["groups"]] == [(1, 3, 1), (2, 3, 2)]
    assert stats_json(cli, "2", "--store", local_store_url)["jobs"] == 3
    assert stats_json(cli, "1", "1", "--store", local_store_url)["stored"] == 1
    assert stats_json(cli, "--store", local_store_url, "--since", "2999-01-01")["jobs"] == 0

    table = cli.run("stats", "--store", local_store_url, "--by", "outcome")
    assert table.code == 0, table
    lines = table.stdout.splitlines()
    assert lines[0] == f"stats for {local_store_url}:"
    header, *rows = [line.split() for line in lines[1:4 + 1]]
    assert header[:3] == ["outcome", "jobs", "stored"]
    assert [row[0] for row in rows] == ["failed", "stored", "total"]
    assert rows[-1][1:8] == ["6", "3", "0", "3", "0", "0", "50%"]
    assert "  spend $" in table.stdout and "(actual)" in table.stdout  # every cost known: none estimated


def test_ledger_lines_survive_a_sigint_mid_batch(cli: Cli, fake_api, local_store_url, tmp_path):
    count = 16
    batch = write_batch(tmp_path / "batch.jsonl", count)
    fake_api.set_latency(0.4)
    running = cli.start("batch", str(batch), "--store", local_store_url, "--jobs", "3", "--json")
    assert fake_api.wait_for_requests(6, timeout=60), "the batch never got going"
    running.interrupt()
    run = running.wait(timeout=30)
    assert run.code == 130, run

    metadata = store_metadata(local_store_url)
    lines = ledger_lines(local_store_url)  # every line parses: none torn by the signal
    assert 0 < len(metadata) < count
    assert len(lines) == count  # one per job: the stored, and every one cancelled
    assert {line["job_id"] for line in lines} == {json.loads(r)["job_id"] for r in run.stdout.splitlines()}
    stored = [line for line in lines if line["outcome"] == "stored"]
    assert sorted(line["job_id"] for line in stored) == sorted(m["job_id"] for m in metadata)
    cancelled = [line for line in lines if line["outcome"] == "cancelled"]
    assert len(cancelled) == count - len(stored)
    in_flight = [line for line in cancelled if line["billed"]]  # sent, so maybe billed
    assert len(in_flight) <= 3

    data = stats_json(cli, "--store", local_store_url)
    assert (data["jobs"], data["stored"], data["cancelled"]) == (count, len(metadata), count - len(metadata))
    estimates = sum(line["cost_estimated_usd"] for line in in_flight)
    assert data["cost_usd"] == pytest.approx(sum(m["cost_usd"] for m in metadata) + estimates, abs=1e-5)
    assert data["cost_estimated_usd"] == pytest.approx(estimates, abs=1e-5)


def test_a_damaged_line_is_reported_with_its_number_and_the_rest_counted(cli: Cli, fake_api, local_store_url):
    run = cli.run("generate", "--prompt", "one", "--post-id", "5", "--section-id", "1", "--size", "64x64",
                  "--store", local_store_url)
    assert run.code == 0, run
    [path] = ledger.ledger_files(ledger.store_id(open_store(local_store_url)))
    good = path.read_text(encoding="utf-8")
    path.write_text("garbage\n" + good + "\x00\x01\n", encoding="utf-8")
    stats = cli.run("stats", "--store", local_store_url, "--json")
    assert stats.code == 0, stats
    assert json.loads(stats.stdout)["stored"] == 1
    assert f"warning: job ledger {path}, line 1: not valid JSON (skipped)" in stats.stderr
    assert "line 3: not valid JSON (skipped)" in stats.stderr


@pytest.mark.parametrize("args, expected", [
    (("../etc",), "post id"),
    (("5", "a/b"), "section id"),
    (("--since", "last tuesday"), "--since"),
    (("--until", "2026-02-30"), "--until"),
    (("--since", "2026-12-02", "--until", "2026-12-01"), "before"),
    (("--by", "colour"), "--by"),
])
def test_bad_input_exits_2_with_one_error_object(cli: Cli, local_store_url, args, expected):
    run = cli.run("stats", *args, "--store", local_store_url, "--json")
    assert run.code == 2, run
    body = json.loads(run.stdout)
    assert body["ok"] is False and body["error"]["exit_code"] == 2 and expected in body["error"]["message"]
    assert run.stderr.startswith("error: ") and len(run.stderr.strip().splitlines()) == 1


def test_a_store_that_cannot_be_listed_exits_6(cli: Cli, s3_store_url):
    # Nothing listens on port 9 of 127.0.0.1: every listing fails to connect.
    run = cli.run("stats", "--store", s3_store_url, "--store-option", "retries=0", "--json",
                  env={"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"})
    assert run.code == 6, run
    error = json.loads(run.stdout)["error"]
    assert error["type"] == "StoreUnusable" and "cannot list" in error["message"]


def test_stats_reads_an_s3_store_made_elsewhere(cli: Cli, fake_api, moto_s3, s3_store_url, tmp_path):
    cli.watch_bucket(moto_s3, s3_store_url.split("://", 1)[1].split("/", 1)[0])
    batch = write_batch(tmp_path / "batch.jsonl", 3)
    run = cli.run("batch", str(batch), "--store", s3_store_url, env={ledger.LEDGER_ENV: str(tmp_path / "elsewhere")})
    assert run.code == 0, run
    data = stats_json(cli, "--store", s3_store_url, "--by", "model")
    assert (data["jobs"], data["stored"]) == (3, 3)
    assert [group["key"] for group in data["groups"]] == ["gpt-image-2"]
    assert data["cost_usd"] > 0 and data["cost_estimated_usd"] == 0
    assert os.listdir(tmp_path / "elsewhere")  # the batch wrote its own ledger, not ours
    assert not ledger.ledger_files(ledger.store_id(open_store(s3_store_url)))
