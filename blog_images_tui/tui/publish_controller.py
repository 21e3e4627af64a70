"""Publishing from the app, kept apart from the widgets that show it.

:class:`PublishController` is not a widget: it publishes an image as an
asyncio task on the app's loop (the encoders run in the core's pool, store
calls in threads: the screen never waits), one task per image at a time, and
hands every step to one callback. The screen shows them in the jobs list and
in the Image tab.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from blog_images_tui.encoderpool import EncoderPool
from blog_images_tui.errors import BlogImagesError
from blog_images_tui.ids import SectionRef
from blog_images_tui.publish import Publisher, PublishProgress, PublishResult
from blog_images_tui.storage import Store, error_summary


@dataclass
class PublishTask:
    """One image being (or having been) published from the app."""

    key: str  # the jobs list's row key
    store: Store
    section: SectionRef
    filename: str
    state: str = "queued"  # "queued" | "running" | "published" | "failed"
    done: int = 0
    total: int = 0
    result: PublishResult | None = None
    error: BlogImagesError | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("published", "failed")


#: called on the event loop with the task that changed
PublishListener = Callable[[PublishTask], None]


class PublishController:
    """Every publish of one app session, across the stores it opened; one encoder pool for all."""

    def __init__(self, on_change: PublishListener) -> None:
        self._on_change = on_change
        self._pool: EncoderPool | None = None
        self._publishers: dict[int, Publisher] = {}
        self._running: dict[tuple[int, SectionRef, str], asyncio.Task] = {}
        self._numbers = itertools.count(1)
        self.tasks: list[PublishTask] = []

    def _publisher(self, store: Store) -> Publisher:
        if self._pool is None:
            self._pool = EncoderPool()
        publisher = self._publishers.get(id(store))
        if publisher is None:
            publisher = Publisher(store, pool=self._pool,
                                  on_progress=partial(self._progress, store))
            self._publishers[id(store)] = publisher
        return publisher

    def publish(self, store: Store, section: SectionRef, filename: str) -> PublishTask | None:
        """Start publishing one image (with the config's ``[publish]`` settings); None if it already is."""
        key = (id(store), section, filename)
        if key in self._running:
            return None
        task = PublishTask(f"publish-{next(self._numbers)}", store, section, filename)
        self.tasks.append(task)
        self._running[key] = asyncio.ensure_future(self._run(task, key))
        self._on_change(task)
        return task

    def _progress(self, store: Store, progress: PublishProgress) -> None:
        for task in self.tasks:
            if not task.finished and task.store is store and (task.section, task.filename) == (
                    progress.section, progress.filename):
                task.state, task.done, task.total = "running", progress.done, progress.total
                self._on_change(task)

    async def _run(self, task: PublishTask, key: tuple) -> None:
        from blog_images_tui.webplan import resolve_settings

        try:
            settings = await asyncio.to_thread(resolve_settings, task.store)
            task.result = await self._publisher(task.store).publish(task.section, task.filename, settings)
            task.state = "published"
        except BlogImagesError as error:
            task.state, task.error = "failed", error
        except Exception as error:  # noqa: BLE001 - one broken publish must not take the app down
            task.state, task.error = "failed", BlogImagesError(f"internal error: {error_summary(error)}")
        finally:
            self._running.pop(key, None)
            self._on_change(task)

    def active(self) -> list[PublishTask]:
        return [task for task in self.tasks if not task.finished]

    async def aclose(self) -> None:
        """Let running publishes finish their current file (each lands whole), then stop the encoders."""
        running = list(self._running.values())
        for future in running:
            future.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        if self._pool is not None:
            await asyncio.to_thread(self._pool.close)
            self._pool = None
