"""The open post's job stats, under the jobs list: what ``blog-images stats POST`` prints.

The numbers come from :func:`blog_images_tui.stats.collect` (the local job
ledger plus the store's metadata), read in a thread worker: listing a post
on S3 must never freeze the app. It reads only while it is on screen, and
again when a job of the shown post ends.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.widgets import Static

from blog_images_tui.ids import PostId
from blog_images_tui.storage import Store

NO_POST = "Stats: choose a post in the tree."
#: jobs ending close together (a batch) are counted in one read, not one read each
SETTLE_DEBOUNCE_S = 0.5
#: posts passed over with the arrow keys are not read
BROWSE_DEBOUNCE_S = 0.15


def stats_text(post_id: PostId, data: dict[str, Any], *, warnings: int = 0) -> Text:
    """Two lines for the panel from a :meth:`StatsReport.to_json` dict."""
    from blog_images_tui.stats import describe_duration, describe_spend

    text = Text()
    text.append(f"Post {post_id}", "bold")
    text.append(f"  {data['jobs']} job{'s' if data['jobs'] != 1 else ''}: ")
    text.append(f"{data['stored']} stored", "green")
    text.append(f" · {data['skipped']} skipped · ")
    text.append(f"{data['failed']} failed", "red" if data["failed"] else "")
    text.append(f" · {data['cancelled']} cancelled · {data['kept']} kept\n")
    rate = data["success_rate"]
    text.append(f"success {'-' if rate is None else f'{rate:.0%}'} · spend {describe_spend(data)}"
                f" · {describe_duration(data)}")
    if warnings:
        text.append(f" · {warnings} unreadable line(s): see `blog-images stats`", "yellow")
    return text


class StatsPanel(Static):
    """Counts, success rate, spend and durations of one post's jobs."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(NO_POST, id=id, markup=False)
        self._store: Store | None = None
        self._post: PostId | None = None
        self._stale = False
        self._shown = False
        self._timer: Any = None

    @property
    def post_id(self) -> PostId | None:
        return self._post

    def show_post(self, store: Store | None, post_id: PostId | None) -> None:
        """Follow ``post_id`` of ``store`` (None: no post open). Cheap when nothing changed."""
        if store is self._store and post_id == self._post:
            return
        self._store, self._post = store, post_id
        if post_id is None or store is None:
            self.update(NO_POST)
            return
        self.update(f"Post {post_id}: reading its jobs…")
        self._schedule(BROWSE_DEBOUNCE_S)

    def job_settled(self, store: Store, post_id: PostId) -> None:
        """A job ended: read again if it belongs to the post shown."""
        if store is self._store and post_id == self._post:
            self._schedule(SETTLE_DEBOUNCE_S)

    def _schedule(self, delay_s: float) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(delay_s, self._reload)

    def _reload(self) -> None:
        self._stale = True
        if self._shown and self._store is not None and self._post is not None:
            self._stale = False
            self._load(self._store, self._post)

    def on_show(self) -> None:
        self._shown = True
        if self._stale:
            self._reload()

    def on_hide(self) -> None:
        self._shown = False

    @work(thread=True, exclusive=True, group="post-stats", exit_on_error=False)
    def _load(self, store: Store, post_id: PostId) -> None:
        from blog_images_tui.errors import BlogImagesError
        from blog_images_tui.secrets import redact
        from blog_images_tui.stats import StatsQuery, collect

        try:
            report = collect(store, StatsQuery(post_id=post_id))
            text: Text | str = stats_text(post_id, report.to_json(), warnings=len(report.warnings()))
        except BlogImagesError as error:
            text = f"Post {post_id}: no stats ({redact(str(error))})"
        except Exception as error:  # noqa: BLE001 - a store error the store did not wrap
            text = f"Post {post_id}: no stats ({type(error).__name__}: {redact(str(error))[:200]})"
        self.app.call_from_thread(self._show, store, post_id, text)

    def _show(self, store: Store, post_id: PostId, text: Text | str) -> None:
        if store is self._store and post_id == self._post:  # not a post we have left meanwhile
            self.update(text)
