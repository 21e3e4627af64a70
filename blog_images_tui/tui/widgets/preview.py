"""The image preview: kitty/sixel graphics when the terminal has them, half-blocks otherwise, text everywhere.

textual-image picks the protocol by asking the terminal, which is only
possible before Textual takes over stdin: so this module imports
``textual_image.widget`` at import time, and the app imports this module
before it starts. Bytes are decoded and downscaled with Pillow in a worker
thread (:func:`decode_preview`), so a 4K image costs the UI nothing.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.widgets import Static

# Imported for its side effect too: it asks the terminal what it can draw (see above).
from textual_image.widget import HalfcellImage, UnicodeImage
from textual_image.widget import Image as AutoImage

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

PREVIEW_MODES = ("auto", "halfcell", "unicode", "text")
PREVIEW_ENV = "BLOG_IMAGES_PREVIEW"
#: Never decode more pixels than this on a side, whatever the terminal claims.
MAX_PREVIEW_EDGE = 1600
_BACKGROUND = (32, 32, 32)


def preview_mode(requested: str | None = None) -> str:
    """The preview mode from the argument, then ``$BLOG_IMAGES_PREVIEW``, else ``auto``."""
    mode = (requested or os.environ.get(PREVIEW_ENV) or "auto").strip().lower()
    return mode if mode in PREVIEW_MODES else "auto"


def cell_pixels() -> tuple[int, int]:
    """Pixel size of one terminal cell (textual-image's measurement, VT340 sizes if unknown)."""
    try:
        from textual_image._terminal import get_cell_size

        size = get_cell_size()
        return max(size.width, 1), max(size.height, 1)
    except Exception:  # noqa: BLE001 - a guess is fine for a preview
        return 10, 20


def decode_preview(data: bytes, max_size: tuple[int, int]) -> PILImage:
    """Decode image bytes and shrink them to fit ``max_size`` pixels (RGB, alpha over dark grey).

    Raises ``OSError``/``ValueError`` (Pillow's) for bytes that are not an image.
    """
    from PIL import Image

    width = max(16, min(max_size[0], MAX_PREVIEW_EDGE))
    height = max(16, min(max_size[1], MAX_PREVIEW_EDGE))
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (width, height))  # JPEG: decode at a reduced scale directly
        image.thumbnail((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, _BACKGROUND)
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return image.convert("RGB")


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{count} B"


class ImagePreview(Vertical):
    """A picture area and a one-line caption. In ``text`` mode, only words."""

    def __init__(self, mode: str = "auto", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = preview_mode(mode)
        self._image_class = {"auto": AutoImage, "halfcell": HalfcellImage, "unicode": UnicodeImage}.get(self.mode)
        self.has_picture = False

    def compose(self) -> ComposeResult:
        self.set_class(self._image_class is None, "-text-only")
        with Container(id="picture-area"):
            yield Static("", id="picture-text", markup=False)
            if self._image_class is not None:
                yield self._image_class(None, id="picture")
        yield Static("", id="caption", markup=False)

    def on_mount(self) -> None:
        self._set_picture(None)

    def target_pixels(self) -> tuple[int, int]:
        """How many pixels the picture area can show (what to downscale to)."""
        area = self.query_one("#picture-area").size
        cell_w, cell_h = cell_pixels()
        columns, rows = max(area.width, 20), max(area.height, 8)
        if self._image_class is not AutoImage:  # half-blocks and unicode: 1 x 2 pixels a cell at most
            return columns * 2, rows * 4
        return columns * cell_w, rows * cell_h

    def show(self, picture: PILImage | None, caption: str, *, fallback: str = "") -> None:
        """Show a decoded picture (or ``fallback`` words when there is none or graphics are off)."""
        self._set_picture(picture, fallback or caption)
        self.query_one("#caption", Static).update(caption)

    def show_text(self, text: str, caption: str = "") -> None:
        self._set_picture(None, text)
        self.query_one("#caption", Static).update(caption)

    def _set_picture(self, picture: PILImage | None, text: str = "") -> None:
        shown = picture is not None and self._image_class is not None
        words = self.query_one("#picture-text", Static)
        words.update(text if not shown else "")
        words.display = not shown
        if self._image_class is not None:
            widget = self.query_one("#picture", self._image_class)
            widget.image = picture if shown else None
            widget.display = shown
        self.has_picture = shown
