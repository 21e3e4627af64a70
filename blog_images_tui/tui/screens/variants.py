"""The variants of one request side by side: small previews, pick one, keep it, prune the rest.

Previews come from the shared thumbnail cache (:mod:`blog_images_tui.thumbnails`,
the web page's too): made once per image, then read from local disk, so
drawing this screen again never downloads the originals from S3. Loading the
group (one metadata read per image of the section) and the thumbnails runs
in thread workers; tiles fill in as their thumbnail arrives.

Keys: left/right move, enter opens the selected variant in the main screen,
``k`` keeps it and deletes the rest of the group after a confirmation,
escape goes back. The screen returns ``("open", entry)``, ``("kept", entry)``
or None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from blog_images_tui.errors import BlogImagesError, StoreUnusable
from blog_images_tui.storage import ImageEntry, Store, error_summary
from blog_images_tui.tui.dialogs import ConfirmDialog
from blog_images_tui.tui.messages import ErrorReported
from blog_images_tui.tui.widgets.preview import ImagePreview, decode_preview

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from blog_images_tui.thumbnails import ThumbnailCache
    from blog_images_tui.tui.app import BlogImagesApp

#: thumbnail width asked of the cache (snapped by it); tiles downscale further to their cells
THUMBNAIL_WIDTH = 256


@dataclass
class GroupLoaded(Message):
    members: list[ImageEntry]


@dataclass
class ThumbnailReady(Message):
    image_name: str
    picture: PILImage | None
    problem: str = ""


class VariantTile(Vertical, can_focus=True):
    """One variant: its preview and its name."""

    def __init__(self, entry: ImageEntry, preview_mode: str) -> None:
        super().__init__(classes="variant-tile")
        self.entry = entry
        self.preview_mode = preview_mode

    def compose(self) -> ComposeResult:
        yield ImagePreview(self.preview_mode, id=f"tile-{self.entry.filename}")

    def on_mount(self) -> None:
        self.preview.show_text("…", self.entry.image_name)

    @property
    def preview(self) -> ImagePreview:
        return self.query_one(ImagePreview)


class VariantsScreen(Screen):
    """The images of one variant group, side by side."""

    app: BlogImagesApp

    BINDINGS = [
        Binding("left", "move(-1)", "Prev", id="variant-prev"),
        Binding("right", "move(1)", "Next", id="variant-next"),
        Binding("enter", "open", "Open", id="variant-open"),
        Binding("k", "keep", "Keep, delete rest", id="variant-keep"),
        Binding("escape", "back", "Back", id="variant-back"),
    ]

    def __init__(self, store: Store, entry: ImageEntry, group_id: str, thumbnails: ThumbnailCache,
                 preview_mode: str = "auto") -> None:
        super().__init__()
        self.store = store
        self.entry = entry
        self.group_id = group_id
        self.thumbnails = thumbnails
        self.preview_mode = preview_mode
        self.members: list[ImageEntry] = []
        #: thumbnails drawn so far (for tests)
        self.drawn: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Static(f"Variants of group {self.group_id} in {self.entry.section}", id="variants-title",
                     markup=False)
        yield Horizontal(id="variant-tiles")
        yield Static("loading…", id="variants-help", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._load_group()

    @work(thread=True, exclusive=True, group="variant-group", exit_on_error=False)
    def _load_group(self) -> None:
        from blog_images_tui.pruning import group_members

        try:
            members = group_members(self.store, self.entry.section, self.group_id)
        except BlogImagesError as error:
            self.post_message(ErrorReported(error))
            return
        except Exception as error:  # noqa: BLE001 - reported, never raised into Textual
            self.post_message(ErrorReported(StoreUnusable(f"cannot read the group: {error_summary(error)}")))
            return
        self.post_message(GroupLoaded(members))

    @on(GroupLoaded)
    async def _group_loaded(self, message: GroupLoaded) -> None:
        self.members = message.members or [self.entry]
        tiles = [VariantTile(entry, self.preview_mode) for entry in self.members]
        await self.query_one("#variant-tiles").mount_all(tiles)
        selected = next((tile for tile in tiles if tile.entry.image_name == self.entry.image_name), tiles[0])
        selected.focus()
        self._help(selected.entry)
        for tile in tiles:
            self._thumbnail(tile.entry, tile.preview.target_pixels())

    @work(thread=True, group="variant-thumbnails", exit_on_error=False)
    def _thumbnail(self, entry: ImageEntry, max_pixels: tuple[int, int]) -> None:
        try:
            data = self.thumbnails.get(self.store, entry.section, entry.image_name, THUMBNAIL_WIDTH)
            picture = decode_preview(data, max_pixels)
        except Exception as error:  # noqa: BLE001 - a tile without a preview still says its name
            self.post_message(ThumbnailReady(entry.image_name, None, f"no preview: {error_summary(error)}"))
            return
        self.post_message(ThumbnailReady(entry.image_name, picture))

    @on(ThumbnailReady)
    def _thumbnail_ready(self, message: ThumbnailReady) -> None:
        for tile in self.query(VariantTile):
            if tile.entry.image_name == message.image_name:
                tile.preview.show(message.picture, message.image_name,
                                  fallback=message.problem or message.image_name)
                self.drawn.add(message.image_name)

    # -- selection ----------------------------------------------------------------
    @property
    def tiles(self) -> list[VariantTile]:
        return list(self.query(VariantTile))

    @property
    def selected(self) -> ImageEntry | None:
        focused = self.focused
        return focused.entry if isinstance(focused, VariantTile) else None

    def _help(self, chosen: ImageEntry | None = None) -> None:
        chosen = chosen or self.selected
        name = chosen.image_name if chosen else "-"
        self.query_one("#variants-help", Static).update(
            f"{len(self.members)} variants · {name} selected · k keeps it and deletes the rest")

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, VariantTile):
            self._help(event.widget.entry)  # focus moves after the key's handler: follow it here

    def action_move(self, step: int) -> None:
        tiles = self.tiles
        if not tiles:
            return
        index = next((i for i, tile in enumerate(tiles) if tile is self.focused), 0)
        tiles[(index + step) % len(tiles)].focus()

    def action_open(self) -> None:
        if self.selected is not None:
            self.dismiss(("open", self.selected))

    def action_back(self) -> None:
        self.dismiss(None)

    def action_keep(self) -> None:
        keep = self.selected
        if keep is None:
            return
        others = [entry.image_name for entry in self.members if entry != keep]
        if not others:
            self.notify("Nothing else in this group to delete", markup=False)
            return
        question = (f"Keep {keep.image_name} and delete {', '.join(others)} with their metadata?\n"
                    f"{self.store.url}\nThis cannot be undone.")

        def answered(yes: bool | None) -> None:
            if yes:
                self._prune(keep)

        self.app.push_screen(ConfirmDialog(question, yes="Delete the rest"), answered)

    @work(thread=True, exclusive=True, group="variant-prune", exit_on_error=False)
    def _prune(self, keep: ImageEntry) -> None:
        from blog_images_tui import pruning

        try:
            plan = pruning.plan_prune(self.store, keep.section, self.group_id, keep.filename)
            pruning.execute(self.store, plan)
        except BlogImagesError as error:
            self.post_message(ErrorReported(error))
            return
        except Exception as error:  # noqa: BLE001
            self.post_message(ErrorReported(StoreUnusable(f"cannot delete the variants: {error_summary(error)}")))
            return
        self.app.call_from_thread(self.dismiss, ("kept", keep))

    @on(ErrorReported)
    def _error(self, message: ErrorReported) -> None:
        message.stop()
        self.app.report_error(message.error)
