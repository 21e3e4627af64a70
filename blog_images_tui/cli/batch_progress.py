"""``blog-images batch``'s progress and results: a rich bar on a terminal, plain lines
otherwise, one JSON object per job with ``--json``, and the summary at the end.

Imported when a batch starts (rich is not needed for ``--help``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from blog_images_tui.cli.batch import ADVICE, BatchOptions, request_json
from blog_images_tui.cli.common import format_table

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from blog_images_tui.batchfile import PlannedJob
    from blog_images_tui.jobs import Job, JobEvent


def _console(stream: TextIO, **kw: Any) -> Console:
    from rich.console import Console

    return Console(file=stream, highlight=False, soft_wrap=False, **kw)


class BatchReporter:
    """Progress while the batch runs (a rich bar on a terminal, plain lines otherwise),
    JSON Lines results with ``--json``, and the summary at the end."""

    def __init__(self, planned: list[PlannedJob], options: BatchOptions, *, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        import sys

        self.planned = planned
        self.options = options
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.err_console = _console(self.stderr)
        self.tty = self.err_console.is_terminal
        self.line_of: dict[int, int] = {}
        self.counts = {"stored": 0, "skipped": 0, "failed": 0, "cancelled": 0}
        self.done = 0
        self.spent = 0.0
        self.started_at: float | None = None
        self.printed: set[int] = set()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def bind(self, job: Job, planned_job: PlannedJob) -> None:
        self.line_of[id(job)] = planned_job.line

    def start(self) -> None:
        import time

        from blog_images_tui import pricing

        self.started_at = time.monotonic()
        total = pricing.total(job.cost for job in self.planned)
        intro = (f"batch {self.options.source}: {len(self.planned)} images, {self.options.jobs} at a time"
                 + (f", at most {self.options.rpm:g}/min" if self.options.rpm else "")
                 + f", estimated {total.describe()} if none is stored yet"
                 + (f", budget {pricing.format_usd(self.options.budget_usd)}" if self.options.budget_usd is not None
                    else ""))
        if self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.err_console.print(intro)
            progress = self._progress = Progress(
                TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
                TextColumn("stored {task.fields[stored]} · skipped {task.fields[skipped]} · "
                           "[red]failed {task.fields[failed]}[/red] · {task.fields[spent]}"),
                TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self.err_console, transient=False, redirect_stderr=True, redirect_stdout=False)
            self._task = progress.add_task("batch", total=len(self.planned), stored=0, skipped=0, failed=0,
                                                 spent="$0.000")
            progress.start()
        else:
            print(intro, file=self.stderr, flush=True)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def on_event(self, event: JobEvent) -> None:
        from blog_images_tui.jobs import JobState

        job = event.job
        if not job.state.finished or event.kind not in ("stored", "skipped", "failed", "cancelled"):
            return
        self._finished(job)
        if job.state is JobState.CANCELLED:
            return  # reported in the summary, not as progress
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, stored=self.counts["stored"],
                                  skipped=self.counts["skipped"], failed=self.counts["failed"],
                                  spent=f"${self.spent:.3f}")
            if job.state is JobState.FAILED:
                self._progress.console.print(f"[red]failed[/red] {self._describe(job)}", markup=True,
                                             highlight=False)
        else:
            print(f"[{self.done:>{len(str(len(self.planned)))}}/{len(self.planned)}] {self._describe(job)}"
                  f"  | {self._tally()}", file=self.stderr, flush=True)

    def _tally(self) -> str:
        """Counts, elapsed time and a naive ETA, for plain progress lines."""
        import time

        elapsed = time.monotonic() - (self.started_at or time.monotonic())
        left = len(self.planned) - self.done
        eta = f"ETA {elapsed / self.done * left:.0f}s" if self.done and left else "ETA -"
        c = self.counts
        return (f"stored {c['stored']} skipped {c['skipped']} failed {c['failed']}, "
                f"elapsed {elapsed:.1f}s, {eta}")

    def _finished(self, job: Job) -> None:
        if id(job) in self.printed:
            return
        self.printed.add(id(job))
        self.counts[job.state.value] = self.counts.get(job.state.value, 0) + 1
        if job.state.value != "cancelled":
            self.done += 1
        if job.cost_usd is not None:
            self.spent += job.cost_usd
        if self.options.as_json:
            from blog_images_tui.cli.common import print_json

            print_json(self.result_json(job))

    def _describe(self, job: Job) -> str:
        from blog_images_tui import pricing
        from blog_images_tui.secrets import redact

        request = job.request
        where = f"line {self.line_of.get(id(job), '?')}: post {request.section.post_id} / section " \
                f"{request.section.section_id}"
        state = job.state.value
        if job.state.value == "stored":
            name = job.result.image_path.rsplit("/", 1)[-1] if job.result else request.filename
            return f"stored   {where}  {name}  {pricing.format_usd(job.cost_usd)}  {job.elapsed_s:.1f}s"
        if state == "skipped":
            return f"skipped  {where}  already stored as {job.existing_name}"
        message = redact(str(job.error)) if job.error else state
        return f"FAILED   {where}  exit {job.exit_code}: {message}"

    def result_json(self, job: Job) -> dict[str, Any]:
        body = {"line": self.line_of.get(id(job)), "job_id": job.id, "state": job.state.value,
                "exit_code": job.exit_code, **request_json(job.request),
                "estimated_cost_usd": job.estimated_cost.usd if job.estimated_cost else None,
                "cost_usd": job.cost_usd, "elapsed_s": round(job.elapsed_s, 3)}
        if job.result is not None:
            body["image_path"] = job.result.image_path
            body["metadata_path"] = job.result.metadata_path
            body["images"] = [{"image_path": item.image_path, "metadata_path": item.metadata_path}
                              for item in job.results or [job.result]]
        if job.existing_name:
            body["existing"] = job.existing_name
        if job.error is not None and job.state.value != "stored":
            from blog_images_tui.errors import error_object

            body["error"] = {**error_object(job.error), "exit_code": job.exit_code}
        return body

    def summary(self, jobs: list[Job], *, interrupted: bool, elapsed_s: float, exit_code: int) -> None:
        """The summary table and the failures, one line each."""
        from blog_images_tui import pricing
        from blog_images_tui.jobs import JobState, NeverStarted

        for job in jobs:  # jobs that never got to report (a second Ctrl-C)
            self._finished(job)
        out = self.stderr if self.options.as_json else self.stdout

        def say(text: str) -> None:
            print(text, file=out)

        by_state: dict[str, list] = {}
        for job in jobs:
            key = job.state.value if job.state.finished else "cancelled"
            by_state.setdefault(key, []).append(job)
        rows = []
        labels = {"stored": "stored", "skipped": "already stored (skipped)", "failed": "failed",
                  "cancelled": "not finished (interrupted)" if interrupted else "cancelled"}
        for state in ("stored", "skipped", "failed", "cancelled"):
            group = by_state.get(state, [])
            if not group and state in ("failed", "cancelled"):
                continue
            cost = ""
            if state == "stored":
                known = [job.cost_usd for job in group if job.cost_usd is not None]
                cost = pricing.format_usd(sum(known)) + (f" (+{len(group) - len(known)} unknown)"
                                                         if len(known) < len(group) else "")
            rows.append([labels[state], str(len(group)), cost])
        say(f"batch {self.options.source}" + (" (interrupted)" if interrupted else "") + ":")
        for text in format_table(["result", "images", "cost"], rows, right=("images", "cost")):
            say("  " + text)
        say(f"  elapsed {elapsed_s:.1f}s")
        failed = [job for job in jobs if job.state is JobState.FAILED]
        for job in failed[:50]:
            say("  " + self._describe(job))
        if len(failed) > 50:
            say(f"  ... and {len(failed) - 50} more failed (use --json for all)")
        never_ran = [job for job in failed if isinstance(job.error, NeverStarted)]
        if never_ran:
            say(f"  {len(never_ran)} never ran: the store became unusable, so they were not sent "
                "(nothing paid for them)")
        if any(getattr(job.error, "recovery_path", None) for job in failed):
            say("  paid-for images were kept locally: finish with `blog-images recover`")
        if interrupted:
            say("interrupted: run the same command again to finish only what is missing")
        elif exit_code:
            say(f"exit code {exit_code}: {ADVICE.get(exit_code, 'see the failures above')}; "
                "a re-run only does the images not stored yet")
        out.flush()
