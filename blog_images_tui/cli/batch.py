"""``blog-images batch FILE``: many images from a JSON Lines, CSV or TOML file.

Everything is validated before the first request. Jobs run on the shared
:class:`~blog_images_tui.jobs.JobEngine` (the TUI's jobs list uses the same
one), so re-running a file makes no API call for images already stored.

Exit code: 0 when every job is stored or skipped; 130 when interrupted;
otherwise the worst failure among the jobs, in the order of
:data:`EXIT_SEVERITY`, after every other job has finished.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from blog_images_tui.cli.common import AddCommon, Subparsers, add_api_options, add_image_options, add_publish_options

if TYPE_CHECKING:
    from blog_images_tui.batchfile import PlannedJob
    from blog_images_tui.cli.batch_progress import BatchReporter
    from blog_images_tui.generation import ClientSettings, ImageRequest
    from blog_images_tui.storage import Store
    from blog_images_tui.webplan import PublishSettings

HELP = "generate many images from a JSON Lines, CSV or TOML file"

#: Worst first. What a batch exits with when some jobs failed:
#: 7 a paid-for image is not in the store (act now: `blog-images recover`);
#: 6 the store is unusable (nothing else can land until fixed);
#: 3 key, permission or quota (no job can succeed until fixed);
#: 1 an internal error (a bug: report it);
#: 4 the API rejected a prompt (edit that entry);
#: 5 a temporary failure that outlasted the retries (just run the file again);
#: 2 bad input found at run time (a name taken in the store, over --budget).
EXIT_SEVERITY = (7, 6, 3, 1, 4, 5, 2)
ADVICE = {7: "paid-for images are kept locally, finish them with `blog-images recover`",
          6: "the store could not be written, fix it and run again",
          3: "check the API key, permissions and quota",
          1: "an internal error, run again with -v and report it",
          4: "the API rejected some prompts, edit those entries",
          5: "temporary failures, run the same command again",
          2: "some entries could not be started (name taken, over budget)"}


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser(
        "batch", help=HELP, description=HELP + ". Entries give post_id, section_id, and a prompt or a template "
        "with vars; size, model, quality, format, filename and id are optional.",
        epilog="Exit codes: 0 every image stored or already there; 130 interrupted; otherwise the worst of the "
               "failed jobs in this order: 7 > 6 > 3 > 1 > 4 > 5 > 2.")
    parser.add_argument("file", metavar="FILE", help="batch file: .jsonl, .csv or .toml ('-' reads JSON Lines "
                                                     "from standard input)")
    parser.add_argument("--input-format", choices=("jsonl", "csv", "toml"),
                        help="format of FILE when its extension does not tell")
    parser.add_argument("--jobs", type=int, metavar="N", help="images generated at once (default: config, else 2)")
    parser.add_argument("--rpm", type=float, metavar="R",
                        help="at most R requests per minute, shared by all jobs (default: config, else no limit)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate everything, print the plan and the estimated cost, send nothing")
    parser.add_argument("--force", action="store_true", help="generate again even images already stored")
    parser.add_argument("--retry-failed", action="store_true",
                        help="pay again for jobs an earlier run marked failed in the store's claims")
    parser.add_argument("--claims", choices=("auto", "on", "off"), default="auto",
                        help="claim jobs in the store so several runners split one batch "
                             "(auto: on for S3 stores; see docs/scaling.md)")
    parser.add_argument("--lease", type=float, metavar="SECONDS",
                        help="a runner silent this long (by the store's clock) loses its claims (default: 120)")
    parser.add_argument("--budget", type=float, metavar="USD",
                        help="do not start an image whose estimated cost would take the total over USD")
    parser.add_argument("--json", action="store_true", help="print one JSON result object per job (JSON Lines)")
    parser.add_argument("--publish", action="store_true",
                        help="publish each image for the web once stored (as `blog-images publish`)")
    add_publish_options(parser.add_argument_group("with --publish (defaults: the config's [publish])"),
                        quality_flag="--publish-quality")
    group = parser.add_argument_group("defaults for entries that leave a field out (before the config files)")
    add_image_options(group)
    add_api_options(parser.add_argument_group("API"))
    add_common(parser)


def worst_exit_code(codes: Iterable[int]) -> int:
    """The worst exit code of failed jobs by :data:`EXIT_SEVERITY` (0 if all are 0)."""
    failed = {int(code) for code in codes if int(code) != 0}
    if not failed:
        return 0
    return min(failed, key=lambda code: EXIT_SEVERITY.index(code) if code in EXIT_SEVERITY else -1)


def run(args: argparse.Namespace) -> int:
    import sys

    from blog_images_tui.batchfile import BatchFileError, OptionDefaults, VariantDefaults, load_batch
    from blog_images_tui.cli.common import open_store_from_args, warn
    from blog_images_tui.config import load_config
    from blog_images_tui.errors import BadInput

    if args.jobs is not None and args.jobs < 1:
        raise BadInput("--jobs must be at least 1")
    if args.rpm is not None and args.rpm <= 0:
        raise BadInput("--rpm must be positive")
    if args.budget is not None and args.budget < 0:
        raise BadInput("--budget must not be negative")
    if args.lease is not None and args.lease <= 0:
        raise BadInput("--lease must be positive")
    store = open_store_from_args(args)
    config = load_config(store)
    defaults = OptionDefaults(model=args.model, size=args.size, quality=args.quality,
                              output_format=args.output_format, background=args.background,
                              style=args.style).merged_over(config.defaults)
    variants = VariantDefaults(n=args.n, moderation=args.moderation, compression=args.compression)
    try:
        planned = load_batch(args.file, defaults=defaults, templates=config.templates, kind=args.input_format,
                             store=store, variants=variants)
    except BatchFileError as error:
        if not config.templates and any("unknown template" in message for _, message in error.problems):
            # "(known: none)": say where templates would have been found (run from the wrong folder?)
            error.hint = f"no templates found; define [templates.NAME] in one of: {', '.join(config.searched)}"
        lines = error.lines()
        for line in lines[:-1]:  # the last one is printed by the CLI as the error line
            print(f"error: {line}", file=sys.stderr)
        if len(lines) > 1:
            raise BadInput(lines[-1] + (f" ({len(error.problems)} problems, nothing was sent)"
                                        if len(error.problems) > 1 else ""), hint=error.hint) from None
        raise
    warned: dict[str, list[int]] = {}
    for job in planned:
        for message in job.request.warnings:
            warned.setdefault(message, []).append(job.line)
    for message, numbers in warned.items():
        warn(f"{message} (line{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers[:10]))})")
    options = BatchOptions(
        jobs=args.jobs or config.defaults.jobs or 2, rpm=args.rpm or config.defaults.rpm,
        budget_usd=args.budget if args.budget is not None else config.defaults.budget_usd,
        force=args.force, as_json=args.json, source=args.file,
        claims=args.claims == "on" or (args.claims == "auto" and store.backend.name == "s3"),
        lease_s=args.lease, retry_failed=args.retry_failed)
    if args.publish:
        from blog_images_tui.cli.common import publish_settings_from_args

        options = replace(options, publish=publish_settings_from_args(args, store), publish_workers=args.workers)
    if args.dry_run:
        return dry_run(planned, store, options)
    from blog_images_tui.cli.common import settings_from_args
    from blog_images_tui.secrets import require_api_key

    settings = settings_from_args(args)
    require_api_key(settings.api_key)
    return run_batch(planned, store, settings, options)


# -- shared pieces ----------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch, after the command line and the config files were merged."""

    jobs: int
    rpm: float | None
    budget_usd: float | None
    force: bool
    as_json: bool
    source: str
    #: with --publish: how to publish each stored image (webplan.PublishSettings)
    publish: PublishSettings | None = None
    publish_workers: int | None = None
    #: claim jobs in the store (many runners on one store), with this lease
    claims: bool = False
    lease_s: float | None = None
    retry_failed: bool = False


def request_json(request: ImageRequest) -> dict[str, Any]:
    return {"post_id": request.section.post_id, "section_id": request.section.section_id,
            "filename": request.filename, "model": request.model, "size": request.size,
            "quality": request.quality, "format": request.output_format, "operation": request.operation,
            "n": request.n}


# -- dry run ------------------------------------------------------------------------------------

def dry_run(planned: list[PlannedJob], store: Store, options: BatchOptions) -> int:
    """Print the plan (what is new, already stored, or blocked) and its estimated cost."""
    import asyncio
    import sys

    from blog_images_tui import pricing
    from blog_images_tui.budget import Budget
    from blog_images_tui.cli.common import format_table, print_json
    from blog_images_tui.errors import NameTaken
    from blog_images_tui.jobs import StoredJobs
    from blog_images_tui.service import check_names_free

    stored = StoredJobs(store)

    async def look() -> list[str]:
        limit = asyncio.Semaphore(16)

        async def status(job: PlannedJob) -> str:
            async with limit:
                if not options.force and await stored.find(job.request):
                    return "already stored"
                if job.request.filename:
                    try:  # the name, or with n > 1 any variant's NAME-i
                        await asyncio.to_thread(check_names_free, store, job.request)
                    except NameTaken:
                        return "name taken"
                return "new"

        return list(await asyncio.gather(*(status(job) for job in planned)))

    statuses = asyncio.run(look())
    budget = Budget(options.budget_usd)  # as the engine would: jobs in file order, none paid for yet
    for index, (job, state) in enumerate(zip(planned, statuses, strict=True)):
        if state != "new":
            continue
        if budget.fits(job.cost.usd):
            budget.reserve(index, job.cost.usd, model=job.request.model)
        else:
            statuses[index] = "over budget"
    new = [job for job, state in zip(planned, statuses, strict=True) if state == "new"]
    cost = pricing.total(job.cost for job in new)
    problems = [(job, state) for job, state in zip(planned, statuses, strict=True)
                if state in ("name taken", "over budget")]

    if options.as_json:
        for job, state in zip(planned, statuses, strict=True):
            print_json({"line": job.line, "job_id": job.request.job_id, "status": state,
                        **request_json(job.request), "template": job.template, "prompt": job.request.prompt,
                        "estimated_cost": job.cost.to_json()})
    out = sys.stderr if options.as_json else sys.stdout
    if not options.as_json:
        rows = []
        for job, state in zip(planned, statuses, strict=True):
            request = job.request
            price = pricing.format_usd(job.cost.usd)
            if job.cost.basis == "estimate":
                price = "~" + price
            rows.append([str(job.line or "-"), str(request.section.post_id), str(request.section.section_id),
                         request.filename or "(auto)", str(request.model), str(request.size), request.quality or "-",
                         price if state == "new" else "-", state])
        print(f"plan for {options.source}:", file=out)
        headers = ["line", "post", "section", "filename", "model", "size", "quality", "est. cost", "status"]
        for text in format_table(headers, rows, right=("line", "est. cost")):
            print("  " + text, file=out)
    skipped = sum(state == "already stored" for state in statuses)
    print(f"{len(planned)} image{'s' if len(planned) != 1 else ''}: {len(new)} to generate, "
          f"{skipped} already stored" + (f", {len(problems)} blocked" if problems else ""), file=out)
    print(f"estimated cost: {cost.describe()} (prices as of {pricing.PRICES_AS_OF}; ~ marks estimates)", file=out)
    if options.budget_usd is not None:
        verdict = "fits" if not any(state == "over budget" for _, state in problems) else "does not fit"
        print(f"budget {pricing.format_usd(options.budget_usd)}: {verdict}", file=out)
    print("dry run: nothing was sent or written", file=out, flush=True)
    if problems:
        from blog_images_tui.errors import BadInput

        job, state = problems[0]
        detail = ("its filename already exists in the store (nothing is overwritten)" if state == "name taken"
                  else "it would go over the budget" if job.cost.usd is not None
                  else f"its cost is unknown ({job.cost.note}), so the budget cannot allow it")
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BadInput(f"{options.source}, line {job.line}: {detail}{more}")
    return 0


# -- the real run -----------------------------------------------------------------------------------

def run_batch(planned: list[PlannedJob], store: Store, settings: ClientSettings, options: BatchOptions, *,
              reporter: BatchReporter | None = None) -> int:
    """Run the planned jobs on one engine; return the batch's exit code."""
    import asyncio
    import time

    from blog_images_tui.cli.batch_progress import BatchReporter
    from blog_images_tui.jobs import JobEngine

    reporter = reporter or BatchReporter(planned, options)
    on_event = reporter.on_event
    publishing = None
    if options.publish is not None:
        from blog_images_tui.cli.publish import PublishAfterJobs

        publishing = PublishAfterJobs(store, options.publish, as_json=options.as_json,
                                      workers=options.publish_workers)

        def on_event(event, report=reporter.on_event):
            report(event)
            publishing.on_event(event)

    coordinator = None
    if options.claims:
        from blog_images_tui.claims import DEFAULT_LEASE_S, Coordinator

        coordinator = Coordinator(store, lease_s=options.lease_s or DEFAULT_LEASE_S,
                                  retry_failed=options.retry_failed)
    engine = JobEngine(store, settings, concurrency=options.jobs, rpm=options.rpm, force=options.force,
                       on_event=on_event, budget_usd=options.budget_usd, coordinator=coordinator)

    async def go() -> None:
        try:
            jobs = []
            for job in planned:
                jobs.append(engine.submit(job.request))
                reporter.bind(jobs[-1], job)
            engine.coordinate(jobs)
            await engine.join()
            if publishing is not None:
                await publishing.finish()
        except asyncio.CancelledError:
            # Ctrl-C: abandon running requests (an image already being written still lands whole).
            engine.cancel_all()
            await asyncio.shield(engine.join())
            raise
        finally:
            await engine.aclose()

    from blog_images_tui.errors import Interrupted
    from blog_images_tui.service import run_interruptible

    started = time.monotonic()
    interrupted, code = False, 0
    reporter.start()
    try:
        run_interruptible(go)  # SIGINT, SIGTERM, SIGHUP alike: paid images are stored or kept
    except Interrupted as stopped:
        interrupted, code = True, int(stopped.exit_code)
    except KeyboardInterrupt:
        interrupted, code = True, 130
    finally:
        reporter.stop()
    if not interrupted:
        code = worst_exit_code([*(job.exit_code for job in engine.jobs), *(publishing.codes if publishing else [])])
    reporter.summary(engine.jobs, interrupted=interrupted, elapsed_s=time.monotonic() - started, exit_code=code)
    return code
