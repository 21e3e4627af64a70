"""Helpers shared by the TUI tests (no tests here): a fixed store, waiting on the app, reading the screen."""

from __future__ import annotations

from typing import Any

from fsspec.implementations.memory import MemoryFileSystem
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Input, TextArea

from blog_images_tui.ids import SectionRef
from blog_images_tui.storage import Store, open_store
from blog_images_tui.testing.fake_images_api import make_png
from blog_images_tui.tui.app import make_app as make_real_app
from tests.support import await_until

#: (post, section, filename, prompt): the fixed contents of every seeded store.
SEED = (
    (53, 1, "hero", "A lighthouse at dawn over a calm sea"),
    (53, 1, "second", "The same lighthouse at night"),
    (53, 2, "diagram", "A flow chart of the build"),
    ("intro", 1, "cover", "An open notebook on a wooden desk"),
)


def fixed_metadata(post, section, prompt: str) -> dict[str, Any]:
    return {
        "post_id": post, "section_id": section, "prompt": prompt, "image_path": "set by the store",
        "generated_at": "2026-11-20T10:00:00+00:00", "model": "gpt-image-2", "size": "1792x1024",
        "revised_prompt": f"{prompt}, watercolour", "quality": "high", "output_format": "png",
        "width": 96, "height": 54, "bytes": 0,
    }


def seed_store(url: str, rows=SEED) -> Store:
    """Write the fixed images (small real PNGs) and metadata through the core's Store."""
    store = open_store(url)
    for post, section, name, prompt in rows:
        store.save(SectionRef(post, section), name, "png", make_png(96, 54), fixed_metadata(post, section, prompt))
    return store


def wipe_memory_store(url: str) -> None:
    """The memory filesystem is one tree per process: clear a fixed root before reuse."""
    fs = MemoryFileSystem()
    root = MemoryFileSystem._strip_protocol(url)
    if fs.exists(root):
        fs.rm(root, recursive=True)


def record_notifications(app) -> list[dict[str, Any]]:
    """Every notification the app shows, with its title and severity (toasts expire, this does not)."""
    seen: list[dict[str, Any]] = []
    original = app.notify

    def notify(message, *, title="", severity="information", timeout=None, markup=True):
        seen.append({"message": str(message), "title": title, "severity": severity})
        return original(message, title=title, severity=severity, timeout=timeout, markup=markup)

    app.notify = notify
    return seen


def widget_text(widget: Widget) -> str:
    """The plain text a widget renders right now."""
    width, height = widget.size
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, width, height)))


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[("space" if ch == " " else ch) for ch in text])


async def open_section(pilot, post_label: str, section_label: str) -> None:
    """Expand a post and one of its sections in the tree, with the keyboard."""
    tree = pilot.app.screen.query_one("#tree")
    tree.focus()
    await await_until(lambda: any(str(n.label) == post_label for n in tree.root.children),
                   what=f"{post_label} in the tree")
    post = next(n for n in tree.root.children if str(n.label) == post_label)
    tree.move_cursor(post)
    await pilot.press("enter")
    await await_until(lambda: any(str(n.label) == section_label for n in post.children),
                   what=f"{section_label} under {post_label}")
    section = next(n for n in post.children if str(n.label) == section_label)
    tree.move_cursor(section)
    await pilot.press("enter")
    await await_until(lambda: section.children and section.children[0].data is not None,
                   what=f"images of {section_label}")


async def highlight_image(pilot, name: str) -> None:
    tree = pilot.app.screen.query_one("#tree")
    node = await await_until(lambda: next((n for n in _walk(tree.root) if str(n.label).startswith(name)), None),
                          what=f"{name} in the tree")
    tree.move_cursor(node)
    panel = pilot.app.screen.query_one("#image-panel")
    await await_until(lambda: panel.entry is not None and panel.entry.image_name == name
                   and panel.metadata is not None, what=f"{name} previewed")


def _walk(node):
    for child in node.children:
        yield child
        yield from _walk(child)


#: the terminal size of the Pilot tests
SIZE = (120, 40)


def make_app(*args, **kwargs):
    """The app from the real factory, with animations off (Pilot waits for every animation)."""
    app = make_real_app(*args, **kwargs)
    app.animation_level = "none"
    return app


def jobs_of(app) -> list:
    return list(app.screen.query_one("#jobs").jobs.values())


def submit(app, *, post: str, section: str, prompt: str, filename: str = "") -> None:
    """Fill the form's fields and send it (the same Changed messages and checks as typing)."""
    form = app.screen.query_one("#form")
    form.query_one("#post-id", Input).value = post
    form.query_one("#section-id", Input).value = section
    form.query_one("#filename", Input).value = filename
    form.query_one("#prompt").text = prompt
    form.action_submit()


async def open_form_and_submit(pilot, *, post: str = "6", section: str = "1", prompt: str = "a fox",
                               filename: str = "") -> None:
    """Wait for the store, press g, fill the form and send it."""
    await await_until(lambda: pilot.app.screen.store is not None, what="the store open")
    await pilot.press("g")
    submit(pilot.app, post=post, section=section, prompt=prompt, filename=filename)


async def tree_with_posts(pilot, count: int = 2):
    """The store tree once its ``count`` posts are listed (the seeded store has two)."""
    tree = pilot.app.screen.query_one("#tree")
    await await_until(lambda: len(tree.root.children) == count, what="posts listed")
    return tree


async def fill_form(pilot, *, post: str, section: str, prompt: str, filename: str = "", typed: bool = False) -> None:
    """Open the form with g and fill it: key by key when ``typed``, else by setting each field
    (the same Changed messages and validation; Pilot's key presses cost ~0.1 s each)."""
    await pilot.press("g")
    form = pilot.app.screen.query_one("#form")
    for input_id, value in (("post-id", post), ("section-id", section), ("filename", filename)):
        field = form.query_one(f"#{input_id}", Input)
        field.focus()
        field.value = ""
        if typed:
            await type_text(pilot, value)
        else:
            field.value = value
    prompt_area = form.query_one("#prompt", TextArea)
    prompt_area.focus()
    if typed:
        await type_text(pilot, prompt)
    else:
        prompt_area.text = prompt
    await pilot.pause()
