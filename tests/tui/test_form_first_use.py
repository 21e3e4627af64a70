"""The Generate form tells before the user works (issue 11, item 4): no key said up front, errors
the form can know shown on their field with the cursor there, ``g`` on the first empty field."""

from __future__ import annotations

import pytest
from textual.widgets import Input, TabbedContent, TextArea

from tests.support import await_until
from tests.support.tui import SIZE, make_app, record_notifications, seed_store, widget_text

pytestmark = pytest.mark.asyncio


def field(app, name: str):
    return app.screen.query_one(f"#{name}")


async def test_no_key_is_said_in_the_form_before_anything_is_typed(memory_store_url, monkeypatch):
    monkeypatch.delenv("OPENAI_AUTH_TOKEN", raising=False)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g")
        hint = field(app, "key-hint")
        assert hint.display
        words = " ".join(widget_text(hint).split())
        assert "No API key" in words and "OPENAI_AUTH_TOKEN" in words and "--api-key" not in words


async def test_the_hint_is_not_there_with_a_key(memory_store_url, api_env):
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g")
        assert not field(app, "key-hint").display


async def test_g_goes_to_the_first_empty_required_field(memory_store_url):
    seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        tree = field(app, "tree")
        await await_until(lambda: len(tree.root.children) == 2, what="posts listed")
        tree.move_cursor(tree.root.children[1])  # post intro: the form gets the post, not a section
        await await_until(lambda: field(app, "post-id").value == "intro", what="the post filled")
        await pilot.press("g")
        assert app.focused is field(app, "section-id")
        field(app, "section-id").value = "1"
        await pilot.press("escape", "g")
        assert app.focused is field(app, "prompt")


async def test_an_empty_section_is_said_on_its_field_and_the_form_stays(memory_store_url, api_env):
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await await_until(lambda: app.screen.store is not None, what="the store open")
        await pilot.press("g")
        field(app, "post-id").value = "4"
        field(app, "prompt").text = "a fox"
        field(app, "prompt").focus()
        await pilot.press("ctrl+s")
        error = field(app, "form-error")
        await await_until(lambda: error.display, what="the message in the form")
        assert "a section id is required" in widget_text(error)
        assert app.focused is field(app, "section-id")
        assert app.screen.query_one(TabbedContent).active == "generate-tab"
    assert api_env.requests == []


async def test_a_taken_name_is_said_on_the_file_field_before_any_job(memory_store_url, api_env):
    seed_store(memory_store_url)  # 53/1 has hero.png
    app = make_app(memory_store_url, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await await_until(lambda: app.screen.store is not None, what="the store open")
        await pilot.press("g")
        for name, value in (("post-id", "53"), ("section-id", "1"), ("filename", "hero")):
            field(app, name).value = value
        prompt = field(app, "prompt")
        assert isinstance(prompt, TextArea)
        prompt.text = "another hero"
        prompt.focus()
        await pilot.press("ctrl+s")
        error = field(app, "form-error")
        await await_until(lambda: error.display, what="the message in the form")
        words = " ".join(widget_text(error).split())
        assert "hero.png already exists" in words and "--filename" not in words
        assert app.focused is field(app, "filename")
        assert app.screen.query_one(TabbedContent).active == "generate-tab"
        assert list(app.screen.query_one("#jobs").jobs) == []
        # A free name goes through.
        field(app, "filename").value = "hero-2"
        await pilot.press("ctrl+s")
        await await_until(lambda: app.screen.query_one("#jobs").jobs, what="the job")
    assert all("--filename" not in note["message"] for note in notes)
    assert len(api_env.requests) <= 1


async def test_reuse_replaces_a_typed_target_on_request(memory_store_url):
    # Reuse is the user's own request to fill the form: it replaces a typed target.
    seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g")
        post = field(app, "post-id")
        assert isinstance(post, Input)
        post.value = "900"
        form = field(app, "form")
        from blog_images_tui.ids import SectionRef

        form.reuse(SectionRef(53, 2), {"prompt": "again", "model": "gpt-image-1"})
        await pilot.pause()
        assert (post.value, field(app, "section-id").value) == ("53", "2")


async def test_a_local_folder_not_there_yet_is_not_shown_as_an_empty_store(tmp_path):
    app = make_app(str(tmp_path / "not-yet"), preview="text")
    async with app.run_test(size=(80, 24)):
        tree = app.screen.query_one("#tree")
        await await_until(lambda: "new folder: g creates it" in widget_text(tree), what="the folder's hint")
        assert "no posts" not in widget_text(tree)
    assert not (tmp_path / "not-yet").exists()  # browsing created nothing


@pytest.mark.s3
async def test_a_missing_bucket_says_so_before_any_work(moto_s3, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3.endpoint_url)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    app = make_app("s3://bucket-that-is-not-there/blog", preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=(80, 24)):
        tree = app.screen.query_one("#tree")
        await await_until(lambda: "bucket not found" in widget_text(tree), timeout=60, what="the bucket's hint")
        error = await await_until(lambda: [n for n in notes if n["severity"] == "error"], what="the error")
        assert "does not exist" in error[0]["message"] and "no posts" not in widget_text(tree)
