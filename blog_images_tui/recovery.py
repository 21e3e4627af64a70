"""The local recovery folder: paid-for images not (yet) safely in the store.

Two kinds of entry share one layout (image, metadata, ``target.json`` note):

- a **journal** entry, written and fsynced before a paid-for image goes to
  the store and removed once image and metadata are both there. If the
  process is killed in between (kill -9, power loss), the entry outlives it:
  a re-run, ``blog-images recover`` or ``doctor --fix`` finishes the pair
  without paying twice. While its writer is alive it is left alone.
- a **kept** entry: the store refused the image (network down, bucket
  policy changed, disk full, metadata write failed) or the image did not
  verify. ``blog-images recover`` (and the TUI) finish the upload later; an
  image that did not verify is never uploaded as good.

The folder is per user and private (mode 0700). Nothing in here holds a secret.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blog_images_tui import layout
from blog_images_tui.errors import BadInput
from blog_images_tui.ids import SectionRef, parse_filename, parse_id
from blog_images_tui.secrets import redact
from blog_images_tui.storage import Store, StoredImage, encode_metadata

RECOVERY_ENV = "BLOG_IMAGES_RECOVERY_DIR"
TARGET_FILE = "target.json"
# Store options that may be written to disk: never keys, secrets or tokens.
SAFE_STORE_OPTIONS = ("endpoint_url", "profile", "region", "cache_control", "public_base_url", "anon",
                      "accept_overwrite_risk")
#: note states: being written to the store by a live process, or kept for a later upload
WRITING, KEPT = "writing", "kept"
INTERRUPTED_REASON = "the process ended while the image was being stored"


def state_home() -> Path:
    """Where this tool keeps local state: ``$XDG_STATE_HOME/blog-images`` (``~/.local/state/blog-images``)."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "blog-images"


def recovery_root() -> Path:
    """``$BLOG_IMAGES_RECOVERY_DIR``, else ``$XDG_STATE_HOME/blog-images/recovery``."""
    if os.environ.get(RECOVERY_ENV):
        return Path(os.environ[RECOVERY_ENV]).expanduser()
    return state_home() / "recovery"


def fallback_root() -> Path:
    """Where images go when the recovery folder is unusable: per user, under the system temp folder."""
    return Path(tempfile.gettempdir()) / f"blog-images-recovery-{os.getuid()}"


def _private_folder(path: Path, *, shared_parent: bool) -> Path:
    """Create ``path`` (mode 0700) or check an existing one is ours and private.

    Under a shared parent (the system temp folder) anyone could have made the
    folder first: it must be a real folder owned by us, never a symlink.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(f"{path} is not a folder")
    if info.st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to another user")
    if shared_parent and stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


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
    #: why the kept image must not be uploaded as good (it did not verify), or None
    problem: str | None = None
    #: True for a journal entry whose writer died before finishing
    interrupted: bool = False

    @property
    def image_file(self) -> Path:
        return self.folder / layout.image_name(self.filename, self.output_format)

    @property
    def metadata_file(self) -> Path:
        return self.folder / layout.metadata_name(self.filename)

    def is_for(self, store: Store) -> bool:
        """True if this waits for ``store`` (named by URL as typed or absolute)."""
        return self.store_url in (store.url, store.location)


def _write_durably(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _note(*, store_url: str, store_options: dict[str, Any], section: SectionRef, filename: str,
          output_format: str, reason: str, state: str, problem: str | None) -> dict[str, Any]:
    return {
        "store_url": store_url,
        "store_options": {k: v for k, v in store_options.items() if k in SAFE_STORE_OPTIONS},
        "post_id": section.post_id,
        "section_id": section.section_id,
        "filename": filename,
        "output_format": output_format,
        "reason": redact(reason),  # error text: may quote a key or a signed URL
        "problem": redact(problem) if problem else None,
        "state": state,
        "writer": {"pid": os.getpid(), "host": socket.gethostname()},
        "saved_at": datetime.now(UTC).isoformat(),
    }


def _new_folder(filename: str, image: bytes, metadata: dict[str, Any], output_format: str,
                note: dict[str, Any]) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{filename}-{secrets.token_hex(3)}"
    last_error: OSError | None = None
    for base, shared in ((recovery_root(), False), (fallback_root(), True)):
        folder = base / name
        try:
            _private_folder(base, shared_parent=shared)
            folder.mkdir(mode=0o700)
            _write_durably(folder / layout.image_name(filename, output_format), image)
            _write_durably(folder / layout.metadata_name(filename), encode_metadata(metadata))
            # The note last: a folder without it is incomplete and ignored.
            _write_durably(folder / TARGET_FILE, (json.dumps(note, indent=2) + "\n").encode("utf-8"))
            _fsync_folder(folder)
            _fsync_folder(base)
            return folder
        except OSError as error:
            last_error = error
    raise last_error  # type: ignore[misc]


def _rewrite_note(folder: Path, changes: dict[str, Any]) -> None:
    note_path = folder / TARGET_FILE
    note = json.loads(note_path.read_text(encoding="utf-8"))
    note.update(changes)
    temp = folder / f".{TARGET_FILE}.{secrets.token_hex(4)}"
    _write_durably(temp, (json.dumps(note, indent=2) + "\n").encode("utf-8"))
    os.replace(temp, note_path)
    _fsync_folder(folder)


def keep_for_recovery(*, store_url: str, store_options: dict[str, Any], section: SectionRef, filename: str,
                      output_format: str, image: bytes, metadata: dict[str, Any], reason: str,
                      problem: str | None = None) -> Path:
    """Write image, metadata and target note to a new recovery folder; return it.

    ``problem`` marks an image that did not verify: kept, never uploaded as
    good. Falls back to a per-user private folder in the system temp folder
    if the configured one is unusable.
    """
    note = _note(store_url=store_url, store_options=store_options, section=section, filename=filename,
                 output_format=output_format, reason=reason, state=KEPT, problem=problem)
    return _new_folder(filename, image, metadata, output_format, note)


class Journal:
    """A paid-for image on its way to the store, safe on local disk first.

    :meth:`open` fsyncs image, metadata and note before the store write
    starts; :meth:`done` removes them once the pair is stored; :meth:`keep`
    turns the entry into a kept one with the reason the store refused.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def open(cls, *, store_url: str, store_options: dict[str, Any], section: SectionRef, filename: str,
             output_format: str, image: bytes, metadata: dict[str, Any]) -> Journal:
        note = _note(store_url=store_url, store_options=store_options, section=section, filename=filename,
                     output_format=output_format, reason=INTERRUPTED_REASON, state=WRITING, problem=None)
        return cls(_new_folder(filename, image, metadata, output_format, note))

    def done(self) -> None:
        _remove_folder(self.folder)

    def keep(self, reason: str) -> Path:
        _rewrite_note(self.folder, {"state": KEPT, "reason": redact(reason)})
        return self.folder


def _remove_folder(folder: Path) -> None:
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()


def _writer_alive(writer: Any) -> bool:
    if not isinstance(writer, dict) or writer.get("host") != socket.gethostname():
        return False
    pid = writer.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _roots(root: Path | None) -> list[Path]:
    if root is not None:
        return [root]
    roots = [recovery_root()]
    if fallback_root() not in roots:
        roots.append(fallback_root())
    return roots


def list_pending(root: Path | None = None) -> list[PendingRecovery]:
    """Complete recovery folders, oldest first (journal entries of live writers left out).

    Without ``root``, the per-user fallback folder is searched too, so an
    image kept there is never forgotten.
    """
    pending = []
    for base in _roots(root):
        if not base.is_dir():
            continue
        for folder in sorted(base.iterdir()):
            item = _read_pending(folder)
            if item is not None:
                pending.append(item)
    return sorted(pending, key=lambda item: (item.saved_at, str(item.folder)))


def _read_pending(folder: Path) -> PendingRecovery | None:
    note = folder / TARGET_FILE
    if not note.is_file():
        return None
    try:
        data = json.loads(note.read_text(encoding="utf-8"))
        writing = data.get("state") == WRITING
        if writing and _writer_alive(data.get("writer")):
            return None  # being stored right now by another run
        return PendingRecovery(
            folder=folder,
            store_url=data["store_url"],
            store_options=dict(data.get("store_options") or {}),
            section=SectionRef(parse_id(data["post_id"]), parse_id(data["section_id"])),
            filename=parse_filename(data["filename"]),
            output_format=data["output_format"],
            reason=data.get("reason", ""),
            saved_at=data.get("saved_at", ""),
            problem=data.get("problem") or None,
            interrupted=writing,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    except Exception:  # a BadInput from a tampered note: skip, never act on it
        return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def finish_recovery(pending: PendingRecovery, store: Store) -> StoredImage:
    """Upload a kept image and its metadata to ``store``; remove the folder on success.

    Pairs by exact name: an image already in the store with the same bytes
    (the metadata write had failed, or the process died) gets its metadata
    and is not written again. When anything else takes the stem (a different
    image, the same stem in another format or letter case, a folder, foreign
    metadata) the kept pair is stored under a new name: never overwritten,
    never paired with another image's metadata. A kept image that did not
    verify is refused (:class:`BadInput`) and stays where it is.
    """
    if pending.problem:
        raise BadInput(f"not uploaded: the kept image did not verify ({pending.problem}); "
                       f"look at it by hand in {pending.folder}")
    image = pending.image_file.read_bytes()
    metadata = json.loads(pending.metadata_file.read_text(encoding="utf-8"))
    section, fmt = pending.section, pending.output_format
    filename = pending.filename
    image_name, meta_name = layout.image_name(filename, fmt), layout.metadata_name(filename)
    holders = set(store.stem_holders(section, filename))
    raw = layout.raw_dir(section)
    image_there = image_name in holders and _same_bytes(store, f"{raw}/{image_name}", image)
    meta_there = image_there and meta_name in holders and _metadata_matches(store, f"{raw}/{meta_name}", image)
    # Ours, exactly: nothing else takes the stem, and what is there is this pair's.
    ours = (holders <= {image_name, meta_name} and (image_there or image_name not in holders)
            and (meta_there or meta_name not in holders))
    if not ours:
        filename, image_there, meta_there = _new_name(filename), False, False
    image_rel = layout.image_path(section, filename, fmt)
    meta_rel = layout.metadata_path(section, filename)
    if not image_there:
        store.create(image_rel, image, layout.CONTENT_TYPES[fmt])
    metadata["image_path"] = store.display_path(image_rel)
    if not meta_there:
        store.create(meta_rel, encode_metadata(metadata), layout.CONTENT_TYPES["json"])
    stored = StoredImage(section, filename, store.display_path(image_rel), store.display_path(meta_rel), metadata)
    # Removed only once both are in the store.
    _remove_folder(pending.folder)
    return stored


def _new_name(filename: str) -> str:
    return f"{filename[:90]}-r{secrets.token_hex(3)}"


def _same_bytes(store: Store, relative: str, image: bytes) -> bool:
    try:
        return _sha256(store.read_bytes(relative)) == _sha256(image)
    except (FileNotFoundError, IsADirectoryError):
        return False


def _metadata_matches(store: Store, relative: str, image: bytes) -> bool:
    try:
        stored = json.loads(store.read_bytes(relative))
    except (FileNotFoundError, IsADirectoryError, ValueError):
        return False
    return isinstance(stored, dict) and stored.get("sha256") == _sha256(image)


def finish_interrupted(store: Store, section: SectionRef | None = None) -> list[StoredImage]:
    """Finish the journal entries for ``store`` (and ``section``) whose writer died.

    Run before a write run lists a section, so a re-run after a kill finds
    the pair complete instead of paying again or failing on a taken name.
    Entries that cannot be finished now stay for ``recover``.
    """
    finished = []
    for item in list_pending():
        if not item.interrupted or not item.is_for(store) or (section is not None and item.section != section):
            continue
        try:
            finished.append(finish_recovery(item, store))
        except Exception:  # left for `recover` / `doctor --fix`, which report why
            continue
    return finished
