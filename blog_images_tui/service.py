"""Generate one image into a store: the workflow both faces (CLI, TUI) run.

Order matters, and every step before the API call costs nothing:
validate -> name free? -> store writable? -> generate (paid) -> verify ->
store image -> store metadata. Once an image is paid for it is never dropped:
if the store refuses it, it goes to the local recovery folder and
:class:`NotStored` (exit 7) says where and how to finish.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shlex
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from blog_images_tui import layout
from blog_images_tui.errors import NameTaken, NotStored, TemporaryFailure
from blog_images_tui.generation import GeneratedImage, ImageGenerator, ImageRequest, PartialImageCallback
from blog_images_tui.ids import parse_filename
from blog_images_tui.metadata import Variant, build_metadata
from blog_images_tui.pacing import MAX_RETRY_AFTER_S, Pacing
from blog_images_tui.recovery import RECOVERY_ENV, keep_for_recovery, recovery_root
from blog_images_tui.storage import MetadataWriteFailed, Store, StoredImage, error_summary

log = logging.getLogger("blog_images.service")

StageCallback = Callable[[str], Any]


async def prepare(request: ImageRequest, store: Store, *, check_store: bool = True) -> ImageRequest:
    """Validate, choose a filename and make sure the store can take the image.

    Raises :class:`BadInput` (name taken, invalid options) or
    :class:`StoreUnusable`, before any API call.
    """
    request = request.validated()
    if request.filename is None:
        request = replace(request, filename=layout.timestamp_filename())
    else:
        await asyncio.to_thread(check_names_free, store, request)
    if check_store:
        await asyncio.to_thread(store.check_writable)
    return request


def check_names_free(store: Store, request: ImageRequest) -> None:
    """Raise :class:`NameTaken` if anything takes the stem of the request's name or of a variant's
    (any format or case). Blocking: one listing."""
    names = [parse_filename(name) for name in layout.variant_filenames(request.filename or "", request.n)]
    taken = [holder for name in names for holder in store.stem_holders(request.section, name)]
    if taken:
        raise NameTaken(taken[0], store.display_path(layout.raw_dir(request.section)))


async def store_results(request: ImageRequest, store: Store, images: list, *,
                        name_checked: bool = False) -> list[StoredImage]:
    """Write every image one request returned (``NAME`` or ``NAME-1`` ... ``NAME-K``) with its metadata.

    Each one that the store refuses is kept for recovery, the others still
    land; then :class:`NotStored` says what is kept where. Storing is let
    finish even on Ctrl-C: nothing paid for is dropped half-way.
    ``name_checked``: the caller saw the names free in a listing (see :meth:`Store.save`).
    """
    assert request.filename is not None and images
    names = layout.variant_filenames(request.filename, request.n)
    partial = images[0].received < images[0].requested
    group_id = secrets.token_hex(8) if request.n > 1 or partial else None
    plans = []
    for index, generated in enumerate(images):
        filename = names[index]
        variant = Variant(index + 1, len(images), group_id) if group_id else None
        image_rel = layout.image_path(request.section, filename, request.output_format)
        metadata = build_metadata(request, generated, image_path=store.display_path(image_rel), variant=variant)
        plans.append((filename, generated, metadata))

    def save_all() -> list:
        outcomes: list = []
        for filename, generated, metadata in plans:
            try:
                outcomes.append(store.save(request.section, filename, request.output_format, generated.data,
                                           metadata, name_checked=name_checked))
            except Exception as error:  # kept for recovery below, the next image is still stored
                outcomes.append(error)
        return outcomes

    save = asyncio.ensure_future(asyncio.to_thread(save_all))
    cancelled = False
    while True:
        try:
            # Shielded: paid-for images being written are let finish even on Ctrl-C.
            outcomes = await asyncio.shield(save)
            break
        except asyncio.CancelledError:
            cancelled = True
            if save.done() and not save.cancelled():
                outcomes = save.result()
                break
    stored: list[StoredImage] = []
    kept: list[tuple[Any, str]] = []
    for (filename, generated, metadata), outcome in zip(plans, outcomes, strict=True):
        if isinstance(outcome, StoredImage):
            stored.append(outcome)
            continue
        reason = _failure_reason(request, filename, outcome)
        folder = await asyncio.to_thread(
            keep_for_recovery, store_url=store.location, store_options=store.backend.options,
            section=request.section, filename=filename, output_format=request.output_format,
            image=generated.data, metadata=metadata, reason=reason)
        log.error("image kept for recovery at %s: %s", folder, reason)
        kept.append((folder, reason))
    if kept:
        if cancelled:
            raise asyncio.CancelledError
        folder, reason = kept[0]
        command = f"blog-images recover --store {shlex.quote(store.location)}"
        if folder.parent != recovery_root():
            # The recovery folder was unusable and the image went to the fallback in the
            # system temp folder, where `recover` does not look unless told to.
            command = f"{RECOVERY_ENV}={shlex.quote(str(folder.parent))} {command}"
        if len(plans) == 1:
            message = f"image generated but not stored ({reason}); kept at {folder}"
        else:
            message = (f"{len(kept)} of {len(plans)} images generated but not stored ({reason}); kept at "
                       + ", ".join(str(item[0]) for item in kept)
                       + (f"; stored: {', '.join(item.image_path for item in stored)}" if stored else ""))
        raise NotStored(message, recovery_path=str(folder), hint=f"finish with: {command}") from None
    if cancelled:
        # The images landed (with their metadata) although the caller was cancelled:
        # say so, so nobody reports a stored image as lost or cancelled.
        raise StoredThenCancelled(stored)
    return stored


class StoredThenCancelled(asyncio.CancelledError):
    """Cancellation that arrived while a paid-for image was being stored; it was stored."""

    def __init__(self, stored: list[StoredImage]) -> None:
        super().__init__(f"cancelled after storing {', '.join(item.image_path for item in stored)}")
        self.stored = stored[0]
        self.all_stored = stored


def _failure_reason(request: ImageRequest, filename: str, error: BaseException) -> str:
    if isinstance(error, FileExistsError):
        return f"the name {layout.image_name(filename, request.output_format)} was taken meanwhile"
    if isinstance(error, MetadataWriteFailed):
        return f"the image was stored but its metadata was not: {error_summary(error.cause)}"
    return error_summary(error)


async def generate_with_retries(request: ImageRequest, generator: ImageGenerator, pacing: Pacing, *,
                                on_partial: PartialImageCallback | None = None,
                                stage: Callable[[str], None] = lambda _name: None) -> GeneratedImage:
    """Call the API, retrying what :class:`Pacing` says is worth retrying; the first image."""
    return (await create_with_retries(request, generator, pacing, on_partial=on_partial, stage=stage))[0]


async def create_with_retries(request: ImageRequest, generator: ImageGenerator, pacing: Pacing, *,
                              on_partial: PartialImageCallback | None = None,
                              stage: Callable[[str], None] = lambda _name: None) -> list:
    """Call the API, retrying what :class:`Pacing` says is worth retrying; every image it returned."""
    attempt = 0
    while True:
        stage("waiting" if attempt == 0 else "retrying")
        released_at = await pacing.before_request()
        stage("generating")
        try:
            return await generator.create(request, on_partial=on_partial,
                                          on_response=partial(pacing.observe, released_at=released_at))
        except TemporaryFailure as error:
            delay = pacing.retry_delay(error, attempt, released_at)
            if delay is None:
                if error.retry_after and error.retry_after > MAX_RETRY_AFTER_S:
                    error.message += f" (over the {MAX_RETRY_AFTER_S:g} s we wait; not retried)"
                elif attempt:
                    error.message += f" (after {attempt + 1} attempts)"
                raise
            log.warning("attempt %d failed (%s); retrying in %.1fs", attempt + 1, error.message, delay)
            stage(f"retry in {delay:.0f}s")
            await asyncio.sleep(delay)
            attempt += 1


async def generate_into_store(request: ImageRequest, store: Store, generator: ImageGenerator, *,
                              on_partial: PartialImageCallback | None = None,
                              on_stage: StageCallback | None = None,
                              check_store: bool = True, pacing: Pacing | None = None) -> StoredImage:
    """Run the whole workflow for one image and return where it was stored (the first of ``n``)."""
    return (await create_into_store(request, store, generator, on_partial=on_partial, on_stage=on_stage,
                                    check_store=check_store, pacing=pacing))[0]


async def create_into_store(request: ImageRequest, store: Store, generator: ImageGenerator, *,
                            on_partial: PartialImageCallback | None = None,
                            on_stage: StageCallback | None = None,
                            check_store: bool = True, pacing: Pacing | None = None) -> list[StoredImage]:
    """Run the whole workflow for a generation or an edit and return every image stored.

    A partial answer (fewer images than ``n``) stores what came; each one's
    metadata says ``requested`` and ``received``.
    """
    def stage(name: str) -> None:
        if on_stage is not None:
            on_stage(name)

    stage("checking")
    request = await prepare(request, store, check_store=check_store)
    pacing = pacing or Pacing(max_retries=generator.settings.max_retries)
    generated = await create_with_retries(request, generator, pacing, on_partial=on_partial, stage=stage)
    if len(generated) < request.n:
        log.warning("asked for %d images, the API returned %d", request.n, len(generated))
    stage("storing")
    stored = await store_results(request, store, generated)
    stage("stored")
    return stored


async def generate_and_record(request: ImageRequest, store: Store, generator: ImageGenerator,
                              **options: Any) -> StoredImage:
    """:func:`create_and_record` for one image: the first one stored."""
    return (await create_and_record(request, store, generator, **options))[0]


async def create_and_record(request: ImageRequest, store: Store, generator: ImageGenerator,
                            **options: Any) -> list[StoredImage]:
    """:func:`create_into_store` outside the job engine (``blog-images generate`` and ``edit``,
    the Python API), leaving its line in the local job ledger, as the engine does for its jobs.

    The request gets a job id (a hash of what it asks for, as in the engine), stored in the
    metadata, so stats can tell this image in the store from its ledger line.
    """
    from blog_images_tui import ledger, pricing
    from blog_images_tui.jobs import cost_of, prepare_job_request

    request = prepare_job_request(request)
    on_stage: StageCallback | None = options.pop("on_stage", None)
    started, sent = time.monotonic(), False
    stored: list[StoredImage] = []
    error: BaseException | None = None

    def stage(name: str) -> None:
        nonlocal sent
        sent = sent or name == "generating"
        if on_stage is not None:
            on_stage(name)

    try:
        stored = await create_into_store(request, store, generator, on_stage=stage, **options)
        return stored
    except StoredThenCancelled as landed:
        stored = landed.all_stored
        raise
    except BaseException as caught:
        error = caught
        raise
    finally:
        if stored:
            outcome = "stored"
        elif isinstance(error, (asyncio.CancelledError, KeyboardInterrupt)):
            outcome = "cancelled"
        else:
            outcome = ledger.outcome_of("failed", error)
        ledger.record(store, request, outcome=outcome, error=error, duration_s=time.monotonic() - started,
                      billed=bool(stored) or isinstance(error, NotStored) or (outcome == "cancelled" and sent),
                      results=stored, estimated_usd=pricing.estimate(request).usd,
                      actual_usd=cost_of(stored) if stored else None)
