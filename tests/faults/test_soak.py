"""Soak: a 200-image batch through the real CLI with about 20% transient faults mixed in.

The fake Images API answers from a seeded script: most requests succeed, about
one in five gets a 500/503, a 429 with Retry-After 0 or 1, or a connection
reset (before the answer or in the middle of it). Afterwards:

- every entry ended stored exactly once or was reported failed (exit 5);
- no image without metadata, no metadata without image, no temp file, no
  duplicate job, nothing left in the recovery folder;
- running the same command again stores exactly the rest, with one request
  per missing image, and ``blog-images doctor`` finds nothing.

The numbers (requests, faults, retries, time) are printed (``pytest -s``).
"""

from __future__ import annotations

import collections
import json
import random
import time

import pytest

from blog_images_tui.testing.fake_images_api import Reply
from tests.support.faults import Cli, json_results, pending_folders, stored_pairs

JOBS = 200
FAULT_RATE = 0.2
SEED = 20261124
FAULTS = {
    "500": lambda: Reply.server_error(500),
    "503": lambda: Reply.server_error(503),
    "429 Retry-After 0": lambda: Reply.rate_limited(0),
    "429 Retry-After 1": lambda: Reply.rate_limited(1),
    "reset before answer": Reply.reset,
    "reset mid-body": Reply.reset_mid_body,
}


def scripted_replies(count: int, rng: random.Random) -> tuple[list[Reply], collections.Counter]:
    replies, injected = [], collections.Counter()
    for _ in range(count):
        if rng.random() < FAULT_RATE:
            name = rng.choice(sorted(FAULTS))
            injected[name] += 1
            replies.append(FAULTS[name]())
        else:
            replies.append(Reply.ok())
    return replies, injected


@pytest.mark.slow
def test_soak_200_jobs_with_transient_faults(cli: Cli, api_env, local_store_url, tmp_path):
    fake = api_env
    rng = random.Random(SEED)
    batch = tmp_path / "soak.jsonl"
    with batch.open("w", encoding="utf-8") as out:
        for index in range(JOBS):
            out.write(json.dumps({"post_id": 1 + index % 10, "section_id": 1 + index // 10 % 5,
                                  "prompt": f"soak image {index}", "size": "64x64"}) + "\n")
    # Enough script for every first attempt and its retries; whatever is left is dropped before the re-run.
    replies, injected = scripted_replies(int(JOBS * 1.5), rng)
    fake.enqueue(*replies)
    args = ("batch", str(batch), "--store", local_store_url, "--jobs", "8", "--json")

    started = time.monotonic()
    run = cli.run(*args, timeout=120)
    first_run_s = time.monotonic() - started
    results = json_results(run.stdout)
    assert len(results) == JOBS, run
    states = collections.Counter(result["state"] for result in results)
    assert set(states) <= {"stored", "failed"}, states
    failed = [result for result in results if result["state"] == "failed"]
    assert all(result["exit_code"] == 5 for result in failed), failed  # transient: "run it again"
    assert run.code == (5 if failed else 0), run

    consumed = len(replies) - fake.pending_replies
    faults_served = collections.Counter()
    for reply in replies[:consumed]:
        if reply.kind != "ok":
            faults_served[reply.kind if reply.kind != "error" else str(reply.status)] += 1
    requests_first = len(fake.requests)

    metadata, broken = stored_pairs(local_store_url)
    assert broken == []
    ids = [m["job_id"] for m in metadata]
    assert len(ids) == len(set(ids)) == states["stored"]  # stored exactly once
    assert set(ids) == {result["job_id"] for result in results if result["state"] == "stored"}
    assert pending_folders(cli.workdir / "recovery") == []

    # The re-run: the script is spent, the server answers normally.
    fake.reset()
    run = cli.run(*args, timeout=120)
    assert run.code == 0, run
    rerun = collections.Counter(result["state"] for result in json_results(run.stdout))
    assert rerun == collections.Counter({"skipped": states["stored"], "stored": len(failed)}) - collections.Counter()
    assert len(fake.requests) == len(failed)  # one request per missing image, none for the stored ones

    metadata, broken = stored_pairs(local_store_url)
    assert broken == []
    ids = [m["job_id"] for m in metadata]
    assert len(ids) == len(set(ids)) == JOBS
    assert cli.run("doctor", "--store", local_store_url).code == 0
    total_s = time.monotonic() - started
    print(f"\nsoak: {JOBS} jobs, {requests_first} requests in the first run "
          f"({requests_first - JOBS} retries), faults scripted {dict(injected)}, served {dict(faults_served)}; "
          f"first run {states['stored']} stored / {len(failed)} failed in {first_run_s:.1f}s; "
          f"re-run stored {len(failed)}; total {total_s:.1f}s")
    assert total_s < 90
