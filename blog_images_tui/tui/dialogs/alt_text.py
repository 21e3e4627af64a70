"""Edit an image's alt text: what a screen reader says for it on the blog."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class AltTextDialog(ModalScreen[str | None]):
    """Returns the text typed (empty: a decorative image), or None when dismissed with escape."""

    BINDINGS = [Binding("escape", "dismiss_dialog", "Cancel", id="alt-text-cancel")]

    def __init__(self, image_name: str, current: str = "") -> None:
        super().__init__()
        self.image_name = image_name
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(f"Alt text of {self.image_name} (enter to save, escape to cancel)", markup=False)
            yield Input(value=self.current, placeholder="what the image shows, in a sentence", id="alt-text")
            yield Static("Saved in the image's metadata and its published snippet; empty for a decorative image.",
                         classes="dim", markup=False)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_dismiss_dialog(self) -> None:
        self.dismiss(None)
