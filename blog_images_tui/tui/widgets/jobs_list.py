"""The jobs list: every submission, queued, running (with elapsed time), stored, failed (with the reason).

``x`` cancels the highlighted job, ``t`` tries a failed or cancelled one again
(the screen asks first when it may have been billed), ``f`` clears the
finished ones. A job waiting to retry counts its seconds down.
"""

from __future__ import annotations

import re
import time

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.widgets.data_table import RowDoesNotExist

from blog_images_tui.jobs import Job, JobState
from blog_images_tui.pricing import format_usd
from blog_images_tui.secrets import redact
from blog_images_tui.tui.cost import cost_text
from blog_images_tui.tui.widgets.preview import human_bytes
from blog_images_tui.tui.wording import app_message

STATE_STYLES = {
    JobState.QUEUED: ("queued", "dim"),
    JobState.RUNNING: ("running", "bold yellow"),
    JobState.STORED: ("stored", "bold green"),
    JobState.SKIPPED: ("skipped", "cyan"),
    JobState.FAILED: ("failed", "bold red"),
    JobState.CANCELLED: ("cancelled", "magenta"),
}


STAGE_WORDS = {
    "queued": "starting",
    "checking": "checking the store",
    "waiting": "waiting its turn",
    "generating": "generating",
    "retrying": "retrying",
    "storing": "storing",
}


#: the stage the engine reports while it waits to retry (see service.generate_with_retries)
_RETRY_STAGE = re.compile(r"retry in (\d+)s")


def stage_text(stage: str) -> str:
    """The engine's stage name in words (unknown ones, like "retry in 3s", as they are)."""
    return STAGE_WORDS.get(stage, stage)


def job_progress(job: Job, now: float | None = None, retry_at: float | None = None) -> str:
    """The short progress text of a job's row. Only running jobs show a clock.

    ``retry_at`` (monotonic): the job waits to retry until then; the row counts down to it.
    """
    if job.state is JobState.RUNNING:
        now = time.monotonic() if now is None else now
        if retry_at is not None:
            return f"retry in {max(0.0, retry_at - now):.0f}s"
        elapsed = max(0.0, now - job.started_at) if job.started_at else 0.0
        return f"{stage_text(job.stage)} {elapsed:.0f}s"
    if job.state is JobState.QUEUED:
        return "waiting for a slot"
    if job.state is JobState.STORED and job.result is not None:
        size = job.result.metadata.get("bytes")
        return f"{job.request.output_format}, {human_bytes(size)}" if size else job.request.output_format
    if job.state is JobState.SKIPPED:
        return f"already stored: {job.existing_name or ''}"
    if job.state is JobState.FAILED:
        return job.error.title if job.error else "failed"
    return job.state.value



def job_target(job: Job) -> str:
    request = job.request
    name = request.filename or "(auto name)"
    return f"{request.section.post_id}/{request.section.section_id}  {name}"


def job_details(job: Job) -> Text:
    """Everything about one job, for the panel under the table."""
    request = job.request
    text = Text()
    text.append("Prompt ", "bold")
    text.append(redact(request.prompt) + "\n")
    text.append("Where  ", "bold")
    text.append(f"{request.section}, {request.model}, {request.size}, {request.output_format}"
                + (f", quality {request.quality}" if request.quality else "") + "\n")
    if job.state is JobState.STORED and job.result is not None:
        text.append("Cost   ", "bold")
        text.append(format_usd(job.cost_usd) + "\n")
    elif not job.state.finished and job.estimated_cost is not None:
        text.append("Cost   ", "bold")
        text.append(cost_text(job.estimated_cost) + "\n")
    if job.state is JobState.FAILED and job.error is not None:
        text.append(f"{job.error.title}: ", "bold red")
        text.append(app_message(job.error))
    elif job.state is JobState.STORED and job.result is not None:
        text.append("Stored ", "bold green")
        text.append(job.result.image_path)
    elif job.state is JobState.CANCELLED:
        text.append("Cancelled", "magenta")
    elif job.state is JobState.SKIPPED:
        text.append("Already stored ", "cyan")
        text.append(job.existing_name or "")
    return text


class JobsList(Vertical):
    """A table of jobs and the details of the highlighted one; ``x`` cancels it."""

    BINDINGS = [
        Binding("x", "cancel_job", "Cancel job", id="cancel-job"),
        Binding("t", "retry_job", "Retry", id="retry-job"),
        Binding("f", "clear_finished", "Clear finished", id="clear-finished-jobs"),
    ]

    class CancelRequested(Message):
        def __init__(self, job: Job) -> None:
            super().__init__()
            self.job = job

    class RetryRequested(Message):
        """Send this failed or cancelled job's request again (same settings, a new job)."""

        def __init__(self, job: Job) -> None:
            super().__init__()
            self.job = job

    class ClearRequested(Message):
        """Forget the finished jobs (the screen tells the engines, then calls :meth:`remove_jobs`)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.jobs: dict[str, Job] = {}
        self._keys: tuple = ()
        #: job id -> (the "retry in Ns" stage it was seen with, when the wait ends)
        self._retry_at: dict[str, tuple[str, float]] = {}
        self._numbered = 0
        #: rows that are not generation jobs (publishing): their details, by row key
        self.task_details: dict[str, Text] = {}

    def compose(self) -> ComposeResult:
        table: DataTable = DataTable(id="jobs-table", cursor_type="row", zebra_stripes=False)
        yield table
        with VerticalScroll(id="job-details-scroll"):
            yield Static("No jobs yet. Press g, write a prompt, then ctrl+s.", id="job-details")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("#", key="n", width=3)
        table.add_column("State", key="state", width=9)
        table.add_column("Progress", key="progress")
        table.add_column("Where", key="target")
        self.set_interval(1.0, self._tick)

    # -- updates -------------------------------------------------------------
    def update_job(self, job: Job) -> None:
        """Add or refresh the row of ``job``."""
        table = self.query_one(DataTable)
        label, style = STATE_STYLES[job.state]
        self._note_retry_wait(job)
        progress = Text(job_progress(job, retry_at=self._retry_deadline(job)))
        if job.id not in self.jobs:
            self.jobs[job.id] = job
            self._numbered += 1
            table.add_row(str(self._numbered), Text(label, style), progress, Text(job_target(job)), key=job.id)
            table.move_cursor(row=table.row_count - 1)
        else:
            self.jobs[job.id] = job
            try:
                table.update_cell(job.id, "state", Text(label, style))
                table.update_cell(job.id, "target", Text(job_target(job)), update_width=True)
                table.update_cell(job.id, "progress", progress, update_width=True)
            except RowDoesNotExist:
                return
        if self.highlighted is job:
            self._show_details(job)
        self._refresh_cancel_key()

    def update_task(self, key: str, state: tuple[str, str], progress: str, target: str, details: Text) -> None:
        """Add or refresh a row that is not a generation job (a publish): shown alike, not cancellable."""
        table = self.query_one(DataTable)
        label, style = state
        if key not in self.task_details:
            self._numbered += 1
            table.add_row(str(self._numbered), Text(label, style), Text(progress), Text(target), key=key)
            table.move_cursor(row=table.row_count - 1)
        else:
            try:
                table.update_cell(key, "state", Text(label, style))
                table.update_cell(key, "progress", Text(progress), update_width=True)
            except RowDoesNotExist:
                return
        self.task_details[key] = details
        if self._highlighted_key() == key:
            self.query_one("#job-details", Static).update(details)

    def _note_retry_wait(self, job: Job) -> None:
        match = _RETRY_STAGE.fullmatch(job.stage) if job.state is JobState.RUNNING else None
        if match is None:
            self._retry_at.pop(job.id, None)
        elif self._retry_at.get(job.id, ("", 0.0))[0] != job.stage:
            self._retry_at[job.id] = (job.stage, time.monotonic() + int(match.group(1)))

    def _retry_deadline(self, job: Job) -> float | None:
        wait = self._retry_at.get(job.id)
        return wait[1] if wait is not None else None

    def remove_jobs(self, job_ids: set[str]) -> None:
        """Take these (finished) jobs out of the table."""
        table = self.query_one(DataTable)
        for job_id in job_ids:
            self.jobs.pop(job_id, None)
            self._retry_at.pop(job_id, None)
            try:
                table.remove_row(job_id)
            except RowDoesNotExist:
                pass
        job = self.highlighted
        if job is not None:
            self._show_details(job)
        elif not self.jobs:
            self.query_one("#job-details", Static).update("No jobs. Press g, write a prompt, then ctrl+s.")
        self._refresh_cancel_key()

    def _refresh_cancel_key(self) -> None:
        # The footer rebuilds itself on every refresh_bindings(): only ask when its keys change.
        job = self.highlighted
        keys = (job is not None and not job.state.finished, job is not None and _retryable(job),
                any(j.state.finished for j in self.jobs.values()))
        if keys != self._keys:
            self._keys = keys
            self.refresh_bindings()

    def _highlighted_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - no cursor yet
            return None

    @property
    def highlighted(self) -> Job | None:
        return self.jobs.get(self._highlighted_key() or "")

    def counts(self) -> dict[JobState, int]:
        counts = {state: 0 for state in JobState}
        for job in self.jobs.values():
            counts[job.state] += 1
        return counts

    def _tick(self) -> None:
        table = self.query_one(DataTable)
        now = time.monotonic()
        for job in self.jobs.values():
            if job.state is JobState.RUNNING:
                try:
                    table.update_cell(job.id, "progress", Text(job_progress(job, now, self._retry_deadline(job))),
                                      update_width=True)
                except RowDoesNotExist:
                    pass

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        job = self.jobs.get(event.row_key.value or "")
        if job is not None:
            self._show_details(job)
        elif (event.row_key.value or "") in self.task_details:
            self.query_one("#job-details", Static).update(self.task_details[event.row_key.value or ""])
        self._refresh_cancel_key()

    def _show_details(self, job: Job) -> None:
        self.query_one("#job-details", Static).update(job_details(job))

    # -- cancel --------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        job = self.highlighted
        if action == "cancel_job":
            return job is not None and not job.state.finished
        if action == "retry_job":
            return job is not None and _retryable(job)
        if action == "clear_finished":
            return any(j.state.finished for j in self.jobs.values())
        return True

    def action_retry_job(self) -> None:
        job = self.highlighted
        if job is not None and _retryable(job):
            self.post_message(self.RetryRequested(job))

    def action_clear_finished(self) -> None:
        self.post_message(self.ClearRequested())

    def action_cancel_job(self) -> None:
        job = self.highlighted
        if job is not None and not job.state.finished:
            self.post_message(self.CancelRequested(job))


def _retryable(job: Job) -> bool:
    return job.state in (JobState.FAILED, JobState.CANCELLED)
