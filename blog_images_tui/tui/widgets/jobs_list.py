"""The jobs list: every submission, queued, running (with elapsed time), stored, failed (with the reason)."""

from __future__ import annotations

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


def stage_text(stage: str) -> str:
    """The engine's stage name in words (unknown ones, like "retry in 3s", as they are)."""
    return STAGE_WORDS.get(stage, stage)


def job_progress(job: Job, now: float | None = None) -> str:
    """The short progress text of a job's row. Only running jobs show a clock."""
    if job.state is JobState.RUNNING:
        now = time.monotonic() if now is None else now
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
        text.append(redact(str(job.error)))
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

    BINDINGS = [Binding("x", "cancel_job", "Cancel job", id="cancel-job")]

    class CancelRequested(Message):
        def __init__(self, job: Job) -> None:
            super().__init__()
            self.job = job

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.jobs: dict[str, Job] = {}
        self._cancellable = False

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
        if job.id not in self.jobs:
            self.jobs[job.id] = job
            table.add_row(str(len(self.jobs)), Text(label, style), Text(job_progress(job)), Text(job_target(job)),
                          key=job.id)
            table.move_cursor(row=table.row_count - 1)
        else:
            self.jobs[job.id] = job
            try:
                table.update_cell(job.id, "state", Text(label, style))
                table.update_cell(job.id, "target", Text(job_target(job)), update_width=True)
                table.update_cell(job.id, "progress", Text(job_progress(job)), update_width=True)
            except RowDoesNotExist:
                return
        if self.highlighted is job:
            self._show_details(job)
        self._refresh_cancel_key()

    def _refresh_cancel_key(self) -> None:
        # The footer rebuilds itself on every refresh_bindings(): only ask when "x" changes.
        job = self.highlighted
        cancellable = job is not None and not job.state.finished
        if cancellable != self._cancellable:
            self._cancellable = cancellable
            self.refresh_bindings()

    @property
    def highlighted(self) -> Job | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - no cursor yet
            return None
        return self.jobs.get(key or "")

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
                    table.update_cell(job.id, "progress", Text(job_progress(job, now)), update_width=True)
                except RowDoesNotExist:
                    pass

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        job = self.jobs.get(event.row_key.value or "")
        if job is not None:
            self._show_details(job)
        self._refresh_cancel_key()

    def _show_details(self, job: Job) -> None:
        self.query_one("#job-details", Static).update(job_details(job))

    # -- cancel --------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_job":
            job = self.highlighted
            return job is not None and not job.state.finished
        return True

    def action_cancel_job(self) -> None:
        job = self.highlighted
        if job is not None and not job.state.finished:
            self.post_message(self.CancelRequested(job))
