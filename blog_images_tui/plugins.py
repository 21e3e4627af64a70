"""Find storage backends by name or by URL scheme.

Backends are registered under the ``blog_images.backends`` entry point group
(see pyproject.toml), so another package can add one. Names are listed without
importing the backends; a backend is imported only when used.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from blog_images_tui.backend import Backend, FsspecBackend
from blog_images_tui.errors import BadInput

ENTRY_POINT_GROUP = "blog_images.backends"
# Used when the package runs from a source tree without being installed.
BUILTIN_BACKENDS = {
    "local": "backends.local:LocalBackend",
    "s3": "backends.s3:S3Backend",
    "memory": "backends.memory:MemoryBackend",
}
SCHEME_TO_BACKEND = {"": "local", "file": "local", "local": "local", "s3": "s3", "s3a": "s3", "memory": "memory"}


def _registered() -> dict[str, str]:
    found = dict(BUILTIN_BACKENDS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep.value
    return found


def backend_names() -> list[str]:
    """Names of every registered backend, without importing any."""
    return sorted(_registered())


def load_backend_class(name: str) -> type[Backend]:
    target = _registered().get(name)
    if target is None:
        raise BadInput(f"unknown store backend {name!r}; installed: {', '.join(backend_names())}")
    module_name, _, attr = target.partition(":")
    from importlib import import_module

    return getattr(import_module(module_name), attr)


def scheme_of(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


def backend_for_url(url: str, options: dict[str, Any] | None = None) -> Backend:
    """The backend serving ``url``; unknown schemes get the generic fsspec backend."""
    options = options or {}
    scheme = scheme_of(url)
    name = SCHEME_TO_BACKEND.get(scheme)
    if name is None:
        # A third-party backend may claim a scheme by its name.
        if scheme in _registered():
            return load_backend_class(scheme)(**options)
        return FsspecBackend(**options)
    return load_backend_class(name)(**options)
