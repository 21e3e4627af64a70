"""Generate one image into a store: the workflow both faces (CLI, TUI) run.

Order matters, and every step before the API call costs nothing:
validate -> name free? -> store writable? -> generate (paid) -> verify ->
journal (local, fsynced) -> store image -> store metadata -> drop the journal
(``docs/write-protocol.md``). Once an image is paid for it is never dropped:
if it does not verify or the store refuses it, it stays in the local
recovery folder and :class:`NotStored` (exit 7) says where and how to
finish; if the process is killed, the journal entry is finished by the next
run. :func:`run_interruptible` runs a face's coroutine so that SIGINT,
SIGTERM and SIGHUP all end it the same careful way (exit 130/143/129).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shlex
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from blog_images_tui import layout
from blog_images_tui.errors import Conflict, Interrupted, NameTaken, NotStored, TemporaryFailure
from blog_images_tui.generation import GeneratedImage, ImageGenerator, ImageRequest, PartialImageCallback, UnusableImage
from blog_images_tui.ids import SectionRef, parse_filename
from blog_images_tui.imageformat import ImageInfo
from blog_images_tui.metadata import Variant, build_metadata
from blog_images_tui.pacing import MAX_RETRY_AFTER_S, Pacing
from blog_images_tui.recovery import RECOVERY_ENV, Journal, finish_interrupted, keep_for_recovery, recovery_root
from blog_images_tui.storage import MetadataWriteFailed, Store, StoredImage, error_summary

log = logging.getLogger("blog_images.service")

T = TypeVar("T")
#: how long a signal lets a paid-for image's write finish before it is left to the journal
WRITE_GRACE_S = 2.0

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

    Each pair is journaled (fsynced in the local recovery folder) before its
    store write, so no kill can lose it. Each one that the store refuses is
    kept for recovery, the others still land; then :class:`NotStored` says
    what is kept where. On cancellation (Ctrl-C, SIGTERM, SIGHUP) the writes
    get :data:`WRITE_GRACE_S` to finish, then are left to their journal.
    An image in another format than asked is stored as what it is.
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
        as_stored = _as_stored(request, generated)
        image_rel = layout.image_path(request.section, filename, as_stored.output_format)
        metadata = build_metadata(as_stored, generated, image_path=store.display_path(image_rel), variant=variant)
        if as_stored.output_format != request.output_format:
            metadata["requested_format"] = request.output_format
        plans.append((filename, as_stored.output_format, generated, metadata))

    def save_all() -> list:
        outcomes: list = []
        for filename, fmt, generated, metadata in plans:
            journal = _open_journal(store, request.section, filename, fmt, generated.data, metadata)
            try:
                stored = store.save(request.section, filename, fmt, generated.data, metadata,
                                    name_checked=name_checked)
            except Exception as error:  # kept for recovery below, the next image is still stored
                outcomes.append((error, journal))
                continue
            if journal is not None:
                journal.done()
            outcomes.append((stored, None))
        return outcomes

    save = _start_in_thread(save_all)
    cancelled = False
    outcomes: list | None = None
    try:
        # Shielded: paid-for images being written are let finish even on Ctrl-C.
        outcomes = await asyncio.shield(save)
    except asyncio.CancelledError:
        cancelled = True
        try:
            async with asyncio.timeout(WRITE_GRACE_S):
                outcomes = await asyncio.shield(save)
        except (TimeoutError, asyncio.CancelledError):
            # Still writing: every pair is in its journal already; the next run finishes it.
            log.error("interrupted while storing; the images wait in the recovery folder's journal")
            raise KeptThenCancelled(store) from None
    stored: list[StoredImage] = []
    kept: list[tuple[Any, str]] = []
    store_failed = False
    for (filename, fmt, generated, metadata), (outcome, journal) in zip(plans, outcomes, strict=True):
        if isinstance(outcome, StoredImage):
            stored.append(outcome)
            continue
        reason = _failure_reason(request, filename, outcome)
        store_failed = store_failed or not isinstance(outcome, (FileExistsError, Conflict))
        if journal is not None:
            folder = await asyncio.to_thread(journal.keep, reason)
        else:
            folder = await asyncio.to_thread(
                keep_for_recovery, store_url=store.location, store_options=store.backend.options,
                section=request.section, filename=filename, output_format=fmt,
                image=generated.data, metadata=metadata, reason=reason)
        log.error("image kept for recovery at %s: %s", folder, reason)
        kept.append((folder, reason))
    if kept:
        if cancelled:
            raise asyncio.CancelledError
        folder, reason = kept[0]
        if len(plans) == 1:
            message = f"image generated but not stored ({reason}); kept at {folder}"
        else:
            message = (f"{len(kept)} of {len(plans)} images generated but not stored ({reason}); kept at "
                       + ", ".join(str(item[0]) for item in kept)
                       + (f"; stored: {', '.join(item.image_path for item in stored)}" if stored else ""))
        raise _not_stored(store, message, folder, store_failed=store_failed)
    if cancelled:
        # The images landed (with their metadata) although the caller was cancelled:
        # say so, so nobody reports a stored image as lost or cancelled.
        raise StoredThenCancelled(stored)
    return stored


def _as_stored(request: ImageRequest, generated: GeneratedImage) -> ImageRequest:
    """The request as the image will be stored: in the format that actually came."""
    if generated.info.format == request.output_format:
        return request
    log.warning("asked for %s, got %s: stored as %s", request.output_format, generated.info.format,
                generated.info.format)
    return replace(request, output_format=generated.info.format)


def _open_journal(store: Store, section: SectionRef, filename: str, fmt: str, image: bytes,
                  metadata: dict[str, Any]) -> Journal | None:
    try:
        return Journal.open(store_url=store.location, store_options=store.backend.options, section=section,
                            filename=filename, output_format=fmt, image=image, metadata=metadata)
    except OSError as error:
        # No local copy possible (disk full?): store it all the same, and say so.
        log.warning("could not journal the image before storing it: %s", error_summary(error))
        return None


def _start_in_thread(function: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``function`` in a daemon thread: a paid image's write that outlives a signal's
    grace period must not hold the process open (its journal entry already keeps it)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def work() -> None:
        try:
            result, error = function(), None
        except BaseException as caught:  # handed to the waiting coroutine
            result, error = None, caught
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            pass  # the loop is gone: the process is exiting

    threading.Thread(target=work, name="blog-images-store-write", daemon=True).start()
    return future


def _not_stored(store: Store, message: str, folder: Path, *, store_failed: bool) -> NotStored:
    command = f"blog-images recover --store {shlex.quote(store.location)}"
    if folder.parent != recovery_root():
        # The recovery folder was unusable and the image went to the per-user fallback
        # in the system temp folder: name it, so the command works as printed.
        command = f"{RECOVERY_ENV}={shlex.quote(str(folder.parent))} {command}"
    error = NotStored(message, recovery_path=str(folder), hint=f"finish with: {command}")
    #: the store itself failed (not a name taken meanwhile): later jobs should not be started
    error.store_failed = store_failed  # type: ignore[attr-defined]
    return error


async def keep_unusable(request: ImageRequest, store: Store, unusable: UnusableImage) -> NotStored:
    """Keep paid-for answers whose images do not verify (never stored as good); store the ones that do."""
    names = layout.variant_filenames(request.filename or layout.timestamp_filename(), request.n)
    stored: list[StoredImage] = []
    if unusable.good:
        try:
            stored = await store_results(request, store, unusable.good)
        except NotStored as partly:
            log.error("%s", partly.message)
    folders = []
    for index, (data, reason) in enumerate([(unusable.data, unusable.reason), *unusable.others]):
        filename = names[min(len(unusable.good) + index, len(names) - 1)]
        generated = GeneratedImage(data, ImageInfo(request.output_format, 0, 0), None, unusable.usage,
                                   unusable.request_id, 0.0, "b64_json")
        metadata = build_metadata(request, generated, image_path="")
        metadata["problem"] = reason
        folder = await asyncio.to_thread(
            keep_for_recovery, store_url=store.location, store_options=store.backend.options,
            section=request.section, filename=filename, output_format=request.output_format,
            image=data, metadata=metadata, reason=f"the image does not verify: {reason}", problem=reason)
        log.error("answer kept at %s: %s", folder, reason)
        folders.append(folder)
    also = f"; stored: {', '.join(item.image_path for item in stored)}" if stored else ""
    error = NotStored(f"the API returned an image that does not verify ({unusable.reason}); not stored, "
                      f"kept at {', '.join(map(str, folders))}{also}", recovery_path=str(folders[0]),
                      hint="it was paid for; look at it there before generating again")
    error.store_failed = False  # type: ignore[attr-defined]
    return error


def _same_request(metadata: dict[str, Any], request: ImageRequest) -> bool:
    return (metadata.get("prompt"), metadata.get("model"), metadata.get("size")) == \
        (request.prompt, request.model, request.size)


def run_interruptible(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` on a new event loop; SIGINT, SIGTERM and SIGHUP cancel it alike.

    Cancelling lets a paid-for image's write finish or go to the journal
    (:func:`store_generated`); then :class:`Interrupted` carries exit code
    130, 143 or 129. A SIGHUP ignored when we started (``nohup``) stays
    ignored. SIGINT is always handled, even when inherited as ignored (a
    child of a backgrounded script).
    """
    loop = asyncio.new_event_loop()
    received: list[int] = []
    task: asyncio.Task[T] = loop.create_task(main())

    def on_signal(number: int) -> None:
        received.append(number)
        if len(received) == 1:
            task.cancel()

    installed = []
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if number == signal.SIGHUP and signal.getsignal(number) == signal.SIG_IGN:
            continue
        try:
            loop.add_signal_handler(number, on_signal, number)
            installed.append(number)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no such signal here
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError as cancelled:
        if received:
            error = Interrupted.by_signal(received[0])
            if isinstance(cancelled, KeptThenCancelled):
                error.message += f"; {cancelled}"
            raise error from None
        raise
    finally:
        for number in installed:
            loop.remove_signal_handler(number)
        try:
            pending = [other for other in asyncio.all_tasks(loop) if not other.done()]
            for other in pending:
                other.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


class KeptThenCancelled(asyncio.CancelledError):
    """Cancellation that arrived while paid-for images were being stored and outlasted the grace:
    they wait in the recovery folder's journal (finished by the next run, ``recover`` or doctor)."""

    def __init__(self, store: Store) -> None:
        super().__init__(f"the paid-for image waits in {recovery_root()}; finish with: "
                         f"blog-images recover --store {shlex.quote(store.location)}")


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
    request = request.validated()
    if request.filename is not None and request.n == 1:
        # A pair a killed earlier run of this same request left half-written: finish it, never pay again.
        finished = await asyncio.to_thread(finish_interrupted, store, request.section)
        for earlier in finished:
            if earlier.filename == request.filename and _same_request(earlier.metadata, request):
                log.warning("finished the interrupted earlier run of this image: %s", earlier.image_path)
                stage("stored")
                return [earlier]
    request = await prepare(request, store, check_store=check_store)
    pacing = pacing or Pacing(max_retries=generator.settings.max_retries)
    try:
        generated = await create_with_retries(request, generator, pacing, on_partial=on_partial, stage=stage)
    except UnusableImage as unusable:
        raise await keep_unusable(request, store, unusable) from None
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
