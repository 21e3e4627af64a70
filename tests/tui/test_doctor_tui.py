"""The TUI says at start-up when paid-for images wait in the local recovery folder."""

from __future__ import annotations

import pytest

from blog_images_tui.ids import SectionRef
from blog_images_tui.recovery import keep_for_recovery, recovery_root
from blog_images_tui.testing.fake_images_api import make_png
from blog_images_tui.tui.app import make_app
from tests.support import await_until
from tests.support.tui import record_notifications

pytestmark = pytest.mark.asyncio


def _keep_one(store_url: str) -> None:
    keep_for_recovery(store_url=store_url, store_options={}, section=SectionRef(1, 2), filename="hero",
                      output_format="png", image=make_png(8, 8), metadata={"prompt": "x"},
                      reason="the image was stored but its metadata was not: disk full")


async def test_waiting_recoveries_are_announced_at_start_up(memory_store_url, api_env):
    _keep_one(memory_store_url)
    _keep_one("s3://another-bucket/blog")
    app = make_app(memory_store_url, preview="text")
    app.animation_level = "none"
    notes = record_notifications(app)
    async with app.run_test(size=(120, 40)):
        note = await await_until(lambda: next((n for n in notes if n["title"] == "Images waiting"), None),
                              what="the recovery notification")
    assert note["severity"] == "warning"
    assert note["message"].startswith("2 generated image(s) could not be stored")
    assert str(recovery_root()) in note["message"] and "blog-images recover" in note["message"]


async def test_nothing_is_announced_when_nothing_waits(memory_store_url, api_env, monkeypatch):
    from blog_images_tui import recovery

    checked = []
    real_list_pending = recovery.list_pending
    monkeypatch.setattr(recovery, "list_pending", lambda *a, **k: checked.append(1) or real_list_pending(*a, **k))
    app = make_app(memory_store_url, preview="text")
    app.animation_level = "none"
    notes = record_notifications(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await await_until(lambda: checked and not any(worker.group == "recoveries" and not worker.is_finished
                                                          for worker in app.workers),
                       what="the recovery check")
        await pilot.pause()
    assert all(n["title"] != "Images waiting" for n in notes)
