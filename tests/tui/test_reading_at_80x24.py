"""Reading the app at 80x24, and words that tell the truth (issue 11, items 6 and 7)."""

from __future__ import annotations

import json

import pytest
from fsspec.implementations.memory import MemoryFileSystem
from textual.widgets import Button, HelpPanel, Select, TabbedContent
from textual.widgets._toast import Toast

from blog_images_tui.errors import StoreUnusable
from blog_images_tui.ids import SectionRef
from blog_images_tui.recovery import keep_for_recovery
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import make_png
from blog_images_tui.tui.dialogs import ConfirmDialog
from blog_images_tui.tui.widgets.store_tree import ImageNode, PostNode, SectionNode
from blog_images_tui.tui.wording import app_message
from tests.support import await_until
from tests.support.tui import (
    highlight_image,
    make_app,
    open_section,
    record_notifications,
    seed_store,
    tree_with_posts,
    widget_text,
)

pytestmark = pytest.mark.asyncio

SMALL = (80, 24)


def tree_text(app) -> str:
    return widget_text(app.screen.query_one("#tree"))


async def test_tree_hints_are_whole_at_80_columns(memory_store_url, tmp_path):
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SMALL) as pilot:
        await await_until(lambda: "no posts" in tree_text(app), what="the empty store's hint")
        assert "no posts (g: generate)" in tree_text(app)
    not_a_store = make_app(memory_store_url, store_options={"bogus": "1"}, preview="text")
    async with not_a_store.run_test(size=SMALL) as pilot:
        await await_until(lambda: "no store open" in tree_text(not_a_store), what="the no-store hint")
        await pilot.pause()
        assert "no store open: ctrl+p" in tree_text(not_a_store)


async def test_a_notification_waits_for_the_dialog_to_close(memory_store_url):
    seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SMALL, notifications=True) as pilot:  # toasts drawn, as in a terminal
        await open_section(pilot, "post 53", "section 1")
        await highlight_image(pilot, "hero.png")
        app.clear_notifications()
        await pilot.press("d")
        await await_until(lambda: isinstance(app.screen, ConfirmDialog), what="the delete question")
        app.notify("something happened meanwhile", title="Meanwhile")
        await pilot.pause()
        assert not app.screen.query(Toast)  # nothing over the question
        await pilot.press("n")
        await await_until(lambda: not isinstance(app.screen, ConfirmDialog), what="the dialog closed")
        toasts = await await_until(lambda: list(app.screen.query(Toast)), what="the held notification")
        # Compact and at the top, over the preview: the details below stay readable.
        assert toasts[0].region.y < 6 and toasts[0].region.height <= 3


async def test_the_model_list_marks_retired_models(memory_store_url):
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("g")
        model = app.screen.query_one("#model", Select)
        labels = {value: str(label) for label, value in model._options if value is not Select.NULL}
        assert labels["dall-e-3"] == "dall-e-3 retired" and labels["gpt-image-2"] == "gpt-image-2"


async def test_escape_closes_the_keys_panel_and_only_that(memory_store_url):
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("j")
        app.action_show_help_panel()
        await await_until(lambda: app.screen.query(HelpPanel), what="the keys panel")
        await pilot.press("escape")
        await await_until(lambda: not app.screen.query(HelpPanel), what="the keys panel closed")
        assert app.screen.query_one(TabbedContent).active == "jobs-tab"  # escape did not also go back


async def test_right_opens_and_left_closes_tree_levels(memory_store_url):
    seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SMALL) as pilot:
        tree = await tree_with_posts(pilot)
        tree.focus()
        post = tree.root.children[0]
        tree.move_cursor(post)
        await pilot.press("right")
        await await_until(lambda: post.is_expanded and isinstance(post.children[0].data, SectionNode),
                          what="the post open")
        await pilot.press("right")  # into the open post
        assert tree.cursor_node is post.children[0]
        await pilot.press("right")
        section = post.children[0]
        await await_until(lambda: section.children and isinstance(section.children[0].data, ImageNode),
                          what="the section open")
        await pilot.press("left")
        assert not section.is_expanded
        await pilot.press("left")  # up to the post
        assert tree.cursor_node is post and isinstance(post.data, PostNode)
        await pilot.press("left")
        assert not post.is_expanded


async def test_a_damaged_metadata_file_is_called_damaged(memory_store_url):
    seed_store(memory_store_url)
    fs = MemoryFileSystem()
    path = MemoryFileSystem._strip_protocol(memory_store_url) + "/content/posts/53/sections/1/raw/hero_metadata.json"
    fs.pipe_file(path, b'{"prompt": "cut short')
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_section(pilot, "post 53", "section 1")
        tree = app.screen.query_one("#tree")
        node = next(n for n in tree.root.children[0].children[0].children if str(n.label).startswith("hero"))
        tree.move_cursor(node)
        details = app.screen.query_one("#details")
        await await_until(lambda: "damaged" in widget_text(details), what="the details saying damaged")
        assert "no metadata JSON" not in widget_text(details)


def test_internal_temp_names_are_never_shown():
    error = StoreUnusable("cannot write /s/raw/.blog-images-tmp-fox.png.0a1b2c3d4e5f: [Errno 28] "
                          "No space left on device: '/s/raw/.blog-images-tmp-fox.png.0a1b2c3d4e5f'")
    shown = app_message(error)
    assert ".blog-images-tmp" not in shown and "/s/raw/fox.png" in shown


async def test_no_open_button_where_it_would_do_nothing(memory_store_url):
    seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_section(pilot, "post 53", "section 1")
        await highlight_image(pilot, "hero.png")
        assert not app.screen.query_one("#open", Button).display  # memory://: nothing can open it
        assert not app.screen.check_action("open_image", ())


@pytest.mark.s3
async def test_on_s3_open_opens_the_link_or_copies_it(s3_store_url, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)  # no desktop: the link is copied instead
    seed_store(s3_store_url)
    app = make_app(s3_store_url, preview="text")
    notes = record_notifications(app)
    copied = []
    app.copy_to_clipboard = copied.append
    async with app.run_test(size=(120, 40)) as pilot:
        await open_section(pilot, "post 53", "section 1")
        await highlight_image(pilot, "hero.png")
        button = app.screen.query_one("#open", Button)
        await await_until(lambda: button.display and str(button.label) == "Open link", what="the link button")
        await pilot.press("o")
        await await_until(lambda: copied, what="the link copied")
        assert copied[0].startswith("http") and "hero.png" in copied[0]
        assert any(n["title"] == "Link copied" for n in notes)


async def test_refresh_counts_the_recovery_folder_again(memory_store_url):
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SMALL) as pilot:
        tree = app.screen.query_one("#tree")
        await await_until(lambda: app.screen.store is not None, what="the store open")
        await pilot.pause()
        assert tree.border_subtitle == ""
        keep_for_recovery(store_url=memory_store_url, store_options={}, section=SectionRef(1, 2), filename="kept",
                          output_format="png", image=make_png(8, 8), metadata={"prompt": "x"},
                          reason="the store refused it")
        await pilot.press("r")
        await await_until(lambda: tree.border_subtitle == "⚠ 1 to recover", what="the indicator after refresh")
    assert json.loads(json.dumps(open_store(memory_store_url).list_posts())) == []
