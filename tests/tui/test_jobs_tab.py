"""The Jobs tab (issue 11, item 5): retry a failed job with one key, asking first when it may
have been billed; clear the finished jobs; a job waiting to retry counts its seconds down."""

from __future__ import annotations

import re

import pytest
from textual.widgets import DataTable, Input

from blog_images_tui.jobs import JobState
from blog_images_tui.testing.fake_images_api import Reply
from blog_images_tui.tui.dialogs import ConfirmDialog
from tests.support import await_until
from tests.support.tui import SIZE, jobs_of, make_app, widget_text
from tests.support.tui import open_form_and_submit as send

pytestmark = pytest.mark.asyncio


async def test_retry_a_refused_job_with_one_key_same_settings(memory_store_url, api_env):
    api_env.enqueue(Reply.error(400, code="content_policy_violation", message="refused"))
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, prompt="a fox in the snow", filename="fox")
        first = (await await_until(lambda: jobs_of(app), what="the job"))[0]
        await await_until(lambda: first.state is JobState.FAILED, what="the job refused")
        assert first.error.title == "Rejected by the API"
        await pilot.press("j")
        await pilot.press("t")  # a refusal is not billed: no question
        assert not isinstance(app.screen, ConfirmDialog)
        second = await await_until(lambda: len(jobs_of(app)) == 2 and jobs_of(app)[1], what="the retry")
        await await_until(lambda: second.state is JobState.STORED, what="the retry stored")
        assert first.state is JobState.FAILED  # still listed as it ended
    bodies = [request.body for request in api_env.requests]
    assert len(bodies) == 2 and bodies[0] == bodies[1]  # the same settings, sent again
    assert second.request.filename == "fox"


async def test_retry_after_a_failure_that_may_have_been_billed_asks_first(memory_store_url, api_env):
    api_env.enqueue(Reply.not_image())  # a 200 with a broken image: the request was answered
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, filename="broken")
        job = (await await_until(lambda: jobs_of(app), what="the job"))[0]
        await await_until(lambda: job.state is JobState.FAILED, what="the job failed")
        assert job.sent
        await pilot.press("j")
        await pilot.press("t")
        dialog = await await_until(lambda: isinstance(app.screen, ConfirmDialog) and app.screen,
                                what="the question")
        assert "may have been billed" in widget_text(dialog.query_one("#question"))
        await pilot.press("n")
        await pilot.pause()
        assert len(jobs_of(app)) == 1 and len(api_env.requests) == 1
        await pilot.press("t")
        await await_until(lambda: isinstance(app.screen, ConfirmDialog), what="the question again")
        await pilot.press("y")
        retry = await await_until(lambda: len(jobs_of(app)) == 2 and jobs_of(app)[1], what="the retry")
        await await_until(lambda: retry.state is JobState.STORED, what="the retry stored")
    assert len(api_env.requests) == 2


async def test_clear_finished_jobs_keeps_the_running_one(memory_store_url, api_env):
    api_env.enqueue(Reply.ok(), Reply.delay(30, Reply.ok()))
    app = make_app(memory_store_url, preview="text", concurrency=1)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, filename="done")
        done = (await await_until(lambda: jobs_of(app), what="the first job"))[0]
        await await_until(lambda: done.state is JobState.STORED, what="the first job stored")
        app.screen.query_one("#form").query_one("#filename", Input).value = "slow"
        app.screen.query_one("#form").action_submit()
        slow = await await_until(lambda: len(jobs_of(app)) == 2 and jobs_of(app)[1], what="the second job")
        await await_until(lambda: slow.state is JobState.RUNNING, what="the second job running")
        await pilot.press("j")
        table = app.screen.query_one("#jobs-table", DataTable)
        assert table.row_count == 2
        await pilot.press("f")
        await await_until(lambda: table.row_count == 1, what="the finished row gone")
        assert jobs_of(app) == [slow] and app.screen.active_jobs() == [slow]
        assert app.screen.query_one("#jobs").highlighted is slow


async def test_a_job_waiting_to_retry_counts_down(memory_store_url, api_env):
    api_env.enqueue(Reply.rate_limited(4), Reply.ok())
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, filename="later")
        job = (await await_until(lambda: jobs_of(app), what="the job"))[0]
        table = app.screen.query_one("#jobs-table", DataTable)

        def seconds_left():
            match = re.fullmatch(r"retry in (\d+)s", str(table.get_row(job.id)[2]))
            return int(match.group(1)) if match else None

        first = await await_until(seconds_left, what="the row saying retry in N s")
        await await_until(lambda: (seconds_left() or first) < first, what="the seconds counting down")
        # (when it is sent again depends on the pacing learned from the 429, not on this row)
