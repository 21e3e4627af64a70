"""Cancellation that arrives while a paid-for image is being written: it is written, and said so."""

from __future__ import annotations

import asyncio
import threading

from blog_images_tui.api import client_settings
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.jobs import JobEngine, JobState
from blog_images_tui.storage import open_store
from tests.support import await_until


def test_job_cancelled_while_storing_ends_stored_and_a_rerun_skips_it(api_env, memory_store_url):
    store = open_store(memory_store_url)
    writing = threading.Event()
    release = threading.Event()
    original = store.backend.write_new

    def slow_write(fs, path, data, content_type):
        if "/raw/" in path and not path.endswith("_metadata.json"):
            writing.set()
            release.wait(5)  # hold the image write until the job has been cancelled
        return original(fs, path, data, content_type)

    store.backend.write_new = slow_write
    request = ImageRequest(prompt="a lighthouse", section=SectionRef(1, 1), size="1024x1024")

    async def go():
        engine = JobEngine(store, client_settings(), concurrency=1)
        job = engine.submit(request)
        await await_until(writing.is_set, what="the write to begin")
        assert engine.cancel(job.id)
        await asyncio.sleep(0.05)
        release.set()
        await engine.join()
        await engine.aclose()
        return job

    job = asyncio.run(go())
    assert job.state is JobState.STORED and job.result is not None
    names = store.list_raw_names(SectionRef(1, 1))
    assert len(names) == 2 and any(n.endswith("_metadata.json") for n in names)

    async def rerun():
        engine = JobEngine(open_store(memory_store_url), client_settings(), concurrency=1)
        again = engine.submit(request)
        await engine.join()
        await engine.aclose()
        return again

    sent = len(api_env.requests)
    assert asyncio.run(rerun()).state is JobState.SKIPPED
    assert len(api_env.requests) == sent


def test_engine_checks_the_store_again_after_an_outage(api_env, tmp_path):
    """A long-lived engine (the TUI) must not fail every later job after one store outage."""
    from tests.support import files_under

    root = tmp_path / "static"
    root.write_text("not a folder yet")  # the store is unusable
    request = ImageRequest(prompt="a lighthouse", section=SectionRef(1, 1), size="1024x1024")

    async def go():
        engine = JobEngine(open_store(str(root)), client_settings(), concurrency=1)
        first = engine.submit(request)
        await engine.join()
        root.unlink()
        root.mkdir()  # the store is back
        second = engine.submit(request)
        await engine.join()
        await engine.aclose()
        return first, second

    first, second = asyncio.run(go())
    assert first.state is JobState.FAILED and first.error.exit_code == 6
    assert second.state is JobState.STORED
    assert len(files_under(root)) == 2
    assert len(api_env.requests) == 1  # the failed job never reached the API


def test_store_errors_that_are_not_os_errors_become_store_unusable(monkeypatch):
    """botocore's EndpointConnectionError is not an OSError: it must still be exit 6, not an internal error."""
    import pytest

    from blog_images_tui.errors import StoreUnusable

    store = open_store("s3://some-bucket/blog", endpoint_url="http://127.0.0.1:9")  # nothing listens on port 9
    with pytest.raises(StoreUnusable) as caught:
        store.list_posts()
    assert "cannot list" in str(caught.value) and caught.value.exit_code == 6
