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
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Callable

from blog_images_tui import layout
from blog_images_tui.errors import BadInput, BlogImagesError, ExitCode, Interrupted
from blog_images_tui.generation import ClientSettings, ImageGenerator, ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.pacing import Pacing
from blog_images_tui.service import generate_into_store
from blog_images_tui.storage import Store, StoredImage

log = logging.getLogger("blog_images.jobs")

JOB_ID_LENGTH = 16
#: auto filenames of engine jobs end with this many characters of the job id
FILENAME_JOB_SUFFIX = 12


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    STORED = "stored"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


def compute_job_id(request: ImageRequest) -> str:
    """A stable id for what a request asks for (validated request expected)."""
    key = {
        "post_id": request.section.post_id, "section_id": request.section.section_id, "model": request.model,
        "prompt": request.prompt, "size": request.size, "quality": request.quality,
        "format": request.output_format, "filename": request.filename,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return digest[:JOB_ID_LENGTH]


@dataclass(eq=False)
class Job:
    id: str
    request: ImageRequest
    state: JobState = JobState.QUEUED
    stage: str = "queued"
    created_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    result: StoredImage | None = None
    error: BlogImagesError | None = None
    #: where an already stored job was found (skipped jobs)
    existing_name: str | None = None

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


def prepare_job_request(request: ImageRequest, job_id: str | None = None) -> ImageRequest:
    """Validate and give the request its job id (explicit ``job_id`` wins)."""
    request = request.validated()
    return replace(request, job_id=job_id or request.job_id or compute_job_id(request))


class JobEngine:
    """Runs submitted jobs on the current event loop, ``concurrency`` at a time."""

    def __init__(self, store: Store, settings: ClientSettings, *, concurrency: int = 2, rpm: float | None = None,
                 force: bool = False, on_event: Callable[[JobEvent], None] | None = None,
                 pacing: Pacing | None = None) -> None:
        if concurrency < 1:
            raise BadInput("--jobs must be at least 1")
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
        self._section_names: dict[SectionRef, asyncio.Future] = {}
        self.jobs: list[Job] = []

    # -- public -----------------------------------------------------------------
    @property
    def concurrency(self) -> int:
        return self._concurrency

    def submit(self, request: ImageRequest, *, job_id: str | None = None) -> Job:
        """Queue a request; it starts when a slot is free. Call on the event loop."""
        request = prepare_job_request(request, job_id)
        job = Job(id=request.job_id, request=request)
        self.jobs.append(job)
        self._emit(job, "queued")
        self._tasks[job.id + f"#{len(self.jobs)}"] = task = asyncio.create_task(self._run(job))
        job._task = task  # type: ignore[attr-defined]
        return job

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
        for job in self.jobs:
            if not job.state.finished:
                self.cancel(job.id)

    async def join(self) -> None:
        """Wait until every submitted job has finished."""
        tasks = [task for task in self._tasks.values() if not task.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self, requests: list[ImageRequest]) -> list[Job]:
        """Submit all, wait for all; on cancellation cancel the rest and re-raise."""
        jobs = [self.submit(request) for request in requests]
        try:
            await self.join()
        except asyncio.CancelledError:
            self.cancel_all()
            await asyncio.shield(self.join())
            raise
        return jobs

    async def aclose(self) -> None:
        self.cancel_all()
        await self.join()
        if self._generator is not None:
            await self._generator.aclose()
            self._generator = None

    # -- internals -----------------------------------------------------------------
    def _emit(self, job: Job, kind: str, **extra) -> None:
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
        await asyncio.shield(self._store_checked)

    async def _names_in(self, section: SectionRef) -> set[str]:
        # One listing per section per run, shared by the jobs that go there.
        if section not in self._section_names:
            self._section_names[section] = asyncio.ensure_future(
                asyncio.to_thread(lambda: set(self.store.list_raw_names(section))))
        return await asyncio.shield(self._section_names[section])

    async def find_stored(self, request: ImageRequest) -> str | None:
        """The metadata name of an already stored image for this job, if any."""
        names = await self._names_in(request.section)
        if request.filename:
            meta_name = layout.metadata_name(request.filename)
            if meta_name not in names:
                return None
            try:
                metadata = await asyncio.to_thread(self.store.read_metadata, request.section, request.filename)
            except (OSError, ValueError):
                return None
            return meta_name if metadata.get("job_id") == request.job_id else None
        suffix = f"-{request.job_id[:FILENAME_JOB_SUFFIX]}{layout.METADATA_SUFFIX}"
        return next((name for name in sorted(names) if name.endswith(suffix)), None)

    async def _run(self, job: Job) -> None:
        request = job.request
        try:
            async with self._slots:
                job.state, job.started_at = JobState.RUNNING, time.monotonic()
                self._emit(job, "started")
                if not self.force:
                    existing = await self.find_stored(request)
                    if existing:
                        job.state, job.existing_name, job.stage = JobState.SKIPPED, existing, "already stored"
                        return
                await self._check_store_once()
                if request.filename is None:
                    request = replace(request, filename=layout.job_filename(request.job_id[:FILENAME_JOB_SUFFIX]))
                    job.request = request

                def on_stage(name: str) -> None:
                    job.stage = name
                    self._emit(job, "stage")

                async def on_partial(index: int, data: bytes) -> None:
                    self._emit(job, "partial", partial_image=data, partial_index=index)

                job.result = await generate_into_store(
                    request, self.store, self._generator_for_run(), on_stage=on_stage, on_partial=on_partial,
                    check_store=False, pacing=self.pacing)
                job.state, job.stage = JobState.STORED, "stored"
        except asyncio.CancelledError:
            job.state, job.stage = JobState.CANCELLED, "cancelled"
            job.error = Interrupted("cancelled")
        except BlogImagesError as error:
            job.state, job.stage, job.error = JobState.FAILED, "failed", error
        except Exception as error:  # never let one job's bug take down the others
            log.exception("job %s failed unexpectedly", job.id)
            from blog_images_tui.errors import BlogImagesError as _Base

            job.state, job.stage = JobState.FAILED, "failed"
            job.error = _Base(f"internal error: {type(error).__name__}: {error}")
        finally:
            job.finished_at = time.monotonic()
            self._emit(job, job.state.value)
