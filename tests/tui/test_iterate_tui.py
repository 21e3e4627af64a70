"""The app's edit mode, variants view and lineage jump, with Pilot, the fake Images API and real stores."""

from __future__ import annotations

import pytest
from textual.widgets import Select, TextArea

from blog_images_tui.generation import ClientSettings, ImageGenerator, ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.secrets import ApiKey
from blog_images_tui.service import create_into_store
from blog_images_tui.storage import open_store
from blog_images_tui.tui.app import make_app as make_real_app
from blog_images_tui.tui.dialogs import ConfirmDialog
from blog_images_tui.tui.screens.variants import VariantsScreen
from tests.support import TEST_KEY, await_until
from tests.support.tui import highlight_image, open_section, record_notifications, seed_store, widget_text

pytestmark = pytest.mark.asyncio

SIZE = (120, 40)
SECTION = SectionRef(53, 1)


def make_app(*args, **kwargs):
    app = make_real_app(*args, **kwargs)
    app.animation_level = "none"
    return app


async def make_variants(fake, store, n=3, name="cand"):
    async with ImageGenerator(ClientSettings(api_key=ApiKey(TEST_KEY, "test"), base_url=fake.base_url)) as gen:
        return await create_into_store(ImageRequest(prompt="a lighthouse", section=SECTION, filename=name, n=n,
                                                    size="1024x1024"), store, gen)


async def test_e_opens_the_form_in_edit_mode_and_an_edit_with_variants_lands(api_env, local_store_url):
    seed_store(local_store_url)
    app = make_app(local_store_url, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await open_section(pilot, "post 53", "section 1")
        await highlight_image(pilot, "hero.png")
        await pilot.press("e")
        form = app.screen.query_one("#form")
        assert form.edit_fields.display and form.edit_fields.source.image_name == "hero.png"
        assert "53/1/hero.png" in str(form.query_one("#edit-source").render())
        assert form.query_one("#prompt", TextArea).text == "A lighthouse at dawn over a calm sea"
        form.query_one("#prompt", TextArea).text = "The same lighthouse, at night"
        form.query_one("#variants", Select).value = 2
        form.query_one("#size", Select).value = "1024x1024"
        await pilot.press("ctrl+s")
        await await_until(lambda: any(n["title"] == "Image stored" for n in notes), what="the edit stored")
    sent = api_env.requests[-1]
    assert sent.path.endswith("/images/edits") and sent.body["n"] == "2"
    assert sent.body["prompt"] == "The same lighthouse, at night"
    store = open_store(local_store_url)
    edited = [e for e in store.list_images(SECTION) if e.filename not in ("hero", "second")]
    assert len(edited) == 2
    meta = store.read_metadata(SECTION, edited[0].filename)
    assert meta["operation"] == "edit" and meta["source"]["name"] == "hero" and meta["variants"] == 2


async def test_a_bad_mask_in_the_form_is_refused_before_anything_is_sent(api_env, memory_store_url, tmp_path):
    seed_store(memory_store_url)
    mask = tmp_path / "mask.png"
    mask.write_bytes(b"not a png")
    app = make_app(memory_store_url, preview="text")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await open_section(pilot, "post 53", "section 1")
        await highlight_image(pilot, "hero.png")
        await pilot.press("e")
        app.screen.query_one("#mask").value = str(mask)
        await pilot.press("ctrl+s")
        await await_until(lambda: any(n["severity"] == "error" for n in notes), what="the mask refused")
    assert "not a usable image" in next(n["message"] for n in notes if n["severity"] == "error")
    assert api_env.requests == []


async def test_variants_side_by_side_keep_one_and_delete_the_rest(api_env, s3_store_url, tmp_path, monkeypatch):
    monkeypatch.setenv("BLOG_IMAGES_CACHE_DIR", str(tmp_path / "thumbs"))
    store = open_store(s3_store_url)
    await make_variants(api_env, store)
    app = make_app(s3_store_url, preview="halfcell")
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await open_section(pilot, "post 53", "section 1")
        await highlight_image(pilot, "cand-1.png")
        await pilot.press("v")
        screen = await await_until(lambda: isinstance(app.screen, VariantsScreen) and app.screen,
                                what="the variants screen")
        await await_until(lambda: len(screen.drawn) == 3, what="three thumbnails")
        assert [tile.entry.image_name for tile in screen.tiles] == ["cand-1.png", "cand-2.png", "cand-3.png"]
        assert screen.selected.image_name == "cand-1.png"
        await pilot.press("right")
        assert screen.selected.image_name == "cand-2.png"
        made = app.thumbnails.made
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        assert isinstance(app.screen, VariantsScreen)
        await pilot.press("k")
        await pilot.press("y")
        await await_until(lambda: any(n["title"] == "Deleted" for n in notes), what="the rest deleted")
        # again: the thumbnail of the one kept comes from the cache, nothing is made twice
        await highlight_image(pilot, "cand-2.png")
        await pilot.press("v")
        screen = await await_until(lambda: isinstance(app.screen, VariantsScreen) and app.screen,
                                what="the variants screen again")
        await await_until(lambda: screen.drawn == {"cand-2.png"}, what="one thumbnail")
        assert app.thumbnails.made == made
        await pilot.press("escape")
    assert [entry.filename for entry in store.list_images(SECTION)] == ["cand-2"]


async def test_an_edited_image_shows_its_source_and_s_jumps_to_it(api_env, memory_store_url):
    from blog_images_tui.editing import EditOptions, plan_edit

    store = seed_store(memory_store_url)
    request = plan_edit(store, "53/1/hero", EditOptions(prompt="at night", filename="night",
                                                        section=SectionRef(53, 2)))
    async with ImageGenerator(ClientSettings(api_key=ApiKey(TEST_KEY, "test"), base_url=api_env.base_url)) as gen:
        await create_into_store(request, store, gen)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SIZE) as pilot:
        await open_section(pilot, "post 53", "section 2")
        await highlight_image(pilot, "night.png")
        details = await await_until(lambda: "s: go to it" in widget_text(app.screen.query_one("#details"))
                                 and widget_text(app.screen.query_one("#details")), what="the source shown")
        assert "53/1/hero" in details and "s: go to it" in details
        await pilot.press("s")
        panel = app.screen.query_one("#image-panel")
        await await_until(lambda: panel.entry is not None and panel.entry.image_name == "hero.png"
                       and panel.entry.section == SECTION, what="the source selected")
