"""The Image tab: the preview, the image's metadata, and buttons for its actions.

Loading is one exclusive thread worker: read the bytes and the metadata JSON,
decode and downscale, then post :class:`ImageLoaded`. A result for an image
that is no longer the one asked for is dropped (the user moved on).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Static

from blog_images_tui import layout
from blog_images_tui.errors import BlogImagesError, StoreUnusable
from blog_images_tui.pricing import format_usd
from blog_images_tui.secrets import redact
from blog_images_tui.storage import ImageEntry, Store, error_summary
from blog_images_tui.tui.messages import ImageLoaded, ImageLoadFailed
from blog_images_tui.tui.widgets.preview import ImagePreview, decode_preview, human_bytes

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

#: The order metadata fields are shown in; anything else is left to `blog-images show`.
DETAIL_FIELDS = (
    ("prompt", "Prompt"),
    ("revised_prompt", "Revised"),
    ("model", "Model"),
    ("size", "Size"),
    ("quality", "Quality"),
    ("output_format", "Format"),
    ("generated_at", "Date"),
)


def _format_date(value: Any) -> str:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    offset = when.utcoffset()
    suffix = " UTC" if offset is not None and offset.total_seconds() == 0 else ""
    return when.strftime("%Y-%m-%d %H:%M:%S") + suffix


def describe(entry: ImageEntry, metadata: dict[str, Any] | None, image_path: str, link: str | None,
             metadata_problem: str | None = None) -> Table:
    """The details table of one image: prompt, revised prompt, model, size, quality, date, path, URL."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("Image", Text.assemble(entry.image_name, ("  ", ""), (str(entry.section), "dim")))
    if metadata_problem:
        table.add_row("", Text(metadata_problem, style="italic yellow"))
    elif metadata is None:
        table.add_row("", Text("no metadata JSON beside this image", style="italic yellow"))
    else:
        for key, label in DETAIL_FIELDS:
            value = metadata.get(key)
            if value in (None, ""):
                continue
            text = _format_date(value) if key == "generated_at" else str(value)
            table.add_row(label, Text(redact(text)))
        width, height = metadata.get("width"), metadata.get("height")
        if width and height:
            table.add_row("Pixels", f"{width}x{height}, {human_bytes(int(metadata.get('bytes') or entry.size_bytes))}")
        source = metadata.get("source")
        if isinstance(source, dict) and "post_id" in source:
            table.add_row("From", Text.assemble(f"{source.get('post_id')}/{source.get('section_id')}/"
                                                f"{source.get('name')}", ("  s: go to it", "dim")))
        if metadata.get("group_id"):
            table.add_row("Variant", Text.assemble(f"{metadata.get('variant')} of {metadata.get('variants')}",
                                                   ("  v: side by side", "dim")))
        if "cost_usd" in metadata:  # null means unknown, never free
            cost = metadata.get("cost_usd")
            basis = str(metadata.get("cost_basis") or "").partition(":")[0]  # its source is in the JSON
            table.add_row("Cost", Text.assemble(format_usd(cost if isinstance(cost, (int, float)) else None),
                                                (f"  {basis}" if basis else "", "dim")))
    table.add_row("Path", Text(image_path))
    if link and link != image_path:
        table.add_row("URL", Text(link))
    return table


def web_link(link: str | None) -> str | None:
    """``link`` if a browser can open it (a public or signed http(s) URL), else None (memory://, ...)."""
    return link if link and link.startswith(("https://", "http://")) else None


class ImagePanel(Vertical):
    """Preview, details and actions of the image chosen in the tree (or a job's partial images)."""

    class Action(Message):
        """A button of the action bar was pressed: ``reuse``, ``copy``, ``open`` or ``delete``."""

        def __init__(self, action: str) -> None:
            super().__init__()
            self.action = action

    def __init__(self, preview_mode: str = "auto", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.preview_mode = preview_mode
        self.entry: ImageEntry | None = None
        self.store: Store | None = None
        self.metadata: dict[str, Any] | None = None
        self.image_path: str | None = None
        #: the image's public or signed URL (None until read, or when it has none)
        self.link: str | None = None
        self.following_job: str | None = None
        #: partial images drawn so far (all jobs): a progress fact the tests can read
        self.frames_shown = 0

    def compose(self) -> ComposeResult:
        yield ImagePreview(self.preview_mode, id="preview")
        with VerticalScroll(id="details-scroll"):
            yield Static("", id="details")
        with Horizontal(id="image-actions"):
            yield Button("Reuse prompt", id="reuse", compact=True, tooltip="u: reuse prompt and settings")
            yield Button("Copy path", id="copy", compact=True, tooltip="c: copy the path or URL")
            yield Button("Open", id="open", compact=True, tooltip="o: open with the system viewer")
            yield Button("Delete", id="delete", compact=True, variant="error", tooltip="d: delete, after asking")

    def on_mount(self) -> None:
        self.clear("Choose an image in the tree, or press g to generate one.")

    # -- what to show -----------------------------------------------------
    def clear(self, text: str = "") -> None:
        """Show ``text`` instead of an image, and stop following a job (a store switch, a deletion)."""
        self.following_job = None
        self.link = None
        self.entry = None
        self.metadata = None
        self.image_path = None
        self.query_one(ImagePreview).show_text(text)
        self.query_one("#details", Static).update("")
        self._actions(False)

    def load(self, store: Store, entry: ImageEntry) -> None:
        """Show ``entry``: its words at once, its picture when the worker has decoded it."""
        self.following_job = None
        self.store, self.entry = store, entry
        self.metadata = None
        self.link = None
        self._show_open_button(store, None)
        self.image_path = store.display_path(f"{layout.raw_dir(entry.section)}/{entry.image_name}")
        preview = self.query_one(ImagePreview)
        preview.show_text("loading…", caption=entry.image_name)
        self.query_one("#details", Static).update(describe(entry, {}, self.image_path, None))
        self._actions(True)
        self._load(store, entry, preview.target_pixels())

    @work(thread=True, exclusive=True, group="image", exit_on_error=False)
    def _load(self, store: Store, entry: ImageEntry, max_pixels: tuple[int, int]) -> None:
        try:
            data = store.read_image(entry.section, entry.image_name)
            metadata_problem = None
            try:
                metadata = store.read_metadata(entry.section, entry.filename) if entry.has_metadata else None
            except FileNotFoundError:
                metadata = None
            except ValueError as error:  # a damaged JSON: show the image anyway, and say so
                metadata = None
                metadata_problem = (f"its metadata JSON is damaged ({error_summary(error)}): "
                                    "blog-images doctor reports it")
            image_path = store.display_path(f"{layout.raw_dir(entry.section)}/{entry.image_name}")
            try:
                link = store.link(entry.section, entry.image_name)
            except BlogImagesError:  # a link is a nicety (signing may need credentials)
                link = None
        except FileNotFoundError:
            self.post_message(ImageLoadFailed(store, entry, StoreUnusable(
                f"{entry.image_name} is no longer in {entry.section}: press r to refresh")))
            return
        except BlogImagesError as error:  # the store wraps its backend's errors
            self.post_message(ImageLoadFailed(store, entry, error))
            return
        picture, problem = None, None
        try:
            picture = decode_preview(data, max_pixels)
        except Exception as error:  # noqa: BLE001 - show the metadata even if the picture is broken
            problem = f"cannot draw this image: {error_summary(error)}"
        summary = f"{entry.output_format.upper()} · {human_bytes(len(data))}"
        self.post_message(ImageLoaded(store, entry, picture, summary, metadata, image_path, link, problem,
                                      metadata_problem))

    @on(ImageLoaded)
    def _loaded(self, message: ImageLoaded) -> None:
        message.stop()
        if message.entry != self.entry or message.store is not self.store:
            return  # stale: the user moved to another image meanwhile
        self.metadata = message.metadata
        self.image_path = message.image_path
        if message.metadata:
            width, height = message.metadata.get("width"), message.metadata.get("height")
        else:
            width = height = None
        caption = (f"{width}x{height} · " if width and height else "") + message.summary
        fallback = message.problem or "graphics off (--preview text)"
        self.query_one(ImagePreview).show(message.picture, caption, fallback=fallback)
        self.link = message.link
        self.query_one("#details", Static).update(
            describe(message.entry, message.metadata, message.image_path, message.link, message.metadata_problem))
        self._show_open_button(message.store, message.link)

    @on(ImageLoadFailed)
    def _load_failed(self, message: ImageLoadFailed) -> None:
        if message.entry != self.entry or message.store is not self.store:
            message.stop()
            return
        self.query_one(ImagePreview).show_text(f"cannot show {message.entry.image_name}")
        # Bubbles on to the screen, which notifies.

    def follow_job(self, job_id: str, text: str) -> None:
        """Show a running job instead of a stored image: its partial images arrive later."""
        self.entry = None
        self.metadata = None
        self.image_path = None
        self.following_job = job_id
        self.query_one(ImagePreview).show_text(text, caption="")
        self.query_one("#details", Static).update("")
        self._actions(False)

    def show_partial(self, job_id: str, picture: PILImage | None, caption: str) -> None:
        if job_id != self.following_job:
            return
        self.frames_shown += 1
        self.query_one(ImagePreview).show(picture, caption, fallback="(graphics preview off)")

    def set_job_status(self, job_id: str, text: str) -> None:
        if job_id == self.following_job and not self.query_one(ImagePreview).has_picture:
            self.query_one(ImagePreview).show_text(text)

    def end_job(self, job_id: str, text: str) -> None:
        """The followed job failed or was cancelled: ``text`` replaces its last partial image."""
        if job_id == self.following_job:
            self.query_one(ImagePreview).show_text(text, caption="")

    def _show_open_button(self, store: Store, link: str | None) -> None:
        """Local: open the file. Elsewhere: open its public or signed link, only once there is one."""
        button = self.query_one("#open", Button)
        local = store.backend.name == "local"
        button.display = local or web_link(link) is not None
        button.label = "Open" if local else "Open link"
        button.tooltip = "o: open with the system viewer" if local else "o: open its link in the browser"

    def _actions(self, enabled: bool) -> None:
        self.query_one("#image-actions").display = enabled

    @on(Button.Pressed, "#image-actions Button")
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.Action(event.button.id or ""))
