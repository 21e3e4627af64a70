"""Images a request sends or brings in: edit sources, references, masks and imports.

Everything here is checked locally, before anything is sent or written: an
input is a real PNG, JPEG or WebP (its bytes decide, never its extension), a
mask is a PNG with an alpha channel, at least one fully transparent pixel
(alpha 0 = edit here) and the dimensions of the first image. Blocking (file,
store and Pillow work): async callers run it in a thread.

Lineage refers to images by what identifies them: a store image by post,
section, name and sha256; a local file by its file name and sha256 only,
never a path of the user's machine.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blog_images_tui import layout
from blog_images_tui.errors import BadInput
from blog_images_tui.ids import SectionRef, parse_filename
from blog_images_tui.imageformat import NotAnImage, sniff

if TYPE_CHECKING:  # pragma: no cover
    from blog_images_tui.storage import ImageEntry, Store

#: what images.edit takes per input image and per mask (the SDK's docstring)
MAX_INPUT_BYTES = 50 * 1024 * 1024
MAX_MASK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class InputImage:
    """One image to send (or import), checked, with where it came from."""

    #: the file name sent in the multipart part, e.g. ``hero.png``
    name: str
    data: bytes = field(repr=False)
    format: str  # "png" | "jpeg" | "webp", from the bytes
    width: int
    height: int
    sha256: str
    #: the lineage entry: {"post_id", "section_id", "name", "sha256"} or {"name", "sha256"}
    ref: dict[str, Any] = field(compare=False)

    @property
    def content_type(self) -> str:
        return layout.CONTENT_TYPES[self.format]

    def upload(self) -> tuple[str, bytes, str]:
        """The ``(name, bytes, content type)`` tuple the SDK sends as one multipart part."""
        return (self.name, self.data, self.content_type)


@dataclass(frozen=True)
class EditInputs:
    """What an edit sends besides its prompt: the edited image first, then references, and a mask."""

    source: InputImage
    references: tuple[InputImage, ...] = ()
    mask: InputImage | None = None

    @property
    def images(self) -> tuple[InputImage, ...]:
        return (self.source, *self.references)

    def fingerprint(self) -> dict[str, Any]:
        """What the job id needs: the sha256 of every image and of the mask, in order."""
        return {"images": [image.sha256 for image in self.images],
                "mask": self.mask.sha256 if self.mask else None}


def _checked(name: str, data: bytes, ref: dict[str, Any], what: str, limit: int = MAX_INPUT_BYTES) -> InputImage:
    if len(data) > limit:
        raise BadInput(f"{what} {name} is {len(data) / 2**20:.1f} MiB; the API takes at most {limit // 2**20} MiB")
    try:
        info = sniff(data)
    except NotAnImage as error:
        raise BadInput(f"{what} {name} is not a usable image: {error}") from None
    digest = hashlib.sha256(data).hexdigest()
    return InputImage(name, data, info.format, info.width, info.height, digest, {**ref, "sha256": digest})


def from_upload(file_name: str, data: bytes, *, what: str = "image") -> InputImage:
    """Bytes a client sent (the web server's uploads), checked like a local file; lineage by file name."""
    return _checked(_upload_name(file_name), data, {"name": _upload_name(file_name)}, what)


def decode_check(image: InputImage) -> None:
    """Decode the whole image with Pillow (imports: a truncated or corrupt file is refused)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            opened.load()
    except Exception as error:  # Pillow raises many kinds for broken data
        raise BadInput(f"{image.name} could not be decoded as {image.format.upper()}: "
                       f"{type(error).__name__}: {str(error)[:120]}") from None


def read_local(path: str, *, what: str = "image", limit: int = MAX_INPUT_BYTES) -> InputImage:
    """A local image file, checked; its lineage names the file, not its folder."""
    file = Path(path)
    try:
        if file.stat().st_size > limit:
            raise BadInput(f"{what} {file.name} is over the {limit // 2**20} MiB the API takes")
        data = file.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise BadInput(f"{what} {path} is a folder, not an image") from None
    except OSError as error:
        raise BadInput(f"cannot read {what} {path}: {error.strerror or error}") from None
    name = _upload_name(file.name)
    return _checked(name, data, {"name": file.name}, what, limit)


def _upload_name(file_name: str) -> str:
    # The part's file name goes to the API: keep it harmless (the user's own name, no folders).
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in file_name)[:100]
    return cleaned or "image"


@dataclass(frozen=True)
class StoreImageRef:
    """``POST/SECTION/NAME``: an image in the store, NAME with or without its extension."""

    section: SectionRef
    name: str  # as given (stem or image name)

    @classmethod
    def parse(cls, text: str) -> StoreImageRef:
        parts = text.split("/")
        if len(parts) != 3:
            raise BadInput(f"invalid image reference {text!r}: use POST/SECTION/NAME")
        return cls(SectionRef.parse(parts[0], parts[1]), parts[2])

    def stem(self) -> str:
        stem, dot, ext = self.name.rpartition(".")
        if dot and ext.lower() in layout.EXTENSION_FORMATS:
            return parse_filename(stem)
        return parse_filename(self.name)

    def __str__(self) -> str:
        return f"{self.section.post_id}/{self.section.section_id}/{self.name}"


def find_store_image(store: Store, ref: StoreImageRef) -> ImageEntry:
    """The :class:`~blog_images_tui.storage.ImageEntry` a reference names; BadInput if none."""
    stem = ref.stem()
    matches = [entry for entry in store.list_images(ref.section) if entry.filename == stem]
    if ref.name != stem:
        matches = [entry for entry in matches if entry.image_name == ref.name] or matches
    if not matches:
        raise BadInput(f"no image {ref.name} in {store.display_path(layout.raw_dir(ref.section))}")
    if len(matches) > 1:
        names = ", ".join(entry.image_name for entry in matches)
        raise BadInput(f"{ref.name} is ambiguous in post {ref.section.post_id} / section "
                       f"{ref.section.section_id} ({names}): give the extension")
    return matches[0]


def read_store_image(store: Store, ref: StoreImageRef, *, what: str = "image") -> InputImage:
    """An image of the store, checked; its lineage names post, section and name."""
    entry = find_store_image(store, ref)
    try:
        data = store.read_image(entry.section, entry.image_name)
    except FileNotFoundError:
        raise BadInput(f"{ref} disappeared from the store") from None
    lineage = {"post_id": entry.section.post_id, "section_id": entry.section.section_id, "name": entry.filename}
    return _checked(entry.image_name, data, lineage, what)


def read_reference(store: Store, text: str, *, local_files: bool = True) -> InputImage:
    """``--image`` values: an existing local file, else a ``POST/SECTION/NAME`` store reference.

    ``local_files=False`` (the web server: a client must not make it read its own disk)
    takes store references only.
    """
    if not local_files:
        return read_store_image(store, StoreImageRef.parse(text), what="reference image")
    if Path(text).is_file():
        return read_local(text, what="reference image")
    if text.count("/") == 2 and not text.startswith((".", "/", "~")):
        try:
            return read_store_image(store, StoreImageRef.parse(text), what="reference image")
        except BadInput as error:
            raise BadInput(f"reference image {text}: no such local file, and as POST/SECTION/NAME: "
                           f"{error.message}") from None
    raise BadInput(f"reference image not found: {text} (a local file, or POST/SECTION/NAME in the store)")


def read_mask(path: str, first: InputImage) -> InputImage:
    """A mask file, checked against the edited image (see the module docstring)."""
    mask = read_local(path, what="mask", limit=MAX_MASK_BYTES)
    check_mask(mask, first)
    return mask


def check_mask(mask: InputImage, first: InputImage) -> None:
    """Refuse a mask the API would refuse, or one that edits nothing."""
    if mask.format != "png":
        raise BadInput(f"the mask {mask.name} is a {mask.format.upper()}; it must be a PNG with an alpha channel")
    if (mask.width, mask.height) != (first.width, first.height):
        raise BadInput(f"the mask is {mask.width}x{mask.height} but {first.name} is {first.width}x{first.height}: "
                       "it must have the same dimensions as the edited image")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(mask.data)) as opened:
            has_alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
            if not has_alpha:
                raise BadInput(f"the mask {mask.name} has no alpha channel: make the area to edit "
                               "transparent (alpha 0) in a PNG with transparency")
            lowest = opened.convert("RGBA").getchannel("A").getextrema()[0]
    except BadInput:
        raise
    except Exception as error:
        raise BadInput(f"the mask {mask.name} could not be decoded: {type(error).__name__}") from None
    if lowest != 0:
        raise BadInput(f"the mask {mask.name} has no fully transparent pixel, so nothing would be edited "
                       "(alpha 0 marks where to edit)")
