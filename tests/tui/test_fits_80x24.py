"""At 80x24 (the README's promise) nothing a new user reads first is cut off or runs together."""

from __future__ import annotations

import pytest
from textual.widgets import Label

from tests.support import await_until
from tests.support.tui import make_app, seed_store, widget_text

pytestmark = pytest.mark.asyncio
SMALL = (80, 24)


async def test_an_empty_store_says_so_within_the_tree(memory_store_url):
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SMALL):
        tree = app.screen.query_one("#tree")
        await await_until(lambda: tree.root.children and "loading" not in str(tree.root.children[0].label),
                          what="the empty listing")
        words = str(tree.root.children[0].label)
        assert "g" in words  # the placeholder says how to start
        shown = widget_text(tree)
        assert words in shown, (words, shown.splitlines()[:2])


async def test_every_form_label_leaves_a_space_before_its_field(memory_store_url):
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("g")
        labels = [label for label in app.screen.query(Label).filter(".form-label") if label.size.width]  # shown
        assert any(str(label.content) == "Variants" for label in labels)
        for label in labels:
            assert len(str(label.content)) < label.size.width, f"{label.content!r} fills its {label.size.width} columns"


async def test_at_80_columns_the_keys_panel_lists_every_key_of_the_image(memory_store_url):
    # The README: the footer cannot hold every key at 80 columns; ctrl+p -> Keys lists them all.
    from rich.console import Console
    from textual.widgets import KeyPanel
    from textual.widgets._key_panel import BindingsTable

    seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    async with app.run_test(size=SMALL) as pilot:
        tree = app.screen.query_one("#tree")
        await await_until(lambda: len(tree.root.children) >= 1, what="posts listed")
        tree.move_cursor(tree.root.children[0])
        await pilot.press("enter")
        await await_until(lambda: tree.root.children[0].children, what="sections listed")
        await pilot.press("down", "enter")
        await await_until(lambda: tree.root.children[0].children[0].children, what="images listed")
        await pilot.press("down")
        await await_until(lambda: app.screen.query_one("#tree").cursor_node.data.__class__.__name__ == "ImageNode",
                          what="an image selected")
        app.action_show_help_panel()
        await pilot.pause()
        console = Console(width=60, record=True)
        console.print(app.screen.query_one(KeyPanel).query_one(BindingsTable).render_bindings_table())
        assert "Publish" in console.export_text()
