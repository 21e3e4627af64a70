"""Local disk store: the default, ``./static`` (the repo's ``static/`` folder).

fsspec's local filesystem serves reads and listings. Writes are our own,
because fsspec has no atomic no-clobber create on local disk (its
``autocommit=False`` stages in /tmp and moves non-atomically): the bytes go to
a hidden temp file in the target folder, are fsynced, then published under
the final name in one step that fails if the name exists (a hard link, or
``renameat2(RENAME_NOREPLACE)`` where hard links are not supported). A reader
sees nothing or everything: never an empty or partial file under the final
name, on any filesystem. Every folder written to is checked to be inside the
store root after symlinks are resolved.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import secrets
from pathlib import Path

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from blog_images_tui.backend import Backend, content_version

TEMP_PREFIX = ".blog-images-tmp-"
#: errors of os.link on filesystems without hard links (vfat, some FUSE and network mounts)
NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS)
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


class LocalBackend(Backend):
    name = "local"
    protocols = ("", "file", "local")
    option_names = ("public_base_url", "url_prefix")

    def filesystem(self, url: str) -> tuple[AbstractFileSystem, str]:
        path = url.split("://", 1)[1] if "://" in url else url
        root = os.path.abspath(os.path.expanduser(path or "."))
        self.root = root
        return LocalFileSystem(), root

    def write_new(self, fs: AbstractFileSystem, path: str, data: bytes, content_type: str) -> None:
        root = getattr(self, "root", None)
        write_new_file(Path(path), data, root=Path(root) if root else None)

    def read_versioned(self, fs: AbstractFileSystem, path: str) -> tuple[bytes, str]:
        data = Path(path).read_bytes()
        return data, content_version(data)

    def replace_if(self, fs: AbstractFileSystem, path: str, data: bytes, content_type: str,
                   expected_version: str) -> str:
        root = getattr(self, "root", None)
        replace_file_if(Path(path), data, expected_version, root=Path(root) if root else None)
        return content_version(data)

    def check_folder(self, fs: AbstractFileSystem, root: str, folder: str) -> None:
        """Every existing part of ``folder`` below ``root`` is a folder, and inside ``root``."""
        from blog_images_tui.errors import StoreUnusable

        path = Path(root)
        for part in Path(folder).relative_to(root).parts:
            path = path / part
            if not os.path.lexists(path):
                return
            if not path.is_dir():
                kind = "a dangling symlink" if path.is_symlink() else "a file"
                raise StoreUnusable(f"{path} is {kind}, not a folder: no image can be stored under it",
                                    hint="move it out of the way")
            try:
                check_inside(path, Path(root))
            except PermissionError as error:
                raise StoreUnusable(f"{error.strerror}: refusing to write there",
                                    hint="point the store at that folder itself, or replace the symlink") from None

    def display_path(self, fs: AbstractFileSystem, path: str) -> str:
        return os.path.abspath(path)

    def link(self, fs: AbstractFileSystem, path: str, *, expires_s: int = 3600) -> str:
        base = self.options.get("public_base_url")
        if base:
            return f"{base.rstrip('/')}/{path}"
        return Path(path).resolve().as_uri()

    def check_writable(self, fs: AbstractFileSystem, root: str) -> None:
        if not os.path.isdir(os.path.dirname(root.rstrip("/")) or "/"):
            raise FileNotFoundError(errno.ENOENT, "its parent folder does not exist (mistyped?)", root)
        posts = Path(root, "content", "posts")
        posts.mkdir(parents=True, exist_ok=True)
        probe = posts / f"{TEMP_PREFIX}write-check-{secrets.token_hex(4)}"
        write_new_file(probe, b"", root=Path(root))
        probe.unlink()


def check_inside(folder: Path, root: Path | None) -> None:
    """Raise ``PermissionError`` if ``folder`` (symlinks resolved) is outside ``root``.

    A symlinked post, section or ``raw`` folder pointing elsewhere on the disk
    must never receive a write meant for the store.
    """
    if root is None:
        return
    real_root = os.path.realpath(root)
    real = os.path.realpath(folder)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise PermissionError(errno.EACCES, f"{folder} leads outside the store root (through a symlink)",
                              str(folder))


def _make_folders(folder: Path, root: Path | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    check_inside(folder, root)


def _write_temp(folder: Path, name: str, data: bytes) -> Path:
    temp = folder / f"{TEMP_PREFIX}{name}.{secrets.token_hex(6)}"
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
    except BaseException:
        _unlink_quietly(temp)
        raise
    return temp


def _rename_noreplace(source: Path, target: Path) -> None:
    """``renameat2(RENAME_NOREPLACE)``: atomic, and ``FileExistsError`` if ``target`` exists."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    result = renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE)
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(target))


def write_new_file(target: Path, data: bytes, *, root: Path | None = None) -> None:
    """Atomically create ``target`` with ``data``; ``FileExistsError`` if it exists.

    Creates missing parent folders (inside ``root``). On any failure the temp
    file is removed and ``target`` is untouched; no step ever shows an empty
    or partial file under ``target``.
    """
    _make_folders(target.parent, root)
    temp = _write_temp(target.parent, target.name, data)
    try:
        try:
            os.link(temp, target)
        except OSError as error:
            if error.errno not in NO_HARD_LINKS:
                raise
            # No hard links here: one atomic rename that refuses an existing name.
            # EINVAL/ENOSYS mean the filesystem cannot do that either: refuse rather
            # than publish through a step that could show a partial or clobber a file.
            _rename_noreplace(temp, target)
        _fsync_dir(target.parent)
    finally:
        _unlink_quietly(temp)


def replace_file_if(target: Path, data: bytes, expected_version: str, *, root: Path | None = None) -> None:
    """Replace ``target`` as a whole if its content still has ``expected_version``.

    Compare and rename happen under an exclusive lock on the folder, so two
    replacers in different processes cannot both succeed on the same version;
    a reader sees the old file or the new one, never a mix.
    """
    from blog_images_tui.errors import Conflict

    check_inside(target.parent, root)
    folder_fd = os.open(target.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder_fd, fcntl.LOCK_EX)
        try:
            current = target.read_bytes()
        except FileNotFoundError:
            raise Conflict(f"{target} was removed meanwhile") from None
        if content_version(current) != expected_version:
            raise Conflict(f"{target} was changed meanwhile")
        temp = _write_temp(target.parent, target.name, data)
        try:
            os.replace(temp, target)
        finally:
            _unlink_quietly(temp)
        os.fsync(folder_fd)
    finally:
        os.close(folder_fd)  # releases the lock


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
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
