"""Publishing from the app: P publishes with progress in the jobs list, the Image tab shows the
published state and snippet, h/m copy the snippet, a edits the alt text. Real stores, real encoders."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from blog_images_tui.ids import SectionRef
from blog_images_tui.publish import image_metadata, read_manifest
from blog_images_tui.tui.dialogs import AltTextDialog
from tests.support import await_until
from tests.support.tui import (
    SIZE,
    highlight_image,
    make_app,
    open_section,
    record_notifications,
    seed_store,
    widget_text,
)

pytestmark = pytest.mark.asyncio

HERO = SectionRef(53, 1)


async def test_publish_from_the_app_then_copy_the_snippets_and_edit_the_alt(memory_store_url):
    store = seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await open_section(pilot, "post 53", "section 1")
        await highlight_image(pilot, "hero.png")
        info = app.screen.query_one("#published-info")
        await await_until(lambda: "not published" in widget_text(info)
                       and "from the prompt" in widget_text(info), what="the publish state and alt")

        await pilot.press("P")
        jobs = app.screen.query_one("#jobs")
        await await_until(lambda: any(n["title"] == "Published" for n in notes), what="published")
        assert len(jobs.task_details) == 1  # the publish has its row in the jobs list
        manifest = read_manifest(store, HERO, "hero")
        assert manifest is not None and manifest["derivatives"]
        await await_until(lambda: info.manifest is not None and "published" in widget_text(info),
                       what="the Image tab shows it published")
        assert manifest["markdown"][:40] in widget_text(info)

        await pilot.press("m")
        assert app.clipboard == manifest["markdown"]
        await pilot.press("h")
        assert app.clipboard == manifest["html"] and app.clipboard.startswith("<picture>")

        await pilot.press("a")
        assert isinstance(app.screen, AltTextDialog)
        field = app.screen.query_one("#alt-text", Input)
        assert field.value == manifest["alt"]  # starts from the text in use
        field.value = 'A "white" lighthouse at dawn'
        await pilot.press("enter")
        await await_until(lambda: any(n["title"] == "Alt text" for n in notes), what="alt saved")
        assert image_metadata(store, HERO, "hero")["alt"] == 'A "white" lighthouse at dawn'
        assert read_manifest(store, HERO, "hero")["alt"] == 'A "white" lighthouse at dawn'
        await await_until(lambda: 'A "white" lighthouse at dawn' in widget_text(info), what="alt shown")
        assert "from the prompt" not in widget_text(info)

        await pilot.press("P")  # again: nothing to do, and it says so
        await await_until(lambda: sum(n["title"] == "Published" for n in notes) == 2, what="second publish")
        assert any("unchanged" in n["message"] for n in notes if n["title"] == "Published")


async def test_copy_keys_wait_for_a_published_image(memory_store_url):
    seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await open_section(pilot, "post 53", "section 1")
        await highlight_image(pilot, "second.png")
        info = app.screen.query_one("#published-info")
        await await_until(lambda: "not published" in widget_text(info), what="the publish state")
        assert app.screen.check_action("copy_html", ()) is False
        assert app.screen.check_action("publish", ()) is True
        before = app.clipboard
        await pilot.press("h")
        assert app.clipboard == before
