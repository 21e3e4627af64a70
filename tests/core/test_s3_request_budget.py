"""Everything a runner sends to S3 for a batch: two PUTs per image and little else.

One listing per post (or section) per batch, kept up to date by the batch's own
writes; the conditional creates only guard a race with another writer. Counted
on moto's server through the real s3fs.
"""

from __future__ import annotations

import asyncio

from blog_images_tui.api import client_settings
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.jobs import JobEngine, JobState
from blog_images_tui.storage import open_store
from blog_images_tui.testing.s3_requests import count_s3_requests, requests_sent

BUDGET_PER_IMAGE = 2.2


def batch(n: int, sections: int, tag: str) -> list[ImageRequest]:
    return [ImageRequest(prompt=f"{tag} picture {i}", section=SectionRef(f"budget-{tag}", i % sections + 1),
                         size="1024x1024", quality="low") for i in range(n)]


def run(store, requests, concurrency: int = 8):
    async def go():
        engine = JobEngine(store, client_settings(max_retries=0), concurrency=concurrency)
        try:
            return await engine.run(requests)
        finally:
            await engine.aclose()
    return asyncio.run(go())


def test_a_64_image_batch_sends_at_most_2_2_requests_per_image(s3_store_url, api_env):
    store = open_store(s3_store_url)
    counts = count_s3_requests(store.fs)
    jobs = run(store, batch(64, 8, "first"))
    assert [job.state for job in jobs] == [JobState.STORED] * 64
    assert counts.get("put_object", 0) >= 128  # image + metadata for each
    assert requests_sent(counts) <= BUDGET_PER_IMAGE * 64, counts
    assert counts.get("head_object", 0) == 0, counts  # no per-job HEAD before writing
    assert counts.get("list_objects_v2", 0) <= 2, counts  # one listing of the post, not one per job


def test_a_rerun_of_a_stored_batch_sends_one_listing_and_nothing_else(s3_store_url, api_env):
    store = open_store(s3_store_url)
    requests = batch(24, 3, "again")
    run(store, requests)
    served = len(api_env.requests)
    counts = count_s3_requests(store.fs)
    jobs = run(store, requests)
    assert [job.state for job in jobs] == [JobState.SKIPPED] * 24
    assert len(api_env.requests) == served  # nothing paid for twice
    assert counts == {"list_objects_v2": 1, "entries returned": 48}, counts


def test_the_listing_sees_the_batch_own_writes(s3_store_url, api_env):
    """Two jobs that ask for the same explicit filename: the second is refused before paying."""
    store = open_store(s3_store_url)
    section = SectionRef("budget-names", 1)
    requests = [ImageRequest(prompt=f"picture {i}", section=section, size="1024x1024", quality="low",
                             filename="hero") for i in range(2)]
    jobs = run(store, requests, concurrency=1)
    assert [job.state for job in jobs] == [JobState.STORED, JobState.FAILED]
    assert "already exists" in jobs[1].error.message
    assert len(api_env.requests) == 1


def test_a_folder_in_raw_takes_its_stem_in_the_batch_listing_too(s3_store_url, api_env):
    """The write protocol's stem rule on the engine's one listing: "hero.webp/" takes "hero"."""
    store = open_store(s3_store_url)
    section = SectionRef("budget-folder", 1)
    store.create("content/posts/budget-folder/sections/1/raw/hero.webp/inside.txt", b"x", "text/plain")
    requests = [ImageRequest(prompt="a picture", section=section, size="1024x1024", quality="low",
                             filename="hero"),
                ImageRequest(prompt="another", section=SectionRef("budget-folder", 2), size="1024x1024",
                             quality="low")]
    jobs = run(store, requests)
    assert [job.state for job in jobs] == [JobState.FAILED, JobState.STORED]
    assert "already exists" in jobs[0].error.message
    assert len(api_env.requests) == 1
