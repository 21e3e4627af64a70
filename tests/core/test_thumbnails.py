"""Thumbnails: bounded widths, never an upscale, aspect and alpha kept, made once per image, on every backend."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from blog_images_tui import layout
from blog_images_tui.errors import BadInput
from blog_images_tui.ids import SectionRef
from blog_images_tui.storage import open_store
from blog_images_tui.thumbnails import THUMBNAIL_WIDTHS, ThumbnailCache, make_thumbnail, snap_width

SECTION = SectionRef(7, "hero")


def picture(width: int, height: int, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    image = Image.new(mode, (width, height), (200, 40, 40, 0) if mode == "RGBA" else (200, 40, 40))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def put(store, name: str, data: bytes) -> None:
    fmt = layout.EXTENSION_FORMATS[name.rsplit(".", 1)[1]]
    store.write_new(f"{layout.raw_dir(SECTION)}/{name}", data, layout.CONTENT_TYPES[fmt])


def test_widths_are_bounded_and_snapped_up():
    assert snap_width(16) == 64 and snap_width(64) == 64 and snap_width(65) == 128 and snap_width(960) == 960
    assert {snap_width(w) for w in range(16, 961)} == set(THUMBNAIL_WIDTHS)
    for bad in (0, 15, 961, -1, True, 3.5, "320"):
        with pytest.raises(BadInput):
            snap_width(bad)  # type: ignore[arg-type]


def test_aspect_kept_never_upscaled_alpha_kept():
    wide = Image.open(io.BytesIO(make_thumbnail(picture(1792, 1024), 320)))
    assert wide.format == "WEBP" and wide.size == (320, 183)
    small = Image.open(io.BytesIO(make_thumbnail(picture(200, 100), 640)))
    assert small.size == (200, 100)
    clear = Image.open(io.BytesIO(make_thumbnail(picture(400, 400, mode="RGBA"), 128)))
    assert clear.mode == "RGBA" and clear.getpixel((5, 5))[3] == 0
    jpeg = Image.open(io.BytesIO(make_thumbnail(picture(1600, 900, "JPEG"), 256)))
    assert jpeg.size == (256, 144)
    with pytest.raises(BadInput, match="not a readable image"):
        make_thumbnail(b"\x89PNG\r\n\x1a\n not really", 128)


def test_made_once_then_from_the_cache_and_remade_when_the_image_changes(store_url, tmp_path):
    store = open_store(store_url)
    put(store, "a.png", picture(800, 600))
    cache = ThumbnailCache(tmp_path / "thumbs")
    first = cache.get(store, SECTION, "a.png", 300)
    assert Image.open(io.BytesIO(first)).size == (320, 240)
    assert cache.get(store, SECTION, "a.png", 320) == first
    assert cache.made == 1
    # Deleted and made again under the same name (different bytes): a new thumbnail.
    store.remove_file(f"{layout.raw_dir(SECTION)}/a.png")
    put(store, "a.png", picture(400, 400))
    assert Image.open(io.BytesIO(cache.get(store, SECTION, "a.png", 320))).size == (320, 320)
    assert cache.made == 2
    assert not any(name.startswith(".tmp") for name in _names(tmp_path / "thumbs"))
    with pytest.raises(FileNotFoundError):
        cache.get(store, SECTION, "missing.png", 320)
    with pytest.raises(BadInput):
        cache.get(store, SECTION, "../a.png", 320)


def test_callers_at_once_make_it_once(local_store_url, tmp_path):
    store = open_store(local_store_url)
    put(store, "b.jpg", picture(1600, 900, "JPEG"))
    cache = ThumbnailCache(tmp_path / "thumbs")
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(store, SECTION, "b.jpg", 480)))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 6 and len(set(results)) == 1 and cache.made == 1


def test_an_unusable_cache_folder_still_serves(local_store_url, tmp_path):
    store = open_store(local_store_url)
    put(store, "c.png", picture(300, 200))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    cache = ThumbnailCache(blocker)
    assert Image.open(io.BytesIO(cache.get(store, SECTION, "c.png", 128))).size == (128, 85)


def _names(root):
    return [path.name for path in root.rglob("*")]
