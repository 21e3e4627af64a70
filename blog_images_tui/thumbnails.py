"""Small WebP previews of stored images, made once per image and width, kept in a local cache.

For galleries: the web page's thumbnails, the TUI's variants side by side.
A thumbnail is keyed by the store's location, the image's path, its size and
modification time, the width and :data:`THUMBNAIL_VERSION`, so an image that
was deleted and made again under the same name gets a new one. Checking the
key costs one ``info`` call (a HEAD on S3); only a missing thumbnail downloads
the original, once. The cache is a local folder (``$BLOG_IMAGES_CACHE_DIR``,
else ``$XDG_CACHE_HOME/blog-images/thumbnails``), never the store: thumbnails
are not content. Files land in it whole (temporary file, then rename).

Widths are bounded and snapped up to a few sizes (:data:`THUMBNAIL_WIDTHS`),
so a client cannot fill the disk with one thumbnail per pixel width. Never an
upscale; the aspect ratio is kept, and so is transparency. Everything here
blocks (decode and encode are CPU work): async callers run it in a thread.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from pathlib import Path

from blog_images_tui.errors import BadInput
from blog_images_tui.ids import SectionRef
from blog_images_tui.storage import Store

THUMBNAIL_WIDTHS = (64, 128, 192, 256, 320, 480, 640, 960)
MIN_WIDTH, MAX_WIDTH = 16, THUMBNAIL_WIDTHS[-1]
#: bump when the encoding changes, so old cached files are not served
THUMBNAIL_VERSION = 1
WEBP_QUALITY = 80
CACHE_ENV = "BLOG_IMAGES_CACHE_DIR"
CONTENT_TYPE = "image/webp"


def snap_width(width: int) -> int:
    """The cached width for a requested one: the smallest of :data:`THUMBNAIL_WIDTHS` at least as wide."""
    if isinstance(width, bool) or not isinstance(width, int) or not MIN_WIDTH <= width <= MAX_WIDTH:
        raise BadInput(f"thumbnail width must be between {MIN_WIDTH} and {MAX_WIDTH} pixels, not {width!r}")
    return next(allowed for allowed in THUMBNAIL_WIDTHS if allowed >= width)


def make_thumbnail(data: bytes, width: int) -> bytes:
    """A WebP at most ``width`` wide (never wider than the source), aspect kept, alpha kept."""
    from PIL import Image

    try:
        return _encode_thumbnail(data, width)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise BadInput(f"cannot make a thumbnail: not a readable image ({type(error).__name__})") from None


def _encode_thumbnail(data: bytes, width: int) -> bytes:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        opened.draft("RGB", (width, width * 8))  # JPEG: decode at a reduced scale, much faster
        image = ImageOps.exif_transpose(opened)
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
        if image.width > width:
            height = max(1, round(image.height * width / image.width))
            image = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        image.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
        return out.getvalue()


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "blog-images" / "thumbnails"


class ThumbnailCache:
    """Thumbnails of one machine's stores, made on first request (thread-safe)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self._guard = threading.Lock()
        self._making: dict[str, threading.Lock] = {}
        #: thumbnails made (not served from the cache) since start, for tests and stats
        self.made = 0

    def _key(self, store: Store, section: SectionRef, image_name: str, width: int) -> str:
        info = store.image_info(section, image_name)  # FileNotFoundError if the image is gone
        parts = (store.location, str(section.post_id), str(section.section_id), image_name,
                 str(info.size_bytes), repr(info.modified), str(width), str(THUMBNAIL_VERSION))
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def path_for(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.webp"

    def get(self, store: Store, section: SectionRef, image_name: str, width: int) -> bytes:
        """The thumbnail's bytes: from the cache, else made from the original and cached.

        ``width`` is snapped with :func:`snap_width` (BadInput outside the bounds).
        Two callers asking for the same one at once make it once.
        """
        width = snap_width(width)
        key = self._key(store, section, image_name, width)
        path = self.path_for(key)
        cached = _read(path)
        if cached is not None:
            return cached
        with self._guard:
            lock = self._making.setdefault(key, threading.Lock())
        try:
            with lock:
                cached = _read(path)
                if cached is not None:
                    return cached
                data = make_thumbnail(store.read_image(section, image_name), width)
                self._write(path, data)
                self.made += 1
                return data
        finally:
            with self._guard:
                self._making.pop(key, None)

    def _write(self, path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".webp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError:
            pass  # an unusable cache only costs speed: the thumbnail is still served


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
