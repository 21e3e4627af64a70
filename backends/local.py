"""Local disk store: the default, ``./static`` (the repo's ``static/`` folder).

fsspec's local filesystem serves reads and listings. Writes are our own,
because fsspec has no atomic no-clobber create on local disk (its
``autocommit=False`` stages in /tmp and moves non-atomically): the bytes go to
a hidden temp file in the target folder, are fsynced, then hard-linked to the
final name, which fails if the name exists. A reader sees nothing or everything.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from blog_images_tui.backend import Backend

TEMP_PREFIX = ".blog-images-tmp-"


class LocalBackend(Backend):
    name = "local"
    protocols = ("", "file", "local")
    option_names = ("public_base_url",)

    def filesystem(self, url: str) -> tuple[AbstractFileSystem, str]:
        path = url.split("://", 1)[1] if "://" in url else url
        root = os.path.abspath(os.path.expanduser(path or "."))
        return LocalFileSystem(), root

    def write_new(self, fs: AbstractFileSystem, path: str, data: bytes, content_type: str) -> None:
        write_new_file(Path(path), data)

    def display_path(self, fs: AbstractFileSystem, path: str) -> str:
        return os.path.abspath(path)

    def link(self, fs: AbstractFileSystem, path: str, *, expires_s: int = 3600) -> str:
        base = self.options.get("public_base_url")
        if base:
            return f"{base.rstrip('/')}/{path}"
        return Path(path).resolve().as_uri()

    def check_writable(self, fs: AbstractFileSystem, root: str) -> None:
        posts = Path(root, "content", "posts")
        posts.mkdir(parents=True, exist_ok=True)
        probe = posts / f"{TEMP_PREFIX}write-check-{secrets.token_hex(4)}"
        write_new_file(probe, b"")
        probe.unlink()


def write_new_file(target: Path, data: bytes) -> None:
    """Atomically create ``target`` with ``data``; ``FileExistsError`` if it exists.

    Creates missing parent folders. On any failure the temp file is removed and
    ``target`` is untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.parent / f"{TEMP_PREFIX}{target.name}.{secrets.token_hex(6)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, target)
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            # A filesystem without hard links: claim the name exclusively, then
            # replace the empty claim with the full file in one rename.
            claim = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.close(claim)
            os.replace(temp, target)
        _fsync_dir(target.parent)
    finally:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
