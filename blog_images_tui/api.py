"""The programmatic API: what the CLI is built on, for use from other programs.

    from blog_images_tui import api

    stored = api.generate("A lighthouse at dawn", post_id=53, section_id=1)
    print(stored.image_path, stored.metadata["sha256"])

    for post in api.list_posts():
        ...
    meta = api.read_metadata(53, 1, "hero")

Keys come from ``api_key=`` or the environment (``OPENAI_AUTH_TOKEN``, then
``OPENAI_API_KEY``); the store from ``store=`` or ``BLOG_IMAGES_STORE``
(default ``./static``). Errors are :class:`blog_images_tui.errors.BlogImagesError`
subclasses with an ``exit_code``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from blog_images_tui.errors import BlogImagesError, ExitCode
from blog_images_tui.generation import (BASE_URL_ENV, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_S, ClientSettings,
                                        ImageGenerator, ImageRequest, PartialImageCallback)
from blog_images_tui.ids import PostId, SectionRef, parse_id
from blog_images_tui.models import DEFAULT_MODEL
from blog_images_tui.secrets import resolve_api_key
from blog_images_tui.service import generate_and_record
from blog_images_tui.storage import ImageEntry, Store, StoredImage, open_store

__all__ = [
    "BlogImagesError", "ExitCode", "ImageRequest", "ClientSettings", "Store", "StoredImage", "ImageEntry",
    "SectionRef", "open_store", "client_settings", "generate", "agenerate", "list_posts", "list_sections",
    "list_images", "read_metadata",
]


def client_settings(api_key: str | None = None, base_url: str | None = None, *,
                    timeout_s: float = DEFAULT_TIMEOUT_S, max_retries: int = DEFAULT_MAX_RETRIES) -> ClientSettings:
    """Settings for the Images API from arguments, then the environment."""
    return ClientSettings(api_key=resolve_api_key(api_key), base_url=base_url or os.environ.get(BASE_URL_ENV) or None,
                          timeout_s=timeout_s, max_retries=max_retries)


def _store(store: Store | str | None, store_options: dict[str, Any] | None = None) -> Store:
    return store if isinstance(store, Store) else open_store(store, **(store_options or {}))


async def agenerate(prompt: str, post_id: PostId | str, section_id: PostId | str, *,
                    store: Store | str | None = None, store_options: dict[str, Any] | None = None,
                    filename: str | None = None, model: str = DEFAULT_MODEL, size: str | None = None,
                    quality: str | None = None, style: str | None = None, output_format: str = "png",
                    background: str | None = None, api_key: str | None = None, base_url: str | None = None,
                    timeout_s: float = DEFAULT_TIMEOUT_S, max_retries: int = DEFAULT_MAX_RETRIES,
                    on_partial: PartialImageCallback | None = None, partial_images: int = 0) -> StoredImage:
    """Generate one image and store it with its metadata; return where it went."""
    request = ImageRequest(prompt=prompt, section=SectionRef.parse(post_id, section_id), filename=filename,
                           model=model, size=size, quality=quality, style=style, output_format=output_format,
                           background=background, partial_images=partial_images)
    request = request.validated()  # bad input fails before a key is even looked up
    target = _store(store, store_options)
    async with ImageGenerator(client_settings(api_key, base_url, timeout_s=timeout_s,
                                              max_retries=max_retries)) as generator:
        return await generate_and_record(request, target, generator, on_partial=on_partial)


def generate(prompt: str, post_id: PostId | str, section_id: PostId | str, **kwargs: Any) -> StoredImage:
    """Blocking version of :func:`agenerate` (same arguments)."""
    return asyncio.run(agenerate(prompt, post_id, section_id, **kwargs))


def list_posts(store: Store | str | None = None) -> list[PostId]:
    return _store(store).list_posts()


def list_sections(post_id: PostId | str, store: Store | str | None = None) -> list[PostId]:
    return _store(store).list_sections(parse_id(post_id, what="post id"))


def list_images(post_id: PostId | str, section_id: PostId | str, store: Store | str | None = None) -> list[ImageEntry]:
    return _store(store).list_images(SectionRef.parse(post_id, section_id))


def read_metadata(post_id: PostId | str, section_id: PostId | str, filename: str,
                  store: Store | str | None = None) -> dict[str, Any]:
    return _store(store).read_metadata(SectionRef.parse(post_id, section_id), filename)
