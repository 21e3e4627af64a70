"""The storage backend interface. The core owns it; ``backends/`` implements it.

A backend is configuration and quirks over an fsspec filesystem: how to build
the filesystem from a URL and options, how to write a new object without ever
overwriting or exposing a partial one, how to name an object for a human (full
local path or ``s3://bucket/key``) and how to link to it. Reading and listing
go through fsspec's own API in :mod:`blog_images_tui.storage`.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from fsspec import AbstractFileSystem


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

    @abstractmethod
    def filesystem(self, url: str) -> tuple[AbstractFileSystem, str]:
        """Return the fsspec filesystem and the root path inside it for ``url``."""

    def write_new(self, fs: AbstractFileSystem, path: str, data: bytes, content_type: str) -> None:
        """Create ``path`` with ``data``; raise ``FileExistsError`` if it exists.

        The default uses fsspec's ``pipe_file(mode="create")``: one request, so
        no partial object is ever visible on object stores.
        """
        fs.pipe_file(path, data, mode="create")

    def display_path(self, fs: AbstractFileSystem, path: str) -> str:
        """What a person sees (and metadata's ``image_path`` holds) for ``path``."""
        return fs.unstrip_protocol(path)

    def link(self, fs: AbstractFileSystem, path: str, *, expires_s: int = 3600) -> str:
        """A URL a browser can open: a public base URL if configured, else a signed one."""
        return self.display_path(fs, path)

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

    def __init__(self, **options: Any) -> None:
        self.options = options  # passed straight to the fsspec filesystem

    def filesystem(self, url: str) -> tuple[AbstractFileSystem, str]:
        from fsspec.core import url_to_fs

        fs, root = url_to_fs(url, **self.options)
        return fs, root.rstrip("/")
