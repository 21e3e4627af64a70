"""The app's jobs, kept apart from the widgets that show them.

:class:`JobsController` is not a widget: it owns one
:class:`~blog_images_tui.jobs.JobEngine` per store opened in the session
(each job belongs to the store it was submitted to, even after a switch),
submits, cancels and shuts them down, and hands every engine event to one
callback on the event loop. The screen turns those events into widget updates.
"""

from __future__ import annotations

from typing import Callable

from blog_images_tui.errors import StoreUnusable
from blog_images_tui.generation import ClientSettings, ImageGenerator, ImageRequest
from blog_images_tui.jobs import Job, JobEngine, JobEvent
from blog_images_tui.pacing import Pacing
from blog_images_tui.storage import Store

#: called on the event loop with the store a job belongs to and what happened to it
EventListener = Callable[[Store, JobEvent], None]


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
        ImageGenerator(self.settings)  # the CLI's own "key required" check and words
        return self.engine_for(store).submit(request, job_id=job_id)

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
