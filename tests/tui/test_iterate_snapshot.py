"""A snapshot of the variants view at 80x24 (pytest-textual-snapshot).

Deterministic: a fixed memory store (three variants of one group with fixed
metadata, half-block previews of the same small PNG), animations off,
notifications cleared. Update with ``--snapshot-update`` and look at the SVG.
"""

from __future__ import annotations

from blog_images_tui.ids import SectionRef
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import make_png
from blog_images_tui.tui.app import make_app
from blog_images_tui.tui.screens.variants import VariantsScreen
from tests.support import await_until
from tests.support.tui import fixed_metadata, highlight_image, open_section, wipe_memory_store


def variants_app(url: str):
    wipe_memory_store(url)
    store = open_store(url)
    for index in (1, 2, 3):
        metadata = {**fixed_metadata(53, 1, "A lighthouse at dawn"), "variant": index, "variants": 3,
                    "group_id": "0123456789abcdef", "requested": 3, "received": 3}
        store.save(SectionRef(53, 1), f"cand-{index}", "png", make_png(96, 54), metadata)
    app = make_app(url, preview="halfcell")
    app.animation_level = "none"
    return app


def test_variants_side_by_side_at_80x24(snap_compare, tmp_path, monkeypatch):
    monkeypatch.setenv("BLOG_IMAGES_CACHE_DIR", str(tmp_path / "thumbs"))
    app = variants_app("memory://snapshot-variants")

    async def run_before(pilot):
        await pilot.pause()  # run_before starts before the screen is composed
        await open_section(pilot, "post 53", "section 1")
        await highlight_image(pilot, "cand-1.png")
        await pilot.press("v")
        screen = await await_until(lambda: isinstance(pilot.app.screen, VariantsScreen) and pilot.app.screen,
                                what="the variants screen")
        await await_until(lambda: len(screen.drawn) == 3, what="three thumbnails")
        await pilot.press("right")
        pilot.app.clear_notifications()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
