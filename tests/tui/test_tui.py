"""Whole flows through the Textual app, driven with Pilot against the fake Images API.

Stores are the memory backend (and S3 through moto once); the API is the fake
server from ``conftest.py``. Waits poll a condition with a deadline, never
``workers.wait_for_complete()``.
"""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable, Input, Select, TabbedContent, TextArea

from blog_images_tui import cli
from blog_images_tui.api import client_settings
from blog_images_tui.ids import SectionRef
from blog_images_tui.jobs import JobState
from blog_images_tui.recovery import keep_for_recovery, list_pending, recovery_root
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import Reply, make_png
from blog_images_tui.tui.app import make_app as make_real_app
from blog_images_tui.tui.dialogs import ConfirmDialog
from blog_images_tui.tui.widgets.store_tree import ImageNode
from tests.support import TEST_KEY, await_until
from tests.support.tui import (
    fill_form,
    highlight_image,
    jobs_of,
    open_section,
    record_notifications,
    seed_store,
    type_text,
    widget_text,
)

pytestmark = pytest.mark.asyncio

SIZE = (120, 40)
# The app's words (it has no --api-key option); the CLI's say "or pass --api-key".
KEY_REQUIRED = "OpenAI API key required: set OPENAI_AUTH_TOKEN (or OPENAI_API_KEY), then start blog-images again"


def make_app(*args, **kwargs):
    """The app from the real factory, with animations off (Pilot waits for every animation)."""
    app = make_real_app(*args, **kwargs)
    app.animation_level = "none"
    return app


def tree_posts(app) -> list[str]:
    return [str(node.label) for node in app.screen.query_one("#tree").root.children]


def palette_hits(app) -> list[str]:
    """The command palette's hits, best first (empty when it is not open)."""
    if not isinstance(app.screen, CommandPalette):
        return []
    hits = app.screen.query_one(CommandList)
    prompts = (hits.get_option_at_index(i).prompt for i in range(hits.option_count))
    return [getattr(prompt, "plain", str(prompt)).split("\n")[0] for prompt in prompts]  # the hit, not its help


# -- browse and preview ---------------------------------------------------------------------
async def test_browse_select_image_shows_preview_and_metadata(memory_store_url):
    seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="halfcell")
    async with app.run_test(size=SIZE) as pilot:
        await await_until(lambda: tree_posts(app) == ["post 53", "post intro"], what="posts listed")
        await open_section(pilot, "post 53", "section 1")
        section = app.screen.query_one("#tree").root.children[0].children[0]
        assert [str(n.label) for n in section.children] == ["hero.png", "second.png"]

        await highlight_image(pilot, "second.png")
        panel = app.screen.query_one("#image-panel")
        preview = panel.query_one("#preview")
        await await_until(lambda: preview.has_picture, what="the picture drawn")
        assert panel.metadata["prompt"] == "The same lighthouse at night"
        await pilot.pause()  # let the details be laid out
        details = widget_text(panel.query_one("#details"))
        for expected in ("The same lighthouse at night", "watercolour", "gpt-image-2", "1792x1024", "high",
                         "2026-11-20 10:00:00 UTC", "content/posts/53/sections/1/raw/second.png"):
            assert expected in details, expected
        # The form follows the tree: post and section are filled in.
        assert app.screen.query_one("#post-id", Input).value == "53"
        assert app.screen.query_one("#section-id", Input).value == "1"
        assert app.screen.query_one(TabbedContent).active == "image-tab"


async def test_refresh_shows_images_added_by_someone_else(memory_store_url):
    store = seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await open_section(pilot, "post 53", "section 2")
        seed_store(memory_store_url, rows=((53, 2, "added-later", "x"), (99, 1, "new-post", "y")))
        assert "post 99" not in tree_posts(app)
        await pilot.press("r")
        await await_until(lambda: "post 99" in tree_posts(app), what="the new post after refresh")
        section = app.screen.query_one("#tree").root.children[0].children[1]
        await await_until(lambda: [str(n.label) for n in section.children] == ["added-later.png", "diagram.png"],
                       what="the new image in the open section")
        assert store.list_posts() == [53, 99, "intro"]


# -- generate -----------------------------------------------------------------------------
async def test_generate_job_appears_then_is_stored_selected_and_previewed(memory_store_url, api_env):
    seed_store(memory_store_url)
    api_env.set_latency(1.5)  # partial images arrive 0.5 s apart: time to draw them
    app = make_app(memory_store_url, preview="halfcell")
    async with app.run_test(size=SIZE) as pilot:
        await await_until(lambda: tree_posts(app), what="posts listed")
        await fill_form(pilot, post="7", section="intro-2", prompt="red fox", filename="fox")
        jobs_list = app.screen.query_one("#jobs")
        table = jobs_list.query_one(DataTable)
        rows_seen = []
        update = jobs_list.update_job

        def spy(job):  # what the jobs list showed, row by row, as it happened
            update(job)
            rows_seen.append(str(table.get_row(job.id)[1]))

        jobs_list.update_job = spy
        await pilot.press("ctrl+s")

        job = (await await_until(lambda: jobs_of(app), what="the job in the jobs list"))[0]
        panel = app.screen.query_one("#image-panel")
        assert panel.following_job == job.id
        # Wait for what the user sees, not for the engine: the engine marks the job stored first and
        # its "stored" event reaches the jobs list a message later (on a loaded machine, much later).
        await await_until(lambda: rows_seen and rows_seen[-1] == "stored", what="the row saying stored")
        assert job.state is JobState.STORED
        # A row shows the job's state when the event is handled: "queued" unless it had already started.
        assert rows_seen[0] in ("queued", "running") and "running" in rows_seen

        # The new post appears in the tree with the image selected and previewed.
        tree = app.screen.query_one("#tree")
        await await_until(lambda: isinstance(tree.cursor_node and tree.cursor_node.data, ImageNode)
                       and tree.cursor_node.data.entry.image_name == "fox.png", what="fox.png selected")
        assert "post 7" in tree_posts(app)
        await await_until(lambda: panel.entry is not None and panel.entry.image_name == "fox.png"
                       and panel.metadata is not None, what="fox.png previewed")
        assert panel.metadata["prompt"] == "red fox"
        assert panel.frames_shown >= 1, "partial images were not shown while the job ran"

    body = api_env.requests[0].body
    assert body["prompt"] == "red fox"
    assert body["size"] == "1792x1024" and body["model"] == "gpt-image-2"
    assert body["stream"] is True and body["partial_images"] == 2
    stored = open_store(memory_store_url).list_images(SectionRef(7, "intro-2"))
    assert [entry.image_name for entry in stored] == ["fox.png"]


async def test_several_jobs_queue_while_one_runs(memory_store_url, api_env):
    api_env.set_latency(0.5)
    app = make_app(memory_store_url, preview="text", concurrency=1)
    async with app.run_test(size=SIZE) as pilot:
        await fill_form(pilot, post="1", section="1", prompt="one", filename="one")
        await pilot.press("ctrl+s")
        form = app.screen.query_one("#form")
        for name in ("two", "three"):  # the form keeps its values: change the name, send again
            # (set and sent directly: Pilot's key presses wait for idle, slow while a job runs)
            form.query_one("#filename", Input).value = name
            form.query_one("#prompt", TextArea).text = f"picture {name}"
            form.action_submit()
        jobs = await await_until(lambda: len(jobs_of(app)) == 3 and jobs_of(app), what="three jobs")
        states = [job.state for job in jobs]
        assert states.count(JobState.RUNNING) <= 1 and JobState.QUEUED in states
        tab = app.screen.query_one(TabbedContent).get_tab("jobs-tab")
        assert "active" in str(tab.label)
        await await_until(lambda: all(job.state is JobState.STORED for job in jobs), timeout=60,
                       what="all three stored")
        assert api_env.max_concurrent == 1
    names = [e.image_name for e in open_store(memory_store_url).list_images(SectionRef(1, 1))]
    assert names == ["one.png", "three.png", "two.png"]


async def test_rejected_prompt_notifies_with_the_cli_words(memory_store_url, api_env, capsys):
    message = "Your request was rejected as a result of our safety system."
    api_env.enqueue(Reply.error(400, code="content_policy_violation", message=message))
    app = make_app(memory_store_url, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await fill_form(pilot, post="3", section="1", prompt="refused")
        await pilot.press("ctrl+s")
        job = (await await_until(lambda: jobs_of(app), what="the job"))[0]
        await await_until(lambda: job.state is JobState.FAILED, what="the job failed")
        errors = await await_until(lambda: [n for n in notes if n["severity"] == "error"], what="a notification")
        await pilot.press("j")
        details = widget_text(app.screen.query_one("#job-details"))
    assert errors[0]["title"] == "Rejected by the API"
    assert errors[0]["message"] == str(job.error)
    assert errors[0]["message"].startswith("the prompt was rejected by the content policy: " + message)
    assert "Rejected by the API" in details and "content policy" in details

    # The CLI says the very same thing for the same answer (request ids differ).
    api_env.enqueue(Reply.error(400, code="content_policy_violation", message=message))
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, ["generate", "--store", memory_store_url, "--prompt",
                                              "refused", "--post-id", "3", "--section-id", "1"])
    cli_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 4
    strip_ids = lambda text: re.sub(r"req_[0-9a-f]+", "req_X", text)  # noqa: E731
    assert strip_ids(cli_line) == "error: " + strip_ids(errors[0]["message"])


async def test_wrong_key_is_never_shown(memory_store_url, api_env):
    wrong = "sk-wrong-SECRETVALUE-0123456789"
    settings = client_settings(wrong, api_env.base_url)
    app = make_app(memory_store_url, preview="text", settings=settings)
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await fill_form(pilot, post="3", section="1", prompt="x")
        await pilot.press("ctrl+s")
        job = (await await_until(lambda: jobs_of(app), what="the job"))[0]
        await await_until(lambda: job.state is JobState.FAILED, what="the job failed")
        await await_until(lambda: notes, what="a notification")
        await pilot.press("j")
        shown = app.export_screenshot()
    assert notes[-1]["title"] == "Authentication"
    assert "authentication failed" in notes[-1]["message"]
    assert all(wrong not in note["message"] for note in notes)
    assert wrong not in shown and TEST_KEY not in shown


async def test_opens_without_a_key_and_generate_says_a_key_is_required(memory_store_url, api_env, monkeypatch):
    monkeypatch.delenv("OPENAI_AUTH_TOKEN")
    seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await await_until(lambda: tree_posts(app) == ["post 53", "post intro"], what="browsing works")
        await fill_form(pilot, post="53", section="1", prompt="a cat")
        await pilot.press("ctrl+s")
        await await_until(lambda: notes, what="a notification")
        assert jobs_of(app) == []
    assert notes[-1] == {"message": KEY_REQUIRED, "title": "Authentication", "severity": "error"}
    assert api_env.requests == []


async def test_cancel_a_running_job(memory_store_url, api_env):
    api_env.enqueue(Reply.delay(30, Reply.ok()))  # cancelled long before
    app = make_app(memory_store_url, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await fill_form(pilot, post="5", section="1", prompt="slow", filename="slow")
        await pilot.press("ctrl+s")
        job = (await await_until(lambda: jobs_of(app), what="the job"))[0]
        await await_until(lambda: api_env.requests, what="the request sent")
        assert job.state is JobState.RUNNING
        await pilot.press("j")
        table = app.screen.query_one("#jobs-table", DataTable)
        assert app.focused is table
        await pilot.press("x")
        await await_until(lambda: job.state is JobState.CANCELLED, what="the job cancelled")
        await await_until(lambda: any(n["title"] == "Cancelled" for n in notes), what="a notification")
        assert str(table.get_row(job.id)[1]) == "cancelled"
    assert open_store(memory_store_url).list_images(SectionRef(5, 1)) == []


async def test_bad_id_is_refused_as_you_type_and_on_submit(memory_store_url, api_env):
    app = make_app(memory_store_url, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await fill_form(pilot, post="../etc", section="1", prompt="a cat", typed=True)
        error = app.screen.query_one("#form-error")
        assert error.display and "invalid post id '../etc'" in widget_text(error)
        assert app.screen.query_one("#post-id", Input).has_class("-invalid")
        # Sending is refused on the field itself (the cursor put there), not in a notification over the form.
        app.screen.query_one("#prompt").focus()
        await pilot.press("ctrl+s")
        await await_until(lambda: app.focused is app.screen.query_one("#post-id"), what="the cursor on the post id")
        assert "invalid post id '../etc'" in widget_text(error)
        assert jobs_of(app) == [] and notes == []

        # Fixing it clears the message as you type.
        field = app.screen.query_one("#post-id", Input)
        field.focus()
        field.value = ""
        await type_text(pilot, "etc")
        await await_until(lambda: not app.screen.query_one("#form-error").display, what="the message cleared")
    assert api_env.requests == []


async def test_model_choice_changes_sizes_and_qualities(memory_store_url):
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g")
        size = app.screen.query_one("#size", Select)
        quality = app.screen.query_one("#quality", Select)
        assert size.value == "1792x1024"
        app.screen.query_one("#model", Select).value = "gpt-image-1.5"
        # this model has fixed sizes without 1792x1024
        await await_until(lambda: size.value == "1536x1024", what="the size of the new model")
        assert [value for _, value in size._options if value is not Select.NULL] == \
            ["1024x1024", "1536x1024", "1024x1536", "auto"]
        quality.value = "low"
        app.screen.query_one("#model", Select).value = "dall-e-3"
        # "low" is not a dall-e-3 quality
        await await_until(lambda: quality.value is Select.NULL, what="the quality cleared")
        assert app.screen.query_one("#format", Select).value == "png"


# -- templates and cost ----------------------------------------------------------------------------
PROJECT_TEMPLATES = """\
[templates.hero]
description = "Wide header image for a post"
prompt = "STYLE: {style}. SUBJECT: {subject}."
vars = { style = "flat vector illustration" }

[templates.diagram]
prompt = "A diagram of {topic}."
"""


def with_project_file(url: str, text: str = PROJECT_TEMPLATES):
    """A store whose project file (``blog-images.toml`` at its root) holds ``text``."""
    store = open_store(url)
    store.write_new("blog-images.toml", text.encode(), "application/toml")
    return store


def form_text(app, widget_id: str) -> str:
    return widget_text(app.screen.query_one(f"#{widget_id}"))


async def test_template_picker_fills_the_prompt_and_names_a_missing_variable(memory_store_url, api_env,
                                                                             monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no blog-images.toml of the working folder: only the store's
    store = with_project_file(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        form = app.screen.query_one("#form")
        picker = app.screen.query_one("#template", Select)
        await await_until(lambda: not picker.disabled, what="templates loaded")
        await pilot.press("g")
        assert app.focused is app.screen.query_one("#post-id")
        await type_text(pilot, "9")
        await pilot.press("tab")
        await type_text(pilot, "2")
        # By keyboard: tab to the picker, open it, down past "none" and "diagram" to "hero".
        await pilot.press("tab")
        assert app.focused is picker
        await pilot.press("enter", "down", "down", "enter")
        style = await await_until(lambda: form.query("#var-style").results(Input) and form.query_one(
            "#var-style", Input), what="an input per variable")
        subject = form.query_one("#var-subject", Input)
        assert style.value == "flat vector illustration" and subject.value == ""
        prompt = form.query_one("#prompt", TextArea)
        # The inputs are in the form a moment before they are mounted and the prompt is filled.
        await await_until(lambda: prompt.text == "STYLE: flat vector illustration. SUBJECT: {subject}.",
                       what="the prompt filled, the missing variable left as {subject}")
        core_words = "template 'hero' needs variable 'subject': give --var subject=..."
        help_line = app.screen.query_one("#template-help")
        await await_until(lambda: core_words in " ".join(form_text(app, "template-help").split()),
                       what="the missing variable named inline")
        assert help_line.has_class("-error")

        # Sending refuses, in the core's words on the help line, and puts the cursor where the value is missing.
        await pilot.press("ctrl+s")
        await await_until(lambda: app.focused is subject, what="the cursor on the missing variable")
        assert core_words in " ".join(form_text(app, "template-help").split())
        assert jobs_of(app) == [] and notes == []

        await type_text(pilot, "a red fox")
        await await_until(lambda: prompt.text == "STYLE: flat vector illustration. SUBJECT: a red fox.",
                       what="the prompt rendered")
        assert not help_line.has_class("-error")
        assert "Wide header image for a post" in form_text(app, "template-help")
        await pilot.press("ctrl+s")
        job = (await await_until(lambda: jobs_of(app), what="the job"))[0]
        await await_until(lambda: job.state is JobState.STORED, what="the job stored")
    assert api_env.requests[0].body["prompt"] == "STYLE: flat vector illustration. SUBJECT: a red fox."
    # The message shown is the core's own, word for word.
    from blog_images_tui.config import load_config
    from blog_images_tui.errors import BadInput

    with pytest.raises(BadInput) as refused:
        load_config(store).templates["hero"].render({})
    assert str(refused.value) == core_words


async def test_choosing_another_template_or_none_and_a_hand_edited_prompt(memory_store_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with_project_file(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        form = app.screen.query_one("#form")
        picker = app.screen.query_one("#template", Select)
        await await_until(lambda: not picker.disabled, what="templates loaded")
        await pilot.press("g")
        prompt = form.query_one("#prompt", TextArea)
        picker.value = "diagram"
        await await_until(lambda: prompt.text == "A diagram of {topic}.", what="the diagram's prompt")
        assert [f.id for f in form.query(".template-var").results(Input)] == ["var-topic"]
        form.query_one("#var-topic", Input).value = "the build"
        await await_until(lambda: prompt.text == "A diagram of the build.", what="the prompt rendered")
        # Refresh reads the templates again: the same template stays chosen, with what was typed.
        loads = []
        real_set_templates = form.set_templates
        form.set_templates = lambda *args: loads.append(1) or real_set_templates(*args)
        app.screen.action_refresh()
        await await_until(lambda: loads, what="the templates read again")
        await pilot.pause()
        assert picker.value == "diagram" and form.query_one("#var-topic", Input).value == "the build"
        assert prompt.text == "A diagram of the build."
        # Back to none: the variables go, the prompt stays for editing.
        picker.clear()
        await await_until(lambda: not form.query(".template-var"), what="the variables gone")
        assert prompt.text == "A diagram of the build." and not form_text(app, "template-help").strip()

        # A prompt edited by hand after the template filled it is the user's: sent as it is.
        picker.value = "diagram"
        await await_until(lambda: prompt.text == "A diagram of {topic}.", what="the template again")
        prompt.text = "A diagram, by hand"
        form.query_one("#post-id", Input).value = "1"
        form.query_one("#section-id", Input).value = "1"
        assert form.template_problem() is None
        assert form.build_request().prompt == "A diagram, by hand"


async def test_no_templates_and_an_unreadable_template_file(memory_store_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    broken = memory_store_url + "-broken"
    with_project_file(broken, "[templates.hero]\nprompt = 'STYLE: {style'\n")
    app = make_app(memory_store_url, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        picker = app.screen.query_one("#template", Select)
        await await_until(lambda: picker.prompt == "none found", what="no templates")
        assert picker.disabled and "blog-images.toml" in str(picker.tooltip)
        app.screen.switch_store(broken)
        await await_until(lambda: picker.prompt == "unreadable", what="the broken file reported")
        assert picker.disabled
        error = await await_until(lambda: [n for n in notes if n["severity"] == "error"], what="a notification")
        assert error[0]["title"] == "Bad input" and "blog-images.toml" in error[0]["message"]
        await pilot.press("g")  # still a working app
        assert app.screen.query_one(TabbedContent).active == "generate-tab"


async def test_config_defaults_start_the_form_and_a_choice_made_stays(memory_store_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with_project_file(memory_store_url, '[defaults]\nmodel = "gpt-image-1"\nsize = "1024x1024"\nquality = "low"\n')
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g")
        form = app.screen.query_one("#form")
        model, size, quality = (form.query_one(f"#{name}", Select) for name in ("model", "size", "quality"))
        await await_until(lambda: (model.value, size.value, quality.value) == ("gpt-image-1", "1024x1024", "low"),
                       what="the project's defaults in the form")
        await await_until(lambda: form_text(app, "cost").strip() == "$0.011 (list price)", what="their price")
        quality.value = "high"
        loads = []
        real_apply = form.apply_defaults
        form.apply_defaults = lambda defaults: loads.append(1) or real_apply(defaults)
        app.screen.action_refresh()  # reads the config again
        await await_until(lambda: loads, what="the defaults read again")
        assert quality.value == "high"  # the user's choice, not the file's


async def test_cost_beside_generate_follows_model_size_and_quality(memory_store_url):
    from blog_images_tui.generation import ImageRequest
    from blog_images_tui.pricing import estimate

    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g")
        form = app.screen.query_one("#form")
        cost = lambda: form_text(app, "cost").strip()  # noqa: E731
        expected = estimate(ImageRequest(prompt="", section=SectionRef(1, 1), model="gpt-image-2", size="1792x1024"))
        assert expected.basis == "estimate" and expected.usd
        await await_until(lambda: cost() == f"~${expected.usd:.3f} (estimate)", what="the default's estimate")

        form.query_one("#model", Select).value = "gpt-image-1"
        await await_until(lambda: form.query_one("#size", Select).value == "1536x1024", what="sizes of gpt-image-1")
        form.query_one("#size", Select).value = "1024x1024"
        form.query_one("#quality", Select).value = "low"
        await await_until(lambda: cost() == "$0.011 (list price)", what="the published price")
        form.query_one("#quality", Select).value = "high"
        await await_until(lambda: cost() == "$0.167 (list price)", what="the price of high quality")
        # By keyboard: the quality picker back to "default" (auto: priced as high, an upper bound).
        form.query_one("#quality", Select).focus()
        await pilot.press("enter", "home", "enter")
        await await_until(lambda: cost() == "~$0.167 (estimate)", what="auto priced as an estimate")
        assert "upper bound" in str(form.query_one("#cost").tooltip)

        # A model without a known price: never $0.
        form.query_one("#model", Select).value = "gpt-image-2.5-flare"
        await await_until(lambda: cost() == "cost unknown", what="an unknown cost")


# -- image actions ----------------------------------------------------------------------------
async def test_reuse_copy_and_delete_an_image(memory_store_url):
    store = seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await open_section(pilot, "post 53", "section 1")
        await highlight_image(pilot, "hero.png")

        await pilot.press("c")
        assert app.clipboard.endswith("content/posts/53/sections/1/raw/hero.png")

        await pilot.press("u")
        assert app.screen.query_one(TabbedContent).active == "generate-tab"
        assert app.screen.query_one("#prompt", TextArea).text == "A lighthouse at dawn over a calm sea"
        assert app.screen.query_one("#quality", Select).value == "high"
        assert app.screen.query_one("#filename", Input).value == ""

        await pilot.press("escape")
        await highlight_image(pilot, "hero.png")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        assert store.list_images(SectionRef(53, 1))[0].image_name == "hero.png"

        await pilot.press("d")
        await pilot.press("y")
        await await_until(lambda: any(n["title"] == "Deleted" for n in notes), what="deleted")
        section = app.screen.query_one("#tree").root.children[0].children[0]
        await await_until(lambda: [str(n.label) for n in section.children] == ["second.png"],
                       what="hero.png gone from the tree")
    assert [entry.image_name for entry in store.list_images(SectionRef(53, 1))] == ["second.png"]
    assert "hero_metadata.json" not in store.list_raw_names(SectionRef(53, 1))


# -- stores --------------------------------------------------------------------------------------
async def test_switch_store_from_the_command_palette(memory_store_url):
    seed_store(memory_store_url)
    other = "memory://b" + memory_store_url[-4:]  # short: it is typed key by key
    seed_store(other, rows=((200, 1, "elsewhere", "another blog"),))
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await await_until(lambda: tree_posts(app) == ["post 53", "post intro"], what="first store")
        await pilot.press("ctrl+p")
        await type_text(pilot, other)
        # The palette searches in a worker: wait for its hit for the whole URL before pressing enter.
        await await_until(lambda: palette_hits(app)[:1] == [f"Open store {other}"], what="the Open store hit")
        await pilot.press("enter")
        await await_until(lambda: tree_posts(app) == ["post 200"], what="the other store's posts")
        tree = app.screen.query_one("#tree")
        assert other in tree.border_title
        assert app.screen.store.url == other
        # And back, through the dialog of the "Switch store…" command.
        app.screen.action_switch_store()
        await pilot.pause()
        dialog_input = app.screen.query_one("#store-url", Input)
        dialog_input.value = memory_store_url
        await pilot.press("enter")
        await await_until(lambda: tree_posts(app) == ["post 53", "post intro"], what="back to the first store")
        assert app.recent_stores == [other, memory_store_url]  # most recent last


def keep_one_for_recovery(store_url: str):
    return keep_for_recovery(store_url=store_url, store_options={}, section=SectionRef(1, 2), filename="kept",
                             output_format="png", image=make_png(8, 8), metadata={"prompt": "x"},
                             reason="the image was generated but the store refused it")


async def test_waiting_recoveries_are_counted_at_start_and_on_store_switch(memory_store_url):
    keep_one_for_recovery(memory_store_url)
    keep_one_for_recovery("s3://another-bucket/blog")  # any store's images count
    other = memory_store_url + "-other"
    app = make_app(memory_store_url, preview="text")
    notes = record_notifications(app)
    waiting = lambda: [n for n in notes if n["title"] == "Images waiting"]  # noqa: E731
    async with app.run_test(size=SIZE):
        tree = app.screen.query_one("#tree")
        await await_until(lambda: tree.border_subtitle == "⚠ 2 to recover", what="the indicator")
        await await_until(waiting, what="the start-up notification")  # the app's own, once

        app.screen.switch_store(other)
        await await_until(lambda: len(waiting()) == 2, what="a notification on the switch")
        assert waiting()[-1] == {"severity": "warning", "title": "Images waiting", "message":
                                 f"2 generated image(s) waiting in {recovery_root()}: run `blog-images recover`"}

        for pending in list_pending():  # as `blog-images recover` would
            shutil.rmtree(pending.folder)
        app.screen.switch_store(memory_store_url)
        await await_until(lambda: app.screen.store.url == memory_store_url and tree.border_subtitle == "",
                       what="the indicator gone")
        assert len(waiting()) == 2  # nothing waits: nothing said


async def test_unusable_store_is_a_notification_not_a_crash(memory_store_url):
    app = make_app(memory_store_url, store_options={"bogus": "1"}, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE):
        await await_until(lambda: notes, what="a notification")
        assert notes[0]["title"] == "Bad input"
        assert notes[0]["message"].startswith("unknown store option(s) for memory: bogus")
        assert "no store open" in str(app.screen.query_one("#tree").root.children[0].label)
        # Still usable: switch to a working store.
        app.screen.switch_store(memory_store_url + "-ok")
        await await_until(lambda: app.screen.store is not None, what="a store open")


async def test_unreachable_store_says_what_the_cli_says_and_stays_usable(tmp_path, capsys):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("not a store")
    app = make_app(str(not_a_folder), preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await await_until(lambda: notes, what="a notification")
        assert "cannot list" in str(app.screen.query_one("#tree").root.children[0].label)
        await pilot.press("g")  # still a working app
        assert app.screen.query_one(TabbedContent).active == "generate-tab"
    assert notes[0]["title"] == "Store unusable" and notes[0]["severity"] == "error"
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, ["ls", "--store", str(not_a_folder)]) == 6
    assert capsys.readouterr().err.strip() == "error: " + notes[0]["message"]


async def test_a_store_that_comes_back_takes_the_next_job(tmp_path, api_env):
    root = tmp_path / "static"
    root.write_text("a file where the store folder should be")
    app = make_app(str(root), preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await fill_form(pilot, post="4", section="1", prompt="first", filename="first")
        await pilot.press("ctrl+s")
        first = (await await_until(lambda: jobs_of(app), what="the first job"))[0]
        await await_until(lambda: first.state is JobState.FAILED, what="the first job failed")
        assert first.error.title == "Store unusable" and api_env.requests == []

        root.unlink()
        root.mkdir()  # the store is back
        form = app.screen.query_one("#form")
        form.query_one("#filename", Input).value = "second"
        form.action_submit()
        second = await await_until(lambda: len(jobs_of(app)) == 2 and jobs_of(app)[1], what="the second job")
        await await_until(lambda: second.state is JobState.STORED, what="the second job stored")
    assert (root / "content/posts/4/sections/1/raw/second.png").is_file()


async def test_rate_limit_is_retried_then_reported(memory_store_url, api_env):
    api_env.enqueue(*[Reply.rate_limited(0) for _ in range(3)])  # the first try and both retries
    app = make_app(memory_store_url, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await fill_form(pilot, post="3", section="1", prompt="busy")
        await pilot.press("ctrl+s")
        job = (await await_until(lambda: jobs_of(app), what="the job"))[0]
        await await_until(lambda: job.state is JobState.FAILED, what="the job failed")
        await await_until(lambda: notes, what="a notification")
    assert len(api_env.requests) == 3
    assert notes[-1]["title"] == "Temporary failure"
    assert notes[-1]["message"] == str(job.error) and notes[-1]["message"].startswith("rate limited")


@pytest.mark.s3
async def test_s3_store_browse_and_generate(s3_store_url, api_env):
    store = seed_store(s3_store_url)
    app = make_app(s3_store_url, preview="halfcell")
    async with app.run_test(size=SIZE) as pilot:
        await await_until(lambda: tree_posts(app) == ["post 53", "post intro"], what="S3 posts")
        await open_section(pilot, "post intro", "section 1")
        await highlight_image(pilot, "cover.png")
        panel = app.screen.query_one("#image-panel")
        assert panel.image_path.startswith("s3://") and panel.image_path.endswith("/intro/sections/1/raw/cover.png")
        await await_until(lambda: panel.query_one("#preview").has_picture, what="the S3 picture drawn")

        await fill_form(pilot, post="intro", section="1", prompt="closed", filename="closed")
        await pilot.press("ctrl+s")
        job = (await await_until(lambda: jobs_of(app), what="the job"))[0]
        await await_until(lambda: job.state is JobState.STORED, timeout=60, what="stored on S3")
        await await_until(lambda: panel.entry is not None and panel.entry.image_name == "closed.png",
                       what="the new S3 image previewed")
    names = [entry.image_name for entry in store.list_images(SectionRef("intro", 1))]
    assert names == ["closed.png", "cover.png"]


# -- quitting -----------------------------------------------------------------------------------
async def test_quit_with_a_running_job_asks_first(memory_store_url, api_env):
    api_env.enqueue(Reply.delay(30, Reply.ok()))  # cancelled long before
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await fill_form(pilot, post="5", section="1", prompt="slow", filename="slow")
        await pilot.press("ctrl+s")
        job = (await await_until(lambda: jobs_of(app), what="the job"))[0]
        await await_until(lambda: job.state is JobState.RUNNING, what="running")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        assert app.is_running and job.state is JobState.RUNNING
        await pilot.press("ctrl+q")
        await pilot.press("y")
        # The app is exiting: await_until polls with plain sleeps, never a pilot pause.
        await await_until(lambda: job.state is JobState.CANCELLED and not app.is_running,
                       what="the job cancelled and the app gone")
