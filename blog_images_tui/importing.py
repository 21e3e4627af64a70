"""Bringing an image made elsewhere into the store (a photo, a brand asset, a sketch).

The file is checked like an API answer before anything is written (a PNG,
JPEG or WebP by its bytes, decoded whole by Pillow), the name is checked to
be free, the store to be writable, then the image and its metadata are
written through :meth:`Store.save` like a generated one. Nothing was paid
for, so a failure leaves nothing to recover: the user still has the file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blog_images_tui import __version__, layout
from blog_images_tui.errors import BadInput, StoreUnusable
from blog_images_tui.ids import SLUG_PATTERN, SectionRef, parse_filename
from blog_images_tui.inputs import InputImage, decode_check, read_local
from blog_images_tui.storage import MetadataWriteFailed, Store, StoredImage, error_summary


def import_metadata(image: InputImage, section: SectionRef, *, image_path: str, prompt: str | None,
                    imported_at: datetime | None = None) -> dict[str, Any]:
    """The metadata of an imported image: the original fields, then what it is and where it came from."""
    imported_at = imported_at or datetime.now(UTC)
    return {
        "post_id": section.post_id,
        "section_id": section.section_id,
        "prompt": prompt,
        "image_path": image_path,
        "generated_at": imported_at.isoformat(),  # the original field: when it entered the tree
        "model": None,
        "size": f"{image.width}x{image.height}",
        "operation": "import",
        "imported_from": {"name": image.ref["name"], "sha256": image.sha256},
        "output_format": image.format,
        "bytes": len(image.data),
        "sha256": image.sha256,
        "width": image.width,
        "height": image.height,
        "generator": f"blog-images {__version__}",
        "cost_usd": 0.0,
        "cost_basis": "import: not generated",
    }


def default_import_name(path: str) -> str:
    """The file's own name when it is a valid filename, else a timestamp name."""
    stem = Path(path).stem
    try:
        return parse_filename(stem) if SLUG_PATTERN.fullmatch(stem) else layout.timestamp_filename()
    except BadInput:
        return layout.timestamp_filename()


def read_import(path: str) -> InputImage:
    """The file to import, checked and decoded (BadInput, exit 2, if it is not a whole image)."""
    image = read_local(path, what="image to import")
    decode_check(image)
    return image


def import_image(store: Store, section: SectionRef, image: InputImage, *, filename: str | None = None,
                 prompt: str | None = None) -> StoredImage:
    """Write a checked image and its metadata into ``section`` under a free name."""
    filename = parse_filename(filename) if filename else default_import_name(image.ref["name"])
    if store.name_taken(section, filename, image.format):
        raise BadInput(f"{layout.image_name(filename, image.format)} already exists in "
                       f"{store.display_path(layout.raw_dir(section))}: choose another --filename "
                       "(nothing is overwritten)")
    store.check_writable()
    image_rel = layout.image_path(section, filename, image.format)
    metadata = import_metadata(image, section, image_path=store.display_path(image_rel), prompt=prompt)
    try:
        return store.save(section, filename, image.format, image.data, metadata)
    except FileExistsError:
        raise BadInput(f"{layout.image_name(filename, image.format)} was created meanwhile in "
                       f"{store.display_path(layout.raw_dir(section))}: nothing was overwritten") from None
    except MetadataWriteFailed as error:
        # Nothing was paid for: take the image back out rather than leave it without metadata.
        try:
            store.delete_image(section, layout.image_name(filename, image.format))
        except StoreUnusable:
            pass
        raise StoreUnusable(f"cannot import into {store.url}: {error_summary(error.cause)}") from None
    except (BadInput, StoreUnusable):
        raise
    except Exception as error:
        raise StoreUnusable(f"cannot import into {store.url}: {error_summary(error)}") from None
