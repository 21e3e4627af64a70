"""The app saves the template it filled the prompt from, with its variables (issue 11, item 8)."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select

from blog_images_tui.ids import SectionRef
from blog_images_tui.jobs import JobState
from blog_images_tui.storage import open_store
from tests.support import await_until
from tests.support.tui import SIZE, jobs_of, make_app

pytestmark = pytest.mark.asyncio


async def test_a_prompt_from_the_picker_keeps_its_template_in_the_metadata(memory_store_url, api_env, monkeypatch,
                                                                           tmp_path):
    monkeypatch.chdir(tmp_path)
    store = open_store(memory_store_url)
    store.write_new("blog-images.toml", b'[templates.diagram]\nprompt = "A diagram of {topic}."\n',
                    "application/toml")
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        picker = app.screen.query_one("#template", Select)
        await await_until(lambda: not picker.disabled, what="templates loaded")
        await pilot.press("g")
        form = app.screen.query_one("#form")
        for name, value in (("post-id", "7"), ("section-id", "1"), ("filename", "build")):
            form.query_one(f"#{name}", Input).value = value
        picker.value = "diagram"
        topic = await await_until(lambda: form.query("#var-topic") and form.query_one("#var-topic", Input),
                                  what="the variable's input")
        topic.value = "the build"
        await await_until(lambda: form.query_one("#prompt").text == "A diagram of the build.", what="the prompt")
        form.action_submit()
        job = (await await_until(lambda: jobs_of(app), what="the job"))[0]
        await await_until(lambda: job.state is JobState.STORED, what="stored")
    metadata = store.read_metadata(SectionRef(7, 1), "build")
    assert metadata["template"] == {"name": "diagram", "vars": {"topic": "the build"}}
