"""The TUI's jobs controller on its own (it is not a widget): engines per store, cancel, shutdown.

The real engines and the real openai SDK against the fake Images API; no app.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from blog_images_tui.api import client_settings
from blog_images_tui.errors import AuthConfigError, StoreUnusable
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.jobs import JobState
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import Reply
from blog_images_tui.tui.jobs_controller import JobsController

pytestmark = pytest.mark.asyncio


async def until(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def request(post: int, name: str) -> ImageRequest:
    return ImageRequest(prompt=f"prompt {name}", section=SectionRef(post, 1), filename=name, size="1024x1024")


async def test_each_job_belongs_to_its_store_and_cancel_finds_it_in_any(memory_store_url, api_env):
    events = []
    controller = JobsController(client_settings(), concurrency=2, rpm=None,
                                on_event=lambda store, event: events.append((store, event.kind, event.job.id)))
    first, second = open_store(memory_store_url + "-a"), open_store(memory_store_url + "-b")
    api_env.enqueue(Reply.delay(30, Reply.ok()))  # the first job hangs until cancelled
    try:
        slow = controller.submit(first, request(1, "slow"), job_id="slow")
        await until(lambda: len(api_env.requests) == 1, what="the slow job's request sent")
        quick = controller.submit(second, request(2, "quick"), job_id="quick")
        await until(lambda: quick.state.finished, what="the quick job finished")
        assert quick.state is JobState.STORED and slow.state is JobState.RUNNING
        assert controller.active_jobs() == [slow]
        assert controller.cancel("slow") and not controller.cancel("quick")  # finished: nothing to cancel
        await until(lambda: slow.state is JobState.CANCELLED, what="the slow job cancelled")
    finally:
        await controller.aclose()
    assert [e.image_name for e in second.list_images(SectionRef(2, 1))] == ["quick.png"]
    assert first.list_images(SectionRef(1, 1)) == []
    # Every event names the store of its job, whichever store was opened later.
    assert {(id(store), job_id) for store, _kind, job_id in events} == {(id(first), "slow"), (id(second), "quick")}
    assert controller.active_jobs() == []


async def test_no_store_or_no_key_is_refused_before_any_request(memory_store_url, api_env, monkeypatch):
    controller = JobsController(client_settings(), concurrency=1, rpm=None, on_event=lambda *_: None)
    with pytest.raises(StoreUnusable, match="no store is open"):
        controller.submit(None, request(1, "nowhere"), job_id="a")
    monkeypatch.delenv("OPENAI_AUTH_TOKEN")
    keyless = JobsController(client_settings(), concurrency=1, rpm=None, on_event=lambda *_: None)
    with pytest.raises(AuthConfigError, match="API key required"):
        keyless.submit(open_store(memory_store_url), request(1, "nokey"), job_id="b")
    assert keyless.active_jobs() == [] and api_env.requests == []
    await controller.aclose()
    await keyless.aclose()
