"""The server's jobs: the core's :class:`~blog_images_tui.jobs.JobEngine` plus what a web client needs.

Each job id has one record: the engine's latest :class:`Job` for it and an
ordered log of events (numbered from 1), which event streams replay and then
follow. Posting the same job again returns the record that exists (queued,
running or stored: never a second request to pay for); only a failed or
cancelled job is submitted again, under the same id. Partial previews are
kept only while they are the newest one, so a finished job holds no pixels.

Everything here runs on the server's event loop, except :meth:`JobHub.close_streams`,
which a signal handler may call from elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from blog_images_tui.errors import NotFound
from blog_images_tui.generation import ImageRequest
from blog_images_tui.jobs import Job, JobEngine, JobEvent, JobState

#: finished jobs kept for GET /jobs; the oldest finished ones are forgotten past this
MAX_FINISHED_RECORDS = 500
#: seconds a publish run still gets at shutdown
TASK_GRACE_S = 5.0


@dataclass(eq=False)
class JobRecord:
    """One job id as clients see it: the newest engine job and its events so far."""

    job: Job
    submitted_at: float = field(default_factory=time.time)
    events: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def finished(self) -> bool:
        return self.job.state.finished


class JobHub:
    """Submits, finds, cancels and streams the server's jobs."""

    def __init__(self, engine_factory: Callable[[Callable[[JobEvent], None]], JobEngine]) -> None:
        self._engine_factory = engine_factory
        self.engine: JobEngine | None = None
        self.records: dict[str, JobRecord] = {}
        self._closing = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: publish runs by what they publish: the same one asked twice at once runs once
        self._tasks: dict[Hashable, asyncio.Future[Any]] = {}

    # -- life -------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.engine = self._engine_factory(self._on_event)

    async def aclose(self) -> None:
        """Stop: streams end, queued jobs are cancelled, an image being written still lands;
        a publish run gets a few seconds to finish (one cut short is completed by the next)."""
        self._closing.set()
        if self.engine is not None:
            await self.engine.aclose()
        running = [task for task in self._tasks.values() if not task.done()]
        if running:
            _done, late = await asyncio.wait(running, timeout=TASK_GRACE_S)
            for task in late:
                task.cancel()

    async def run_task(self, key: Hashable, start: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``start()`` as the server's task, not the request's: a client that leaves does not
        stop it; callers asking for the same ``key`` meanwhile share that one run and its result."""
        task = self._tasks.get(key)
        if task is None or task.done():
            task = self._tasks[key] = asyncio.ensure_future(start())

            def forget(done: asyncio.Future[Any], key: Hashable = key) -> None:
                if self._tasks.get(key) is done:
                    del self._tasks[key]
                if not done.cancelled():
                    done.exception()  # retrieved: the callers that await it get it raised

            task.add_done_callback(forget)
        return await asyncio.shield(task)

    def close_streams(self) -> None:
        """End every event stream now (shutdown begins); safe from any thread."""
        if self._loop is None or self._loop.is_closed():
            return
        try:
            self._loop.call_soon_threadsafe(self._closing.set)
        except RuntimeError:
            pass  # the loop is already gone

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    # -- jobs -----------------------------------------------------------------------------
    def submit(self, request: ImageRequest) -> tuple[JobRecord, bool]:
        """The record for this request's job id, submitting it only if nothing live or stored has it.

        ``request`` must be prepared (validated, with its ``job_id``). Returns
        ``(record, submitted)``. No await in here: two posts of one job cannot interleave.
        """
        assert self.engine is not None and request.job_id
        record = self.records.get(request.job_id)
        if record is not None and record.job.state not in (JobState.FAILED, JobState.CANCELLED):
            return record, False
        job = self.engine.submit(request, job_id=request.job_id)
        record = self.records[job.id]  # made by the "queued" event the engine just emitted
        record.job = job
        self._forget_old()
        return record, True

    def get(self, job_id: str) -> JobRecord:
        record = self.records.get(job_id)
        if record is None:
            raise NotFound(f"no job {job_id!r} on this server")
        return record

    def cancel(self, job_id: str) -> JobRecord:
        record = self.get(job_id)
        if self.engine is not None:
            self.engine.cancel(job_id)
        return record

    def _forget_old(self) -> None:
        finished = [key for key, record in self.records.items() if record.finished]
        for key in finished[:max(0, len(finished) - MAX_FINISHED_RECORDS)]:
            del self.records[key]

    # -- events ---------------------------------------------------------------------------
    def _on_event(self, event: JobEvent) -> None:
        record = self.records.get(event.job.id)
        if record is None:
            # The engine emits "queued" inside submit(), before submit() can make the record.
            record = self.records[event.job.id] = JobRecord(event.job)
        data: dict[str, Any] = {"kind": event.kind, "job_id": event.job.id, "status": event.job.state.value,
                                "stage": event.job.stage, "elapsed_s": round(event.job.elapsed_s, 3)}
        if event.kind == "partial" and event.partial_image is not None:
            for earlier in record.events:
                earlier.pop("image", None)  # keep only the newest preview's pixels
            data["index"] = event.partial_index
            data["image"] = base64.b64encode(event.partial_image).decode("ascii")
            data["format"] = event.job.request.output_format
        if event.job.state.finished and event.kind == event.job.state.value:
            for earlier in record.events:
                earlier.pop("image", None)
        data["seq"] = len(record.events) + 1
        record.events.append(data)
        record.changed.set()
        record.changed = asyncio.Event()

    async def follow(self, job_id: str, after: int = 0, *, heartbeat_s: float = 15.0
                     ) -> AsyncIterator[dict[str, Any] | None]:
        """The job's events after number ``after``, in order, then new ones as they come.

        Ends after the event that finishes the job, or when the server shuts
        down. Yields ``None`` when nothing happened for ``heartbeat_s`` (a keep-alive).
        """
        record = self.get(job_id)
        cursor = max(0, after)
        while True:
            while cursor < len(record.events):
                cursor += 1
                yield record.events[cursor - 1]
            # A job's state and its last event change together (no await between them).
            if record.finished or self._closing.is_set():
                return
            changed = asyncio.ensure_future(record.changed.wait())
            closing = asyncio.ensure_future(self._closing.wait())
            try:
                done, _ = await asyncio.wait({changed, closing}, timeout=heartbeat_s,
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
                closing.cancel()
            if not done:
                yield None
