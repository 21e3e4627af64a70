"""The Generate form's edit part: which image is edited, reference images and a mask.

Shown only in edit mode (``e`` on an image). The values are plain text here;
the core (:func:`blog_images_tui.editing.plan_edit`) reads and checks them
in a worker, with the CLI's rules and words.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from blog_images_tui.storage import ImageEntry


class EditFields(Vertical):
    """Source (read-only), references (space-separated files or POST/SECTION/NAME) and a mask path."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source: ImageEntry | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("Editing", classes="form-label")
            yield Static("", id="edit-source", markup=False)
            yield Button("No edit", id="edit-stop", compact=True, tooltip="generate a new image instead")
        with Horizontal(classes="form-row"):
            yield Label("Refs", classes="form-label")
            yield Input(id="references", compact=True, placeholder="files or POST/SECTION/NAME, space-separated")
        with Horizontal(classes="form-row"):
            yield Label("Mask", classes="form-label")
            yield Input(id="mask", compact=True, placeholder="PNG with alpha 0 where to edit (optional)")

    def on_mount(self) -> None:
        self.display = False

    def start(self, entry: ImageEntry) -> None:
        self.source = entry
        self.query_one("#edit-source", Static).update(
            f"{entry.section.post_id}/{entry.section.section_id}/{entry.image_name}")
        self.query_one("#references", Input).value = ""
        self.query_one("#mask", Input).value = ""
        self.display = True

    def stop(self) -> None:
        self.source = None
        self.display = False

    def references(self) -> list[str]:
        return self.query_one("#references", Input).value.split()

    def mask(self) -> str | None:
        return self.query_one("#mask", Input).value.strip() or None
