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
import shlex
import time
from dataclasses import replace
from typing import Any, Callable

from blog_images_tui import layout
from blog_images_tui.errors import BadInput, NotStored, TemporaryFailure
from blog_images_tui.generation import ImageGenerator, ImageRequest, PartialImageCallback
from blog_images_tui.metadata import build_metadata
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
    elif await asyncio.to_thread(store.name_taken, request.section, request.filename, request.output_format):
        raise BadInput(
            f"{layout.image_name(request.filename, request.output_format)} already exists in "
            f"{store.display_path(layout.raw_dir(request.section))}: choose another --filename (nothing is overwritten)"
        )
    if check_store:
        await asyncio.to_thread(store.check_writable)
    return request


async def store_generated(request: ImageRequest, store: Store, generated) -> StoredImage:
    """Write a paid-for image and its metadata, or keep both for recovery."""
    assert request.filename is not None
    image_rel = layout.image_path(request.section, request.filename, request.output_format)
    metadata = build_metadata(request, generated, image_path=store.display_path(image_rel))
    save = asyncio.ensure_future(asyncio.to_thread(
        store.save, request.section, request.filename, request.output_format, generated.data, metadata))
    cancelled = False
    while True:
        try:
            # Shielded: a paid-for image being written is let finish even on Ctrl-C.
            stored = await asyncio.shield(save)
            break
        except asyncio.CancelledError:
            if save.done() and not save.cancelled():
                cancelled = True
                if save.exception() is None:
                    stored = save.result()
                    break
                error = save.exception()
            else:
                cancelled = True
                continue
        except Exception as caught:
            error = caught
        reason = _failure_reason(request, error)
        folder = await asyncio.to_thread(
            keep_for_recovery, store_url=store.location, store_options=store.backend.options,
            section=request.section, filename=request.filename, output_format=request.output_format,
            image=generated.data, metadata=metadata, reason=reason)
        log.error("image kept for recovery at %s: %s", folder, reason)
        if cancelled:
            raise asyncio.CancelledError
        command = f"blog-images recover --store {shlex.quote(store.location)}"
        if folder.parent != recovery_root():
            # The recovery folder was unusable and the image went to the fallback in the
            # system temp folder, where `recover` does not look unless told to.
            command = f"{RECOVERY_ENV}={shlex.quote(str(folder.parent))} {command}"
        raise NotStored(f"image generated but not stored ({reason}); kept at {folder}",
                        recovery_path=str(folder), hint=f"finish with: {command}") from None
    if cancelled:
        # The image landed (with its metadata) although the caller was cancelled:
        # say so, so nobody reports a stored image as lost or cancelled.
        raise StoredThenCancelled(stored)
    return stored


class StoredThenCancelled(asyncio.CancelledError):
    """Cancellation that arrived while a paid-for image was being stored; it was stored."""

    def __init__(self, stored: StoredImage) -> None:
        super().__init__(f"cancelled after storing {stored.image_path}")
        self.stored = stored


def _failure_reason(request: ImageRequest, error: BaseException) -> str:
    if isinstance(error, FileExistsError):
        return f"the name {layout.image_name(request.filename, request.output_format)} was taken meanwhile"
    if isinstance(error, MetadataWriteFailed):
        return f"the image was stored but its metadata was not: {error_summary(error.cause)}"
    return error_summary(error)


async def generate_with_retries(request: ImageRequest, generator: ImageGenerator, pacing: Pacing, *,
                                on_partial: PartialImageCallback | None = None,
                                stage: Callable[[str], None] = lambda _name: None):
    """Call the API, retrying what :class:`Pacing` says is worth retrying."""
    attempt = 0
    while True:
        stage("waiting" if attempt == 0 else "retrying")
        await pacing.before_request()
        stage("generating")
        try:
            return await generator.generate(request, on_partial=on_partial)
        except TemporaryFailure as error:
            delay = pacing.retry_delay(error, attempt)
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
    """Run the whole workflow for one image and return where it was stored."""
    def stage(name: str) -> None:
        if on_stage is not None:
            on_stage(name)

    stage("checking")
    request = await prepare(request, store, check_store=check_store)
    generated = await generate_with_retries(request, generator, pacing or Pacing(max_retries=generator.settings.max_retries),
                                            on_partial=on_partial, stage=stage)
    stage("storing")
    stored = await store_generated(request, store, generated)
    stage("stored")
    return stored


async def generate_and_record(request: ImageRequest, store: Store, generator: ImageGenerator,
                              **options: Any) -> StoredImage:
    """:func:`generate_into_store` for one image outside the job engine (``blog-images generate``,
    the Python API), leaving its line in the local job ledger, as the engine does for its jobs.

    The request gets a job id (a hash of what it asks for, as in the engine), stored in the
    metadata, so stats can tell this image in the store from its ledger line.
    """
    from blog_images_tui import ledger, pricing
    from blog_images_tui.jobs import prepare_job_request

    request = prepare_job_request(request)
    on_stage: StageCallback | None = options.pop("on_stage", None)
    started, sent = time.monotonic(), False
    stored: StoredImage | None = None
    error: BaseException | None = None

    def stage(name: str) -> None:
        nonlocal sent
        sent = sent or name == "generating"
        if on_stage is not None:
            on_stage(name)

    try:
        stored = await generate_into_store(request, store, generator, on_stage=stage, **options)
        return stored
    except StoredThenCancelled as landed:
        stored = landed.stored
        raise
    except BaseException as caught:
        error = caught
        raise
    finally:
        if stored is not None:
            outcome = "stored"
        elif isinstance(error, (asyncio.CancelledError, KeyboardInterrupt)):
            outcome = "cancelled"
        else:
            outcome = ledger.outcome_of("failed", error)
        ledger.record(store, request, outcome=outcome, error=error, duration_s=time.monotonic() - started,
                      billed=stored is not None or isinstance(error, NotStored) or (outcome == "cancelled" and sent),
                      result=stored, estimated_usd=pricing.estimate(request).usd,
                      actual_usd=stored.metadata.get("cost_usd") if stored is not None else None)
