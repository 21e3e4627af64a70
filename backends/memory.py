"""In-memory store (``memory://name``): for tests and demos; gone when the process ends."""

from __future__ import annotations

from fsspec import AbstractFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from blog_images_tui.backend import Backend


class MemoryBackend(Backend):
    name = "memory"
    protocols = ("memory",)
    option_names = ("public_base_url", "url_prefix")

    def filesystem(self, url: str) -> tuple[AbstractFileSystem, str]:
        fs = MemoryFileSystem()
        # The memory filesystem is one process-wide tree; the URL names a root in it.
        return fs, MemoryFileSystem._strip_protocol(url).rstrip("/")
