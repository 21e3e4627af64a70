"""Process side, batch: Ctrl-C in the middle of ``blog-images batch``, then the same command again.

Exit 130, nothing partial (every image in the store has its metadata, no temp
file, nothing stuck in the recovery folder), and the re-run stores exactly
what is missing: each entry ends up stored once.
"""

from __future__ import annotations

import pytest

from tests.support import settle
from tests.support.faults import Cli, json_results, pending_folders, stored_pairs, write_batch

pytestmark = pytest.mark.usefixtures("api_env")


def test_sigint_during_a_batch_exits_130_and_a_rerun_completes_it(cli: Cli, fake_api, local_store_url, tmp_path):
    count = 16
    batch = write_batch(tmp_path / "batch.jsonl", count)
    fake_api.set_latency(0.4)
    args = ("batch", str(batch), "--store", local_store_url, "--jobs", "3", "--json")
    running = cli.start(*args)
    assert fake_api.wait_for_requests(6, timeout=60), "the batch never got going"
    running.interrupt()
    run = running.wait(timeout=30)
    assert run.code == 130, run
    assert "interrupted" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr

    metadata, broken = stored_pairs(local_store_url)
    assert broken == []  # nothing partial
    assert 0 < len(metadata) < count
    assert pending_folders(cli.workdir / "recovery") == []
    first = {m["job_id"] for m in metadata}
    assert len(first) == len(metadata)  # no duplicates

    # Let abandoned requests settle at the server before counting the re-run's.
    settle(fake_api)
    fake_api.set_latency(0.0)
    sent_before = len(fake_api.requests)
    run = cli.run(*args)
    assert run.code == 0, run
    states = [result["state"] for result in json_results(run.stdout)]
    assert sorted(states) == sorted(["skipped"] * len(first) + ["stored"] * (count - len(first)))
    assert len(fake_api.requests) - sent_before == count - len(first)  # only what was missing

    metadata, broken = stored_pairs(local_store_url)
    assert broken == []
    ids = [m["job_id"] for m in metadata]
    assert len(ids) == count and len(set(ids)) == count  # every entry stored, exactly once
    assert first <= set(ids)
    assert cli.run("doctor", "--store", local_store_url).code == 0
