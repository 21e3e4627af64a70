"""The storage backend interface. The core owns it; ``backends/`` implements it.

A backend is configuration and quirks over an fsspec filesystem: how to build
the filesystem from a URL and options, the two write primitives of the write
protocol (``docs/write-protocol.md``) -- an exclusive create that never
overwrites or exposes a partial object, and a conditional whole replacement
of a replaceable JSON object -- how to name an object for a human (full local
path or ``s3://bucket/key``) and how to link to it. Reading and listing go
through fsspec's own API in :mod:`blog_images_tui.storage`.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from fsspec import AbstractFileSystem

#: Content types of the only objects ever replaced (a manifest, a metadata's ``alt``).
REPLACEABLE_CONTENT_TYPES = ("application/json",)


def content_version(data: bytes) -> str:
    """The version token of a local or in-memory object: a hash of its bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def cache_control_for(configured: str | None, content_type: str) -> str | None:
    """The Cache-Control an object is written with.

    Images and derivatives never change, so they take the store's setting as
    given (``immutable`` included). A replaceable object (JSON: metadata,
    manifests) never carries ``immutable``: a cache could serve the old
    version of a replaced manifest or ``alt`` forever.
    """
    if not configured or content_type not in REPLACEABLE_CONTENT_TYPES:
        return configured or None
    kept = [part.strip() for part in configured.split(",") if part.strip().lower() != "immutable"]
    return ", ".join(part for part in kept if part) or None


class Backend(ABC):
    """One kind of store. Subclasses are registered by entry point name."""

    name: ClassVar[str]
    #: URL schemes this backend serves (``""`` is a plain local path).
    protocols: ClassVar[tuple[str, ...]]
    #: True when ``write_new`` is atomic and exclusive on the server itself.
    atomic_exclusive_create: ClassVar[bool] = True
    #: Option names accepted from ``--store-option KEY=VALUE``.
    option_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - set(self.option_names)
        if unknown:
            from blog_images_tui.errors import BadInput

            raise BadInput(
                f"unknown store option(s) for {self.name}: {', '.join(sorted(unknown))}; "
                f"known: {', '.join(self.option_names) or 'none'}"
            )
        self.options = options
        self._replace_lock = threading.Lock()

    @abstractmethod
    def filesystem(self, url: str) -> tuple[AbstractFileSystem, str]:
        """Return the fsspec filesystem and the root path inside it for ``url``."""

    # -- the two write primitives (see docs/write-protocol.md) -------------------------
    def write_new(self, fs: AbstractFileSystem, path: str, data: bytes, content_type: str) -> None:
        """Create ``path`` with ``data``; raise ``FileExistsError`` if it exists.

        The default uses fsspec's ``pipe_file(mode="create")``: one request, so
        no partial object is ever visible on object stores.
        """
        fs.pipe_file(path, data, mode="create")

    def read_versioned(self, fs: AbstractFileSystem, path: str) -> tuple[bytes, str]:
        """The bytes of ``path`` and a version token for :meth:`replace_if`.

        The default token is a hash of the bytes (memory and generic stores).
        ``FileNotFoundError`` if there is no such object.
        """
        data = fs.cat_file(path)
        return data, content_version(data)

    def replace_if(self, fs: AbstractFileSystem, path: str, data: bytes, content_type: str,
                   expected_version: str) -> str:
        """Replace ``path`` as a whole with ``data`` if its version is still ``expected_version``.

        Returns the new version; raises :class:`blog_images_tui.errors.Conflict`
        if the object changed or vanished meanwhile. The default compares and
        writes under a process-wide lock: enough for the memory store, where no
        other process can write.
        """
        from blog_images_tui.errors import Conflict

        with self._replace_lock:
            try:
                current = fs.cat_file(path)
            except FileNotFoundError:
                raise Conflict(f"{path} was removed meanwhile") from None
            if content_version(current) != expected_version:
                raise Conflict(f"{path} was changed meanwhile")
            fs.pipe_file(path, data)
        return content_version(data)

    def check_folder(self, fs: AbstractFileSystem, root: str, folder: str) -> None:  # noqa: B027 - a hook, no-op by default
        """Raise :class:`StoreUnusable` unless images can be created in ``folder``.

        Object stores have no folders to get in the way: nothing to check.
        """


    def list_tree(self, fs: AbstractFileSystem, path: str) -> list[str]:
        """Paths of every file under ``path``, from one walk (on object stores one paginated listing)."""
        try:
            return list(fs.find(path))
        except FileNotFoundError:
            return []

    # -- naming ---------------------------------------------------------------------------
    def display_path(self, fs: AbstractFileSystem, path: str) -> str:
        """What a person sees (and metadata's ``image_path`` holds) for ``path``."""
        return fs.unstrip_protocol(path)

    def link(self, fs: AbstractFileSystem, path: str, *, expires_s: int = 3600) -> str:
        """A URL a browser can open: a public base URL if configured, else a signed one."""
        return self.display_path(fs, path)

    def public_url(self, root: str, relative: str) -> str:
        """The URL a web page links the store-relative path with (published derivatives).

        The ``public_base_url`` option (the store root as served), else the
        ``url_prefix`` option, else a root-relative path (``/content/posts/...``,
        what a static site serves its ``static/`` folder as).
        """
        base = self.options.get("public_base_url")
        if base:
            return f"{base.rstrip('/')}/{self.served_path(root, relative)}"
        prefix = self.options.get("url_prefix")
        if prefix:
            return f"{prefix.rstrip('/')}/{relative}"
        return f"/{relative}"

    def served_path(self, root: str, relative: str) -> str:
        """``relative`` as the server behind ``public_base_url`` sees it (the store root by default)."""
        return relative

    def check_writable(self, fs: AbstractFileSystem, root: str) -> None:
        """Raise ``OSError`` (or a subclass) unless a new object can be written under ``root``.

        Writes and removes a small probe, so credentials, bucket and permissions
        are all exercised before an image is paid for.
        """
        probe = f"{root}/content/posts/.blog-images-write-check-{uuid.uuid4().hex}"
        self.write_new(fs, probe, b"", "application/octet-stream")
        try:
            fs.rm_file(probe)
        except OSError:
            pass  # no delete permission is fine: we only need to create


class FsspecBackend(Backend):
    """Any other fsspec URL (gcs://, az://, sftp://, ...): generic, best effort."""

    name = "fsspec"
    protocols = ()
    atomic_exclusive_create = False

    #: options of ours; every other option goes straight to the fsspec filesystem
    link_options = ("public_base_url", "url_prefix")

    def __init__(self, **options: Any) -> None:
        self.options = options
        self._replace_lock = threading.Lock()

    def filesystem(self, url: str) -> tuple[AbstractFileSystem, str]:
        from fsspec.core import url_to_fs

        fs, root = url_to_fs(url, **{k: v for k, v in self.options.items() if k not in self.link_options})
        return fs, root.rstrip("/")
