"""Many runners, one store: the claim protocol with two engines on one store.

Memory store (two engines on one event loop) and moto's S3 server. What is
asserted is counted, never timed: generations served, images stored, claims
taken over.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from blog_images_tui import layout
from blog_images_tui.api import client_settings
from blog_images_tui.claims import CHUNK_JOBS, CLAIMS_DIR, Coordinator, chunk_key
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.jobs import JobEngine, JobState, prepare_job_request
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import Reply


def batch(n: int, tag: str) -> list[ImageRequest]:
    return [ImageRequest(prompt=f"{tag} picture {i}", section=SectionRef(f"claims-{tag}", i % 3 + 1),
                         size="1024x1024", quality="low") for i in range(n)]


def stored_metadata(store, requests) -> list[str]:
    names = []
    for section in {r.section for r in requests}:
        names += [n for n in store.list_raw_names(section) if n.endswith(layout.METADATA_SUFFIX)]
    return names


async def run_one(store_url: str, requests, *, lease_s: float = 60.0, runner: str | None = None,
                  retry_failed: bool = False, concurrency: int = 4):
    coordinator = Coordinator(open_store(store_url), lease_s=lease_s, runner_id=runner, retry_failed=retry_failed)
    engine = JobEngine(coordinator.store, client_settings(max_retries=0), concurrency=concurrency,
                       coordinator=coordinator)
    try:
        jobs = await engine.run(requests)
    finally:
        await engine.aclose()
    return jobs, coordinator


def run_together(store_url: str, requests, **kw):
    async def both():
        return await asyncio.gather(run_one(store_url, requests, runner="runner-a", **kw),
                                    run_one(store_url, requests, runner="runner-b", **kw))
    return asyncio.run(both())


@pytest.fixture(params=["memory", "s3"])
def shared_store_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_store_url")


def test_two_runners_split_a_batch_and_pay_for_each_job_once(shared_store_url, api_env):
    api_env.set_latency(0.05)
    requests = batch(2 * CHUNK_JOBS + 8, "split")
    (jobs_a, coord_a), (jobs_b, coord_b) = run_together(shared_store_url, requests)
    assert len(api_env.requests) == len(requests)  # every job paid for once in all
    store = open_store(shared_store_url)
    assert len(stored_metadata(store, requests)) == len(requests)
    for a, b in zip(jobs_a, jobs_b, strict=True):
        assert {a.state, b.state} == {JobState.STORED, JobState.SKIPPED}, (a.state, b.state)
    assert coord_a.taken_over == coord_b.taken_over == 0
    assert store.list_files(CLAIMS_DIR) == []  # done chunks leave no claim behind


def claim_as_dead_runner(store_url: str, requests) -> dict[str, str]:
    """A runner that claimed the first chunk and died before paying for anything."""
    jobs = [prepare_job_request(r) for r in requests]
    wanted = {job.job_id: f"dead-{i}" for i, job in enumerate(jobs[:CHUNK_JOBS])}
    dead = Coordinator(open_store(store_url), runner_id="dead-runner")
    assert dead.claim(chunk_key([job.job_id for job in jobs[:CHUNK_JOBS]]), wanted).mine
    return wanted


def test_a_dead_runners_claim_is_taken_over_after_the_lease(shared_store_url, api_env):
    requests = batch(CHUNK_JOBS + 4, "dead")
    fixed = claim_as_dead_runner(shared_store_url, requests)
    jobs, coordinator = asyncio.run(run_one(shared_store_url, requests, lease_s=1.5, runner="survivor"))
    assert [job.state for job in jobs] == [JobState.STORED] * len(requests)
    assert coordinator.taken_over == 1
    assert len(api_env.requests) == len(requests)
    # The claim fixed the filenames: the survivor used the dead runner's.
    assert {job.id: job.request.filename for job in jobs[:CHUNK_JOBS]} == fixed


def test_a_live_claim_is_not_taken_over_by_a_runner_whose_clock_is_minutes_ahead(memory_store_url, api_env,
                                                                                monkeypatch):
    """Staleness is judged by the store's clock; a runner's own clock (here 10 minutes fast for
    the whole process) plays no part, so the live runner's claims are left alone."""
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 600)
    api_env.set_latency(0.05)
    requests = batch(CHUNK_JOBS * 2, "skew")
    (jobs_a, coord_a), (jobs_b, coord_b) = run_together(memory_store_url, requests, lease_s=30.0)
    assert coord_a.taken_over == coord_b.taken_over == 0
    assert len(api_env.requests) == len(requests)


def test_a_failed_job_is_marked_failed_and_not_paid_for_again_unless_asked(memory_store_url, api_env):
    requests = batch(3, "failed")
    api_env.enqueue(Reply.error(400, message="the prompt was refused", code="moderation_blocked"))
    first, _ = asyncio.run(run_one(memory_store_url, requests, concurrency=1))
    assert [job.state for job in first] == [JobState.FAILED, JobState.STORED, JobState.STORED]
    claims = open_store(memory_store_url).list_files(CLAIMS_DIR)
    assert len(claims) == 1  # kept, with the failed job marked
    raw, _version = open_store(memory_store_url).read_versioned(f"{CLAIMS_DIR}/{claims[0].name}")
    assert [entry["state"] for entry in json.loads(raw)["jobs"].values()] == ["failed"]
    served = len(api_env.requests)

    again, _ = asyncio.run(run_one(memory_store_url, requests))
    assert [job.state for job in again] == [JobState.FAILED, JobState.SKIPPED, JobState.SKIPPED]
    assert "--retry-failed" in (again[0].error.hint or "")
    assert len(api_env.requests) == served  # nothing sent

    retried, _ = asyncio.run(run_one(memory_store_url, requests, retry_failed=True))
    assert [job.state for job in retried] == [JobState.STORED, JobState.SKIPPED, JobState.SKIPPED]
    assert len(api_env.requests) == served + 1
    assert open_store(memory_store_url).list_files(CLAIMS_DIR) == []


def test_a_job_whose_dead_runner_left_an_image_without_metadata_gets_a_name_of_its_own(memory_store_url,
                                                                                         api_env):
    requests = batch(CHUNK_JOBS, "orphan")
    fixed = claim_as_dead_runner(memory_store_url, requests)
    first = prepare_job_request(requests[0])
    orphan = layout.image_path(first.section, fixed[first.job_id], "png")
    open_store(memory_store_url).create(orphan, b"half a pair", "image/png")
    jobs, coordinator = asyncio.run(run_one(memory_store_url, requests, lease_s=1.0, runner="survivor"))
    assert [job.state for job in jobs] == [JobState.STORED] * CHUNK_JOBS
    assert coordinator.taken_over == 1
    assert jobs[0].request.filename != fixed[first.job_id]  # not refused by the orphan's name
    assert open_store(memory_store_url).read_bytes(orphan) == b"half a pair"  # left for doctor, untouched
