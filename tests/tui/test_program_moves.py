"""What the program does on its own never takes the screen from the user (issue 11, items 1-3).

A job that gets stored reloads the tree, a store switch lists a new tree, a
late partial image arrives: none of these may move tabs or focus, overwrite a
field the user typed, or leave a picture that is no longer true.
"""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, TabbedContent

from blog_images_tui.ids import SectionRef
from blog_images_tui.jobs import JobState
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import Reply, make_png
from blog_images_tui.tui.widgets.store_tree import ImageNode
from tests.support import await_until
from tests.support.tui import (
    SIZE,
    jobs_of,
    make_app,
    open_form_and_submit,
    record_notifications,
    seed_store,
    submit,
    tree_with_posts,
    type_text,
    widget_text,
)

pytestmark = pytest.mark.asyncio


async def test_a_stored_job_keeps_the_jobs_tab_its_focus_and_a_cancel_aimed_at_a_queued_job(
        memory_store_url, api_env):
    seed_store(memory_store_url)
    api_env.enqueue(Reply.ok(), Reply.delay(30, Reply.ok()))  # the second one runs until cancelled
    app = make_app(memory_store_url, preview="text", concurrency=1)
    async with app.run_test(size=SIZE) as pilot:
        tree = await tree_with_posts(pilot)
        await pilot.press("g")
        for name in ("one", "two", "three"):
            submit(app, post="53", section="1", prompt=f"picture {name}", filename=name)
        jobs = await await_until(lambda: len(jobs_of(app)) == 3 and jobs_of(app), what="three jobs")
        await pilot.press("j")
        table = app.screen.query_one("#jobs-table", DataTable)
        assert app.focused is table
        table.move_cursor(row=2)  # the third job, queued behind the second
        await await_until(lambda: jobs[0].state is JobState.STORED, what="the first job stored")
        # The tree is reloaded and its cursor put on the new image, by the program.
        await await_until(lambda: isinstance(tree.cursor_node and tree.cursor_node.data, ImageNode)
                       and tree.cursor_node.data.entry.image_name == "one.png", what="one.png in the tree")
        await pilot.pause()
        assert app.screen.query_one(TabbedContent).active == "jobs-tab"
        assert app.focused is table and table.cursor_row == 2
        assert jobs[2].state is JobState.QUEUED, [(j.state, j.error) for j in jobs]
        await pilot.press("x")
        await await_until(lambda: jobs[2].state is JobState.CANCELLED, what="the queued job cancelled")
        assert jobs[1].state is JobState.RUNNING


async def test_a_tree_listed_late_does_not_overwrite_what_the_user_typed(memory_store_url):
    seeded = memory_store_url + "-seeded"
    seed_store(seeded)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await await_until(lambda: app.screen.store is not None, what="the empty store open")
        await pilot.press("g")
        post, section = (app.screen.query_one(f"#{name}", Input) for name in ("post-id", "section-id"))
        assert app.focused is post
        await type_text(pilot, "777")
        await pilot.press("tab")
        await type_text(pilot, "4")
        post.focus()
        # A store switch lists a new tree while the user is in the form: its first post gets the cursor.
        app.screen.switch_store(seeded)
        tree = app.screen.query_one("#tree")
        await await_until(lambda: len(tree.root.children) == 2 and tree.cursor_node is not None,
                       what="the new store's posts listed")
        await pilot.pause()
        assert (post.value, section.value) == ("777", "4")
        assert app.screen.query_one(TabbedContent).active == "generate-tab" and app.focused is post
        # Browsing the tree by hand does not replace a target the user typed either.
        tree.focus()
        tree.move_cursor(tree.root.children[1])
        await pilot.pause()
        assert (post.value, section.value) == ("777", "4")


async def test_a_form_left_untouched_follows_the_tree(memory_store_url):
    seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        tree = await tree_with_posts(pilot)
        post = app.screen.query_one("#post-id", Input)
        await pilot.pause()
        assert post.value == ""  # the cursor the program put on the first post chose nothing
        tree.focus()
        tree.move_cursor(tree.root.children[1])
        await await_until(lambda: post.value == "intro", what="the form following the user's move")
        # Emptied by the user, a field follows again.
        tree.move_cursor(tree.root.children[0])
        await await_until(lambda: post.value == "53", what="the form following again")


async def test_a_failed_streamed_job_shows_its_failure_where_the_partial_was(memory_store_url, api_env):
    api_env.set_latency(3)  # two partial images, 1 s apart, then the final one
    app = make_app(memory_store_url, preview="halfcell")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await open_form_and_submit(pilot, post="8", section="1", prompt="a fox", filename="fox")
        panel = app.screen.query_one("#image-panel")
        preview = panel.query_one("#preview")
        await await_until(lambda: panel.frames_shown >= 1 and preview.has_picture, what="a partial image")
        # Someone takes the name while it draws: the paid-for image cannot be stored under it.
        open_store(memory_store_url).save(SectionRef(8, 1), "fox", "png", make_png(8, 8), {"prompt": "other"})
        job = jobs_of(app)[0]
        await await_until(lambda: job.state is JobState.FAILED, timeout=30, what="the job failed")
        await await_until(lambda: not preview.has_picture, what="the partial image gone")
        await pilot.pause()
        assert "Failed" in widget_text(preview.query_one("#picture-text"))
        assert any(n["severity"] == "error" for n in notes)


async def test_a_job_of_the_old_store_stays_off_the_new_stores_panel(memory_store_url, api_env):
    api_env.set_latency(3)
    other = memory_store_url + "-other"
    seed_store(other)
    app = make_app(memory_store_url, preview="halfcell")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await open_form_and_submit(pilot, post="8", section="1", prompt="a fox", filename="fox")
        panel = app.screen.query_one("#image-panel")
        await await_until(lambda: api_env.requests, what="the request sent")
        assert panel.following_job is not None
        app.screen.switch_store(other)
        await await_until(lambda: app.screen.store is not None and app.screen.store.url == other,
                       what="the other store open")
        job = jobs_of(app)[0]
        await await_until(lambda: job.state is JobState.STORED, timeout=30, what="the old store's job stored")
        stored = await await_until(lambda: [n for n in notes if n["title"] == "Image stored"], what="the notice")
        await pilot.pause()
        assert panel.frames_shown == 0 and not panel.query_one("#preview").has_picture
        assert panel.entry is None and other in widget_text(panel.query_one("#picture-text"))
    # The notice says which store the image went to.
    assert memory_store_url in stored[0]["message"] and "fox.png" in stored[0]["message"]
    assert [e.image_name for e in open_store(memory_store_url).list_images(SectionRef(8, 1))] == ["fox.png"]
    assert open_store(other).list_images(SectionRef(8, 1)) == []
