"""The programmatic API: what the CLI is built on, for use from other programs.

    from blog_images_tui import api

    stored = api.generate("A lighthouse at dawn", post_id=53, section_id=1)
    print(stored.image_path, stored.metadata["sha256"])

    for post in api.list_posts():
        ...
    meta = api.read_metadata(53, 1, "hero")
    published = api.publish(53, 1, "hero", widths=(480, 960))
    print(published.manifest["html"])

Keys come from ``api_key=`` or the environment (``OPENAI_AUTH_TOKEN``, then
``OPENAI_API_KEY``); the store from ``store=`` or ``BLOG_IMAGES_STORE``
(default ``./static``). Errors are :class:`blog_images_tui.errors.BlogImagesError`
subclasses with an ``exit_code``.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from blog_images_tui.errors import BlogImagesError, ExitCode
from blog_images_tui.generation import (
    BASE_URL_ENV,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_S,
    ClientSettings,
    ImageGenerator,
    ImageRequest,
    PartialImageCallback,
)
from blog_images_tui.ids import PostId, SectionRef, parse_id
from blog_images_tui.models import DEFAULT_MODEL
from blog_images_tui.secrets import resolve_api_key
from blog_images_tui.service import generate_and_record
from blog_images_tui.storage import ImageEntry, Store, StoredImage, open_store

if TYPE_CHECKING:  # publishing's modules load when first used
    from blog_images_tui.publish import AltResult, ProgressCallback, PublishResult

__all__ = [
    "BlogImagesError", "ExitCode", "ImageRequest", "ClientSettings", "Store", "StoredImage", "ImageEntry",
    "SectionRef", "open_store", "client_settings", "generate", "agenerate", "list_posts", "list_sections",
    "list_images", "read_metadata", "publish", "apublish", "set_alt", "edit", "aedit", "import_image", "delete",
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


async def aedit(source: str, prompt: str, *, store: Store | str | None = None,
                store_options: dict[str, Any] | None = None, references: list[str] = (),  # type: ignore[assignment]
                mask: str | None = None, filename: str | None = None, post_id: PostId | str | None = None,
                section_id: PostId | str | None = None, n: int = 1, model: str | None = None,
                size: str | None = None, quality: str | None = None, output_format: str | None = None,
                background: str | None = None, compression: int | None = None, input_fidelity: str | None = None,
                api_key: str | None = None, base_url: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                max_retries: int = DEFAULT_MAX_RETRIES) -> list[StoredImage]:
    """Edit ``source`` (``"POST/SECTION/NAME"`` in the store) into new images; every one stored.

    Size, format and model default to the source's; everything is checked
    (mask, references, model rules) before a key is even looked up.
    """
    from blog_images_tui.editing import EditOptions, plan_edit
    from blog_images_tui.service import create_and_record

    target = _store(store, store_options)
    section = SectionRef.parse(post_id, section_id) if post_id is not None or section_id is not None else None
    options = EditOptions(prompt=prompt, references=list(references), mask=mask, filename=filename,
                          section=section, model=model, size=size, quality=quality, output_format=output_format,
                          background=background, n=n, compression=compression, input_fidelity=input_fidelity)
    request = await asyncio.to_thread(plan_edit, target, source, options)
    async with ImageGenerator(client_settings(api_key, base_url, timeout_s=timeout_s,
                                              max_retries=max_retries)) as generator:
        return await create_and_record(request, target, generator)


def edit(source: str, prompt: str, **kwargs: Any) -> list[StoredImage]:
    """Blocking version of :func:`aedit` (same arguments)."""
    return asyncio.run(aedit(source, prompt, **kwargs))


def import_image(path: str, post_id: PostId | str, section_id: PostId | str, *,
                 store: Store | str | None = None, filename: str | None = None,
                 prompt: str | None = None) -> StoredImage:
    """Bring a local PNG, JPEG or WebP into a section with its metadata (``operation: "import"``)."""
    from blog_images_tui.importing import import_image as _import
    from blog_images_tui.importing import read_import

    section = SectionRef.parse(post_id, section_id)
    return _import(_store(store), section, read_import(path), filename=filename, prompt=prompt)


def delete(post_id: PostId | str, section_id: PostId | str, names: list[str], *,
           store: Store | str | None = None, force: bool = False) -> list[ImageEntry]:
    """Delete images with their metadata; refused for an image another names as its source unless ``force``."""
    from blog_images_tui import pruning

    target = _store(store)
    plan = pruning.plan_delete(target, SectionRef.parse(post_id, section_id), names)
    return pruning.execute(target, plan, force=force)


def list_posts(store: Store | str | None = None) -> list[PostId]:
    return _store(store).list_posts()


def list_sections(post_id: PostId | str, store: Store | str | None = None) -> list[PostId]:
    return _store(store).list_sections(parse_id(post_id, what="post id"))


def list_images(post_id: PostId | str, section_id: PostId | str, store: Store | str | None = None) -> list[ImageEntry]:
    return _store(store).list_images(SectionRef.parse(post_id, section_id))


def read_metadata(post_id: PostId | str, section_id: PostId | str, filename: str,
                  store: Store | str | None = None) -> dict[str, Any]:
    return _store(store).read_metadata(SectionRef.parse(post_id, section_id), filename)


async def apublish(post_id: PostId | str, section_id: PostId | str, filename: str, *,
                   store: Store | str | None = None, store_options: dict[str, Any] | None = None,
                   widths: tuple[int, ...] | None = None, formats: tuple[str, ...] | None = None,
                   fallback: str | None = None, quality: dict[str, int] | None = None, sizes: str | None = None,
                   alt: str | None = None, workers: int | None = None, pool: str = "thread",
                   on_progress: ProgressCallback | None = None) -> PublishResult:
    """Publish one stored image for the web (``blog-images publish``); returns a ``PublishResult``.

    Unset settings come from the config files' ``[publish]`` table, then the
    defaults (480/960/1600 wide, AVIF and WebP). ``result.manifest`` holds
    the derivatives and the ``html``/``markdown`` snippets.
    """
    from blog_images_tui.encoderpool import EncoderPool
    from blog_images_tui.publish import Publisher
    from blog_images_tui.webplan import resolve_settings

    section = SectionRef.parse(post_id, section_id)
    target = _store(store, store_options)
    settings = resolve_settings(target, widths=widths, formats=formats, fallback=fallback, quality=quality,
                                sizes=sizes)
    encoder_pool = EncoderPool(workers, pool)
    try:
        return await Publisher(target, pool=encoder_pool, on_progress=on_progress).publish(
            section, filename, settings, alt=alt)
    finally:
        encoder_pool.close()


def publish(post_id: PostId | str, section_id: PostId | str, filename: str, **kwargs: Any) -> PublishResult:
    """Blocking version of :func:`apublish` (same arguments)."""
    return asyncio.run(apublish(post_id, section_id, filename, **kwargs))


def set_alt(post_id: PostId | str, section_id: PostId | str, filename: str, text: str,
            store: Store | str | None = None) -> AltResult:
    """Set an image's alt text (metadata, then its published manifest); returns an ``AltResult``."""
    from blog_images_tui.publish import set_alt as set_alt_in_store

    return set_alt_in_store(_store(store), SectionRef.parse(post_id, section_id), filename, text)
