"""Type the URL of another store: a local path, s3://bucket/prefix, memory://name, ..."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class StoreUrlDialog(ModalScreen[str | None]):
    """Returns the typed URL, or None when dismissed with escape."""

    BINDINGS = [Binding("escape", "dismiss_dialog", "Cancel", id="store-url-cancel")]

    def __init__(self, current: str = "") -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static("Open another store (enter to open, escape to cancel)", markup=False)
            yield Input(value=self.current, placeholder="./static, /path, s3://bucket/prefix, memory://demo",
                        id="store-url")
            yield Static("The tree reloads from the new store; running jobs finish where they started.",
                         classes="dim", markup=False)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if value:
            self.dismiss(value)

    def action_dismiss_dialog(self) -> None:
        self.dismiss(None)
