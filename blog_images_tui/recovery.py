"""The local recovery folder: paid-for images that could not be stored.

When the store refuses an image after it was generated (network down, bucket
policy changed, disk full, metadata write failed), the image and its metadata
are kept here with a note of where they were going. ``blog-images recover``
(and the TUI) finish the upload later. Nothing in here holds a secret.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from blog_images_tui import layout
from blog_images_tui.ids import SectionRef, parse_filename, parse_id
from blog_images_tui.secrets import redact
from blog_images_tui.storage import Store, StoredImage, encode_metadata

RECOVERY_ENV = "BLOG_IMAGES_RECOVERY_DIR"
TARGET_FILE = "target.json"
# Store options that may be written to disk: never keys, secrets or tokens.
SAFE_STORE_OPTIONS = ("endpoint_url", "profile", "region", "cache_control", "public_base_url", "anon")


def recovery_root() -> Path:
    """``$BLOG_IMAGES_RECOVERY_DIR``, else ``$XDG_STATE_HOME/blog-images/recovery``."""
    if os.environ.get(RECOVERY_ENV):
        return Path(os.environ[RECOVERY_ENV]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "blog-images" / "recovery"


@dataclass(frozen=True)
class PendingRecovery:
    folder: Path
    store_url: str
    store_options: dict[str, Any]
    section: SectionRef
    filename: str
    output_format: str
    reason: str
    saved_at: str

    @property
    def image_file(self) -> Path:
        return self.folder / layout.image_name(self.filename, self.output_format)

    @property
    def metadata_file(self) -> Path:
        return self.folder / layout.metadata_name(self.filename)


def keep_for_recovery(*, store_url: str, store_options: dict[str, Any], section: SectionRef, filename: str,
                      output_format: str, image: bytes, metadata: dict[str, Any], reason: str) -> Path:
    """Write image, metadata and target note to a new recovery folder; return it.

    Falls back to the system temp folder if the configured one is unusable.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{filename}-{secrets.token_hex(3)}"
    target = {
        "store_url": store_url,
        "store_options": {k: v for k, v in store_options.items() if k in SAFE_STORE_OPTIONS},
        "post_id": section.post_id,
        "section_id": section.section_id,
        "filename": filename,
        "output_format": output_format,
        "reason": redact(reason),  # error text: may quote a key or a signed URL
        "saved_at": datetime.now(timezone.utc).isoformat(),
    }
    last_error: OSError | None = None
    for base in (recovery_root(), Path(tempfile.gettempdir()) / "blog-images-recovery"):
        folder = base / name
        try:
            folder.mkdir(parents=True, exist_ok=False)
            (folder / layout.image_name(filename, output_format)).write_bytes(image)
            (folder / layout.metadata_name(filename)).write_bytes(encode_metadata(metadata))
            # The note last: a folder without it is incomplete and ignored.
            (folder / TARGET_FILE).write_text(json.dumps(target, indent=2) + "\n", encoding="utf-8")
            return folder
        except OSError as error:
            last_error = error
    raise last_error  # type: ignore[misc]


def list_pending(root: Path | None = None) -> list[PendingRecovery]:
    """Complete recovery folders, oldest first."""
    root = root or recovery_root()
    if not root.is_dir():
        return []
    pending = []
    for folder in sorted(root.iterdir()):
        note = folder / TARGET_FILE
        if not note.is_file():
            continue
        try:
            data = json.loads(note.read_text(encoding="utf-8"))
            pending.append(PendingRecovery(
                folder=folder,
                store_url=data["store_url"],
                store_options=dict(data.get("store_options") or {}),
                section=SectionRef(parse_id(data["post_id"]), parse_id(data["section_id"])),
                filename=parse_filename(data["filename"]),
                output_format=data["output_format"],
                reason=data.get("reason", ""),
                saved_at=data.get("saved_at", ""),
            ))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        except Exception:  # a BadInput from a tampered note: skip, never act on it
            continue
    return pending


def finish_recovery(pending: PendingRecovery, store: Store) -> StoredImage:
    """Upload a kept image and its metadata to ``store``; remove the folder on success.

    An image already in the store with the same bytes (the metadata write had
    failed) is not written again. A different image under the same name is never
    overwritten: the kept one gets a new name.
    """
    image = pending.image_file.read_bytes()
    metadata = json.loads(pending.metadata_file.read_text(encoding="utf-8"))
    section, filename, fmt = pending.section, pending.filename, pending.output_format
    image_rel = layout.image_path(section, filename, fmt)
    if store.exists(image_rel):
        existing = store.read_bytes(image_rel)
        if hashlib.sha256(existing).hexdigest() != hashlib.sha256(image).hexdigest():
            filename = f"{filename[:90]}-r{secrets.token_hex(3)}"
            image_rel = layout.image_path(section, filename, fmt)
            store.write_new(image_rel, image, layout.CONTENT_TYPES[fmt])
    else:
        store.write_new(image_rel, image, layout.CONTENT_TYPES[fmt])
    metadata["image_path"] = store.display_path(image_rel)
    meta_rel = layout.metadata_path(section, filename)
    if not store.exists(meta_rel):
        store.write_new(meta_rel, encode_metadata(metadata), layout.CONTENT_TYPES["json"])
    stored = StoredImage(section, filename, store.display_path(image_rel), store.display_path(meta_rel), metadata)
    for child in pending.folder.iterdir():
        child.unlink()
    pending.folder.rmdir()
    return stored
