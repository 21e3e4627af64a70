"""The job engine: many image requests, run with bounded concurrency.

Used by ``blog-images batch`` and the TUI's jobs list alike. Jobs share one
:class:`~blog_images_tui.pacing.Pacing` (rate limit, 429 back-off, retries)
and one API client. Every job has a stable id (a hash of what it asks for),
stored in its metadata as ``job_id``: a job already stored in its section is
skipped without an API call, so an interrupted batch can simply be run again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from blog_images_tui import layout, ledger, pricing
from blog_images_tui.budget import Budget
from blog_images_tui.claims import HeldElsewhere
from blog_images_tui.errors import (
    AuthConfigError,
    BadInput,
    BlogImagesError,
    ExitCode,
    Interrupted,
    NotStored,
    StoreUnusable,
)
from blog_images_tui.generation import ClientSettings, ImageGenerator, ImageRequest, UnusableImage
from blog_images_tui.ids import PostId, SectionRef
from blog_images_tui.pacing import Pacing
from blog_images_tui.recovery import finish_interrupted
from blog_images_tui.service import StoredThenCancelled, create_with_retries, keep_unusable, store_results
from blog_images_tui.storage import Store, StoredImage

if TYPE_CHECKING:
    from blog_images_tui.claims import BatchClaims, Coordinator

log = logging.getLogger("blog_images.jobs")

JOB_ID_LENGTH = 16
#: auto filenames of engine jobs end with this many characters of the job id
FILENAME_JOB_SUFFIX = layout.AUTO_NAME_SUFFIX


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    STORED = "stored"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


def compute_job_id(request: ImageRequest, *, legacy: bool = False) -> str:
    """A stable id for what a request asks for (validated request expected).

    ``legacy``: the id as computed before background, style and the variant and
    edit options counted (how images stored then are still recognised).
    """
    key = {
        "post_id": request.section.post_id, "section_id": request.section.section_id, "model": request.model,
        "prompt": request.prompt, "size": request.size, "quality": request.quality,
        "format": request.output_format, "filename": request.filename,
    }
    # Everything else that changes the result, added only when used so that the ids of
    # plain generations stored before these options existed stay the same.
    extra = {"n": request.n if request.n != 1 else None, "background": request.background,
             "style": request.style, "moderation": request.moderation, "compression": request.compression,
             "input_fidelity": request.input_fidelity}
    if request.edit is not None:
        extra.update(operation=request.operation, **request.edit.fingerprint())
    if not legacy:
        key.update({name: value for name, value in extra.items() if value is not None})
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return digest[:JOB_ID_LENGTH]


@dataclass(eq=False)
class Job:
    id: str
    request: ImageRequest
    state: JobState = JobState.QUEUED
    stage: str = "queued"
    started_at: float | None = None
    finished_at: float | None = None
    result: StoredImage | None = None
    #: every image the request stored (variants: ``n`` of them, fewer on a partial answer)
    results: list[StoredImage] = field(default_factory=list)
    error: BlogImagesError | None = None
    #: where an already stored job was found (skipped jobs)
    existing_name: str | None = None
    #: the cost expected before the request is sent (see :mod:`blog_images_tui.pricing`)
    estimated_cost: pricing.CostEstimate | None = None
    #: what the stored image cost (metadata ``cost_usd``), when known
    cost_usd: float | None = None
    #: the request reached the API: a failure after it may have been billed
    sent: bool = False
    #: the request was sent (so may be billed) and no image was stored
    sent_and_failed: bool = False

    @property
    def elapsed_s(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at

    @property
    def exit_code(self) -> int:
        if self.state in (JobState.STORED, JobState.SKIPPED):
            return int(ExitCode.OK)
        if self.state is JobState.CANCELLED:
            return int(ExitCode.INTERRUPTED)
        return int(self.error.exit_code) if self.error else int(ExitCode.INTERNAL)


@dataclass(frozen=True)
class JobEvent:
    job: Job
    kind: str  # "queued" | "started" | "stage" | "partial" | "stored" | "skipped" | "failed" | "cancelled"
    partial_image: bytes | None = None
    partial_index: int | None = None


def cost_of(stored: list[StoredImage]) -> float | None:
    """What the request cost: the sum of its images' shares (None if any is unknown)."""
    costs = [item.metadata.get("cost_usd") for item in stored]
    known = [cost for cost in costs if cost is not None]
    return None if not costs or len(known) < len(costs) else sum(known)


def prepare_job_request(request: ImageRequest, job_id: str | None = None) -> ImageRequest:
    """Validate and give the request its job id (explicit ``job_id`` wins)."""
    request = request.validated()
    return replace(request, job_id=job_id or request.job_id or compute_job_id(request))


class StoredJobs:
    """What a store already holds for jobs: the names in a section's ``raw/`` folder
    (one listing per section, shared by every job that looks there, and one of a
    whole post when several of its sections are :meth:`expect`-ed) and the image a
    job already stored, if any. Needs no API key: the engine and ``batch --dry-run``
    share it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._listings: dict[SectionRef, asyncio.Future[set[str]]] = {}
        #: sections jobs will look at, by post, until forget()
        self._wanted: dict[PostId, set[SectionRef]] = {}

    def expect(self, section: SectionRef) -> None:
        """A job will look at ``section`` (its post's sections are then listed in one go)."""
        self._wanted.setdefault(section.post_id, set()).add(section)

    def forget(self, sections: Iterable[SectionRef] | None = None) -> None:
        """List ``sections`` (default: all, and forget what was expected) again next time."""
        if sections is None:
            self._listings.clear()
            self._wanted.clear()
            return
        for section in sections:
            self._listings.pop(section, None)

    async def names_in(self, section: SectionRef) -> set[str]:
        """Every name in the section's ``raw/`` folder, listed once until :meth:`forget`."""
        # One listing per section per run, shared by the jobs that go there and kept up to
        # date by their writes; jobs in several sections of one post share one listing of it.
        if section not in self._listings:
            siblings = self._wanted.get(section.post_id, set()) | {section}
            # A pair a killed earlier run left half-written is finished first (from its
            # journal), so this run finds it stored instead of paying for it again.
            if len(siblings) > 1:
                def post_names() -> dict[SectionRef, set[str]]:
                    for sibling in siblings:
                        finish_interrupted(self.store, sibling)
                    return self.store.list_raw_names_by_section(section.post_id)

                post = asyncio.ensure_future(asyncio.to_thread(post_names))
                for sibling in siblings - set(self._listings):
                    self._listings[sibling] = asyncio.ensure_future(_names_of(post, sibling))
            else:
                def names() -> set[str]:
                    finish_interrupted(self.store, section)
                    return set(self.store.list_raw_names(section))

                self._listings[section] = asyncio.ensure_future(asyncio.to_thread(names))
        return await asyncio.shield(self._listings[section])

    def note_stored(self, stored: StoredImage, image_name: str) -> None:
        """Keep a listing current after a write of this process (no listing again)."""
        listing = self._listings.get(stored.section)
        if listing is not None and listing.done() and not listing.exception():
            listing.result().update((image_name, layout.metadata_name(stored.filename)))

    async def find(self, request: ImageRequest) -> str | None:
        """The metadata name of an already stored image for this job, if any."""
        names = await self.names_in(request.section)
        assert request.job_id is not None  # prepare_job_request gives every request one
        ids = [request.job_id]
        if request.n == 1 and request.edit is None and request.job_id == compute_job_id(request):
            # Stored before background and style were part of the id: the same request, not a new one.
            legacy = compute_job_id(request, legacy=True)
            if legacy != request.job_id:
                ids.append(legacy)
        if request.filename:
            # Variants: any one of them stored means the request was paid for (a partial
            # answer stores fewer than n): never asked again without --force.
            for filename in layout.variant_filenames(request.filename, request.n):
                meta_name = layout.metadata_name(filename)
                if meta_name not in names:
                    continue
                try:
                    metadata = await asyncio.to_thread(self.store.read_metadata, request.section, filename)
                except (OSError, ValueError):
                    continue
                if metadata.get("job_id") in ids:
                    return meta_name
            return None
        suffixes = [f"-{job_id[:FILENAME_JOB_SUFFIX]}{tail}{layout.METADATA_SUFFIX}" for job_id in ids
                    for tail in ([""] if request.n == 1 else [f"-{i}" for i in range(1, request.n + 1)])]
        candidates = [name for name in sorted(names) if name.endswith(tuple(suffixes))]
        if not candidates or request.job_id == compute_job_id(request):
            # A hash id's first 12 hex digits identify it; no need to read anything.
            return candidates[0] if candidates else None
        # An explicit id ("hero-image-1" vs "hero-image-10") may share its first
        # 12 characters with another: the metadata's job_id decides.
        for name in candidates:
            try:
                metadata = await asyncio.to_thread(self.store.read_metadata, request.section,
                                                   name[:-len(layout.METADATA_SUFFIX)])
            except (OSError, ValueError, BlogImagesError):
                continue
            if metadata.get("job_id") == request.job_id:
                return name
        return None


class NeverStarted(StoreUnusable):
    """A job not started because the store was found unusable mid-run (nothing paid)."""


class JobEngine:
    """Runs submitted jobs on the current event loop, ``concurrency`` at a time.

    With ``budget_usd`` a job is started only if its estimated cost fits in
    what is left after the costs of stored images and the estimates of
    running ones; otherwise it fails with :class:`BudgetRefused` without an
    API call. With ``fail_fast_on_auth`` (the default) the first
    authentication or quota error fails the jobs not yet sent the same way,
    instead of sending every one of them to be refused, until the engine is
    idle again.
    """

    def __init__(self, store: Store, settings: ClientSettings, *, concurrency: int = 2, rpm: float | None = None,
                 force: bool = False, on_event: Callable[[JobEvent], None] | None = None,
                 pacing: Pacing | None = None, budget_usd: float | None = None,
                 fail_fast_on_auth: bool = True, coordinator: Coordinator | None = None) -> None:
        if concurrency < 1:
            raise BadInput("--jobs must be at least 1")
        self.budget = Budget(budget_usd)
        self.fail_fast_on_auth = fail_fast_on_auth
        self._fatal: AuthConfigError | None = None
        #: the store failure that stops new jobs from starting (a deleted bucket, a full disk)
        self._store_failure: BlogImagesError | None = None
        self.store = store
        self.settings = settings
        self.force = force
        self.on_event = on_event
        self.pacing = pacing or Pacing(max_retries=settings.max_retries, rpm=rpm)
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._generator: ImageGenerator | None = None
        self._tasks: dict[str, asyncio.Task] = {}
        self._store_checked: asyncio.Future | None = None
        self.stored = StoredJobs(store)
        #: auto filenames handed out while the section listings above are current
        self._claimed_names: set[tuple[SectionRef, str]] = set()
        self._unfinished = 0
        self.jobs: list[Job] = []
        #: with a :class:`~blog_images_tui.claims.Coordinator`, :meth:`run` claims chunks of its
        #: jobs in the store before paying for them (many runners on one store)
        self.coordinator = coordinator
        self._claims: BatchClaims | None = None

    # -- public -----------------------------------------------------------------
    @property
    def concurrency(self) -> int:
        return self._concurrency

    def submit(self, request: ImageRequest, *, job_id: str | None = None) -> Job:
        """Queue a request; it starts when a slot is free. Call on the event loop."""
        request = prepare_job_request(request, job_id)
        assert request.job_id is not None  # prepare_job_request gives every request one
        job = Job(id=request.job_id, request=request, estimated_cost=pricing.estimate(request))
        self.jobs.append(job)
        self.stored.expect(request.section)
        self._emit(job, "queued")
        self._tasks[job.id + f"#{len(self.jobs)}"] = task = asyncio.create_task(self._run(job))
        job._task = task  # type: ignore[attr-defined]
        self._unfinished += 1
        task.add_done_callback(lambda _task: self._task_done(job))
        return job

    def _task_done(self, job: Job) -> None:
        # A task cancelled before its first step never runs _run's handlers.
        if not job.state.finished:
            job.state, job.stage, job.error = JobState.CANCELLED, "cancelled", Interrupted("cancelled")
            job.finished_at = time.monotonic()
            self._settle(job, sent=False)
            self._emit(job, "cancelled")
        self._unfinished -= 1
        if self._unfinished == 0:
            # Listings are shared by the jobs of one wave; a long-lived engine (the TUI)
            # must not trust them once idle: images may have been added or deleted since.
            self.stored.forget()
            self._claimed_names.clear()
            # and a later submission may find the key, the quota or the store fixed: try again.
            self._fatal = None
            self._store_failure = None

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job. A paid-for image being stored still lands."""
        for job in self.jobs:
            if job.id == job_id and not job.state.finished:
                task = getattr(job, "_task", None)
                if task is not None:
                    task.cancel()
                    return True
        return False

    def cancel_all(self) -> None:
        # Straight to the tasks: going through cancel(id) is quadratic, and Ctrl-C on a
        # batch of thousands must stop at once.
        for job in self.jobs:
            task = getattr(job, "_task", None)
            if task is not None and not job.state.finished:
                task.cancel()

    async def join(self) -> None:
        """Wait until every submitted job has finished."""
        tasks = [task for task in self._tasks.values() if not task.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self, requests: list[ImageRequest]) -> list[Job]:
        """Submit all, wait for all; on cancellation cancel the rest and re-raise.

        With a coordinator, the jobs are claimed chunk by chunk (see :mod:`blog_images_tui.claims`).
        """
        jobs = [self.submit(request) for request in requests]
        self.coordinate(jobs)
        try:
            await self.join()
        except asyncio.CancelledError:
            self.cancel_all()
            await asyncio.shield(self.join())
            raise
        finally:
            await asyncio.shield(self._close_claims())
        return jobs

    def coordinate(self, jobs: list[Job]) -> None:
        """Claim these just-submitted jobs chunk by chunk before paying (with a coordinator).

        Call right after submitting them, before awaiting anything.
        """
        if self.coordinator is not None:
            from blog_images_tui.claims import BatchClaims

            self._claims = BatchClaims(self.coordinator, self, jobs)

    async def _close_claims(self) -> None:
        claims, self._claims = self._claims, None
        if claims is not None:
            await claims.aclose()

    def forget_listings(self, sections: Iterable[SectionRef]) -> None:
        """List these sections again next time (another runner may have written there)."""
        self.stored.forget(sections)

    async def aclose(self) -> None:
        self.cancel_all()
        await self.join()
        await self._close_claims()
        if self._generator is not None:
            await self._generator.aclose()
            self._generator = None

    # -- internals -----------------------------------------------------------------
    def _emit(self, job: Job, kind: str, **extra: Any) -> None:
        if self.on_event is not None:
            try:
                self.on_event(JobEvent(job, kind, **extra))
            except Exception:  # a broken listener must not break the engine
                log.exception("job event listener failed")

    def _generator_for_run(self) -> ImageGenerator:
        if self._generator is None:
            self._generator = ImageGenerator(self.settings)
        return self._generator

    async def _check_store_once(self) -> None:
        # One write probe per engine, shared by every job; a failure fails them all alike.
        if self._store_checked is None:
            self._store_checked = asyncio.ensure_future(asyncio.to_thread(self.store.check_writable))
            # The first job to pay for starts the SDK import (1-2 s) beside the probe, not after it.
            asyncio.ensure_future(self._generator_for_run().ready()).add_done_callback(
                lambda done: done.cancelled() or done.exception())
        checking = self._store_checked
        try:
            await asyncio.shield(checking)
        except Exception:
            # Jobs waiting on this check fail with it; a later job (a long TUI
            # session, the store back up) checks again instead of failing forever.
            if self._store_checked is checking:
                self._store_checked = None
            raise

    async def _names_in(self, section: SectionRef) -> set[str]:
        return await self.stored.names_in(section)

    def _note_stored(self, stored: StoredImage, image_name: str) -> None:
        self.stored.note_stored(stored, image_name)

    async def find_stored(self, request: ImageRequest) -> str | None:
        """The metadata name of an already stored image for this job, if any."""
        return await self.stored.find(request)

    async def _auto_filename(self, request: ImageRequest) -> str:
        """Time plus the job id's start; a counter before the id if that name is taken
        (same second: a --force re-run, or explicit ids sharing their first 12 characters)."""
        assert request.job_id is not None  # a submitted job's request has its id
        suffix = request.job_id[:FILENAME_JOB_SUFFIX]
        names = await self._names_in(request.section)
        name, counter = layout.job_filename(suffix), 1
        while any(self._stem_taken(request.section, variant, names)
                  for variant in layout.variant_filenames(name, request.n)):
            counter += 1
            name = layout.job_filename(f"{counter}-{suffix}")
        self._claimed_names.add((request.section, name.lower()))
        return name

    @property
    def budget_usd(self) -> float | None:
        return self.budget.limit_usd

    @property
    def spent_usd(self) -> float:
        """Costs of images paid for in this engine (actual when known, else estimated)."""
        return self.budget.spent_usd

    @property
    def committed_usd(self) -> float:
        """Spent plus the estimates of jobs running now (what the budget is checked against)."""
        return self.budget.committed_usd

    def _check_may_start(self, job: Job) -> None:
        """Raise instead of sending: after an auth failure, or over the budget."""
        if self._fatal is not None:
            raise AuthConfigError(f"not sent: an earlier request failed: {self._fatal.message}",
                                  hint=self._fatal.hint)
        if self._store_failure is not None:
            raise NeverStarted(f"not started: the store became unusable: {self._store_failure.message}",
                               hint="fix the store, then run again: only what is missing is done")
        if self.budget.limit_usd is not None:
            cost = job.estimated_cost or pricing.estimate(job.request)
            self.budget.reserve(id(job), cost.usd, model=job.request.model)

    def _settle(self, job: Job, sent: bool) -> None:
        """Turn the job's reservation into spending if an image was (or may have been) paid for,
        and write the job's line in the local ledger (called once per job, when it ends)."""
        # A request abandoned mid-generation may still be billed: count it.
        paid = (job.state is JobState.STORED or isinstance(job.error, NotStored)
                or (job.state is JobState.CANCELLED and sent))
        ledger.record_job(self.store, job, billed=paid)  # every job, once; never raises
        self.budget.settle(id(job), paid=paid, actual_usd=job.cost_usd,
                           estimated_usd=job.estimated_cost.usd if job.estimated_cost else None)

    async def _check_name_free(self, request: ImageRequest) -> None:
        """An explicit filename already used in the section is refused before paying (from the listing)."""
        names = await self._names_in(request.section)
        assert request.filename is not None
        variants = layout.variant_filenames(request.filename, request.n)
        for variant in variants:
            if self._stem_taken(request.section, variant, names):
                image = layout.image_name(variant, request.output_format)
                raise BadInput(f"{image} already exists in {self.store.display_path(layout.raw_dir(request.section))}"
                               ": choose another filename (nothing is overwritten)")
        self._claimed_names.update((request.section, variant.lower()) for variant in variants)

    def _stem_taken(self, section: SectionRef, filename: str, names: set[str]) -> bool:
        """The store's rule (see :meth:`Store.stem_holders`), on the listing: a stem is one name
        whatever its extension and case; also taken if handed out to a job of this engine."""
        wanted = filename.lower()
        return (section, wanted) in self._claimed_names or any(layout.stem_of(n).lower() == wanted for n in names)

    async def _run(self, job: Job) -> None:
        request = job.request
        sent = False
        try:
            await self._slots.acquire()
            holding = True

            def give_back() -> None:
                nonlocal holding
                holding = False
                self._slots.release()

            async def take_again() -> None:
                nonlocal holding
                await self._slots.acquire()
                holding = True

            try:
                job.state, job.started_at = JobState.RUNNING, time.monotonic()
                self._emit(job, "started")
                if not self.force:
                    existing = await self.find_stored(request)
                    if existing:
                        job.state, job.existing_name, job.stage = JobState.SKIPPED, existing, "already stored"
                        return
                claimed_name = None
                if self._claims is not None and self._claims.chunk_of(job) is not None:
                    claimed_name = await self._claims.filename_for(job, give_back, take_again)
                    if claimed_name is not None:
                        request = replace(request, filename=claimed_name)
                        job.request = request
                self._check_may_start(job)
                await self._check_store_once()
                if claimed_name is not None:
                    pass  # named (and checked) when the claim was made
                elif request.filename is None:
                    request = replace(request, filename=await self._auto_filename(request))
                    job.request = request
                else:
                    await self._check_name_free(request)

                def on_stage(name: str) -> None:
                    nonlocal sent
                    sent = sent or name == "generating"
                    job.sent = sent
                    job.stage = name
                    self._emit(job, "stage")

                async def on_partial(index: int, data: bytes) -> None:
                    self._emit(job, "partial", partial_image=data, partial_index=index)

                generator = self._generator_for_run()
                # The SDK imported and the client built before a rate-limit slot is taken, so the
                # first request is not sent late and bunched with the second; in a worker thread
                # (1-2 s the first time), so the other jobs and the TUI are not frozen meanwhile.
                await generator.ready()
                on_stage("checking")
                try:
                    images = await create_with_retries(request, generator, self.pacing, on_partial=on_partial,
                                                       stage=on_stage)
                except UnusableImage as unusable:
                    # Paid for, but does not verify: kept with its reason, never stored as good.
                    raise await keep_unusable(request, self.store, unusable) from None
            finally:
                # The API has answered: the next job's request overlaps this one's storing.
                if holding:
                    give_back()
            if len(images) < request.n:
                log.warning("asked for %d images, the API returned %d", request.n, len(images))
            on_stage("storing")
            job.results = await store_results(request, self.store, images, name_checked=True)
            job.result = job.results[0]
            for stored in job.results:
                self._note_stored(stored, stored.image_path.rsplit("/", 1)[-1])  # as stored: its real format
            on_stage("stored")
            job.state, job.stage = JobState.STORED, "stored"
            job.cost_usd = cost_of(job.results)
        except StoredThenCancelled as landed:
            # Cancelled while the paid-for image was being written: it was written.
            job.results, job.result, job.state, job.stage = landed.all_stored, landed.stored, JobState.STORED, "stored"
            job.cost_usd = cost_of(landed.all_stored)
        except asyncio.CancelledError:
            job.state, job.stage = JobState.CANCELLED, "cancelled"
            job.error = Interrupted("cancelled")
        except HeldElsewhere:
            job.state, job.stage = JobState.SKIPPED, "stored by another runner"
            job.existing_name = await self.find_stored(job.request)
        except BlogImagesError as error:
            job.state, job.stage, job.error = JobState.FAILED, "failed", error
            if isinstance(error, AuthConfigError) and self.fail_fast_on_auth and self._fatal is None:
                self._fatal = error
            if (getattr(error, "store_failed", False) or (isinstance(error, StoreUnusable) and sent)) \
                    and self._store_failure is None:
                self._store_failure = error
        except Exception as error:  # never let one job's bug take down the others
            log.exception("job %s failed unexpectedly", job.id)
            from blog_images_tui.errors import BlogImagesError as _Base

            job.state, job.stage = JobState.FAILED, "failed"
            job.error = _Base(f"internal error: {type(error).__name__}: {error}")
        finally:
            job.finished_at = time.monotonic()
            self._settle(job, sent)
            # Paid for (or maybe) and not stored: the chunk's claim marks it failed.
            job.sent_and_failed = sent and job.state in (JobState.FAILED, JobState.CANCELLED)
            self._emit(job, job.state.value)
            if self._claims is not None:
                await self._claims.job_finished(job, sent)


async def _names_of(post_listing: asyncio.Future, section: SectionRef) -> set[str]:
    return (await asyncio.shield(post_listing)).get(section, set())
