"""The app's jobs, kept apart from the widgets that show them.

:class:`JobsController` is not a widget: it owns one
:class:`~blog_images_tui.jobs.JobEngine` per store opened in the session
(each job belongs to the store it was submitted to, even after a switch),
submits, cancels and shuts them down, and hands every engine event to one
callback on the event loop. The screen turns those events into widget updates.
"""

from __future__ import annotations

from collections.abc import Callable

from blog_images_tui.errors import ApiRejected, AuthConfigError, NotStored, StoreUnusable, TemporaryFailure
from blog_images_tui.generation import ClientSettings, ImageRequest
from blog_images_tui.jobs import Job, JobEngine, JobEvent
from blog_images_tui.pacing import Pacing
from blog_images_tui.secrets import require_api_key
from blog_images_tui.storage import Store

#: called on the event loop with the store a job belongs to and what happened to it
EventListener = Callable[[Store, JobEvent], None]

#: the core's rule, in the app's words (the app has no --api-key: the key comes from the environment)
#: the app cannot take a key once started: the core's "key required" words end with this
KEY_REMEDY = "then start blog-images again"


def may_have_been_billed(job: Job) -> bool:
    """True when ``job`` ended after its request reached the API in a way that may have been paid for.

    A refusal (rejected prompt, bad key, rate limit) is not billed; an image generated but not stored
    is (it waits in the recovery folder); a timeout or a broken answer may be.
    """
    if not job.sent or isinstance(job.error, (ApiRejected, AuthConfigError)):
        return False
    if isinstance(job.error, TemporaryFailure) and job.error.rate_limited:
        return False
    return isinstance(job.error, (NotStored, TemporaryFailure)) or job.error is None or job.state.value == "cancelled"


class JobsController:
    """Every job of one app session, across the stores it opened."""

    def __init__(self, settings: ClientSettings, *, concurrency: int, rpm: float | None,
                 on_event: EventListener) -> None:
        self.settings = settings
        self.concurrency = concurrency
        #: one pacing (rate limit, 429 back-off) shared by the engines of every store
        self.pacing = Pacing(max_retries=settings.max_retries, rpm=rpm)
        self._on_event = on_event
        #: by id(store): a store object is opened once per switch, and a job keeps its own
        self._engines: dict[int, JobEngine] = {}
        #: each job's request as it was sent (the engine fills in an automatic name): what a retry sends
        self._requests: dict[str, ImageRequest] = {}

    def engine_for(self, store: Store) -> JobEngine:
        """The engine of ``store``, made on its first job (TUI jobs always generate: ``force``)."""
        engine = self._engines.get(id(store))
        if engine is None:
            engine = JobEngine(store, self.settings, concurrency=self.concurrency, force=True,
                               on_event=lambda event: self._on_event(store, event), pacing=self.pacing)
            self._engines[id(store)] = engine
        return engine

    def submit(self, store: Store | None, request: ImageRequest, *, job_id: str) -> Job:
        """Queue ``request`` for ``store``; raises :class:`BlogImagesError` (no store, no key, bad request)."""
        if store is None:
            raise StoreUnusable("no store is open: ctrl+p, then type a store URL")
        require_api_key(self.settings.api_key, remedy=KEY_REMEDY)
        job = self.engine_for(store).submit(request, job_id=job_id)
        self._requests[job.id] = request
        return job

    def retry(self, job: Job, *, job_id: str) -> Job:
        """Send ``job``'s request again to the store it was for, as a new job (same settings)."""
        engine = self._engine_of(job)
        if engine is None:
            raise StoreUnusable("this job's store is no longer open")
        return self.submit(engine.store, self._requests.get(job.id, job.request), job_id=job_id)

    def clear_finished(self) -> set[str]:
        """Forget the jobs that have finished, in every store; returns their ids."""
        cleared = set()
        for engine in self._engines.values():
            cleared |= {job.id for job in engine.jobs if job.state.finished}
            engine.jobs[:] = [job for job in engine.jobs if not job.state.finished]
        for job_id in cleared:
            self._requests.pop(job_id, None)
        return cleared

    def _engine_of(self, job: Job) -> JobEngine | None:
        return next((engine for engine in self._engines.values() if any(j is job for j in engine.jobs)), None)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job, whichever store it is for (False: it had finished)."""
        return any(engine.cancel(job_id) for engine in self._engines.values())

    def active_jobs(self) -> list[Job]:
        """Jobs still queued or running, in every store."""
        return [job for engine in self._engines.values() for job in engine.jobs if not job.state.finished]

    async def aclose(self) -> None:
        """Cancel what is still running (a paid-for image being stored still lands) and close the clients."""
        engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            await engine.aclose()
