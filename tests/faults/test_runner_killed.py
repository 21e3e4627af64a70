"""A runner SIGKILLed mid-batch on a shared S3 store (moto): another finishes its jobs.

The killed runner's claim goes stale after the lease (by the store's clock)
and is taken over; every job ends up stored exactly once, and the only jobs
paid for twice are those the dead runner had sent and not stored (at most its
``--jobs``). Counted, not timed.
"""

from __future__ import annotations

import json
import signal
import subprocess

import boto3

from tests.support.faults import BLOG_IMAGES, Cli

N, JOBS = 20, 4


def write_batch(path) -> None:
    with path.open("w") as out:
        for i in range(N):
            out.write(json.dumps({"post_id": "killed", "section_id": i % 2 + 1, "prompt": f"picture {i}",
                                  "size": "1024x1024", "quality": "low"}) + "\n")


def objects(moto_s3, store_url: str) -> list[str]:
    bucket, _, prefix = store_url[len("s3://"):].partition("/")
    s3 = boto3.client("s3", endpoint_url=moto_s3.endpoint_url, region_name="us-east-1")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        keys += [item["Key"][len(prefix) + 1:] for item in page.get("Contents", [])]
    return keys


def test_a_killed_runners_jobs_are_finished_by_another_and_paid_twice_at_most_for_its_in_flight(
        cli: Cli, api_env, s3_store_url, moto_s3, tmp_path):
    api_env.set_latency(0.5)
    batch = tmp_path / "batch.jsonl"
    write_batch(batch)
    args = ("batch", str(batch), "--store", s3_store_url, "--jobs", str(JOBS), "--lease", "2", "--json")
    # Output to a file, not a pipe nobody reads (a full pipe would stall the runner).
    with (tmp_path / "doomed.log").open("w") as log:
        doomed = subprocess.Popen([BLOG_IMAGES, *args], env=cli._environ(None), cwd=cli.workdir,
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            assert api_env.wait_for_requests(JOBS, timeout=120), "the first runner never sent its requests"
        finally:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=30)
    sent_by_doomed = len(api_env.requests)

    survivor = cli.run(*args, timeout=180, leftovers_allowed=True)
    assert survivor.code == 0, survivor
    keys = objects(moto_s3, s3_store_url)
    metadata = [k for k in keys if k.startswith("content/") and k.endswith("_metadata.json")]
    images = [k for k in keys if k.startswith("content/") and k.endswith(".png")]
    assert len(metadata) == len(images) == N  # every job stored, once
    job_ids = {json.loads(line)["job_id"] for line in survivor.stdout.splitlines() if line.startswith("{")}
    assert len(job_ids) == N
    paid_twice = len(api_env.requests) - N
    assert 0 <= paid_twice <= min(JOBS, sent_by_doomed)
    assert "took over claim" in survivor.output + survivor.log
    assert not [k for k in keys if k.startswith(".blog-images/claims/")]  # done chunks leave no claim
