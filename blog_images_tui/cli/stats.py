"""``blog-images stats [POST [SECTION]]``: what was spent, how long it took, what failed."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "counts, success rate, spend and durations of jobs, from the local job ledger and the store"


def register(subparsers: Any, add_common: Any) -> None:
    parser = subparsers.add_parser(
        "stats", help=HELP, description=HELP + ". Images made elsewhere or before the ledger existed are "
        "counted from the store's metadata; nothing is counted twice.",
        epilog="Exit codes: 0 ok, 2 bad input (id, date, --by), 6 store unreadable.")
    parser.add_argument("post", nargs="?", help="only this post")
    parser.add_argument("section", nargs="?", help="only this section of the post")
    parser.add_argument("--since", metavar="DATE", help="from this day (YYYY-MM-DD, UTC) or ISO date-time on")
    parser.add_argument("--until", metavar="DATE", help="up to and including this day, or before this date-time")
    parser.add_argument("--by", choices=("post", "section", "model", "day", "outcome"),
                        help="one row per post, section, model, day (UTC) or outcome")
    parser.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from blog_images_tui.cli.common import open_store_from_args, print_json, warn
    from blog_images_tui.stats import collect, query_from_text

    # Everything checked before the ledger or the store is touched.
    query = query_from_text(args.post, args.section, args.since, args.until, args.by)
    store = open_store_from_args(args)
    report = collect(store, query)
    for message in report.warnings():
        warn(message)
    if args.json:
        print_json(report.to_json())
    else:
        for line in format_report(report, store.url):
            print(line)
    return 0


def format_report(report: Any, store_url: str) -> list[str]:
    """The terminal table: one row per group (with --by) and the total."""
    from blog_images_tui.cli.common import format_table
    from blog_images_tui.pricing import format_usd
    from blog_images_tui.stats import describe_spend

    query = report.query
    scope = store_url + (f", post {query.post_id}" if query.post_id is not None else "") + (
        f", section {query.section_id}" if query.section_id is not None else "")
    window = ""
    if query.since or query.until:
        window = (f", {query.since.isoformat() if query.since else '...'} to "
                  f"{query.until.isoformat() if query.until else 'now'}")
    headers = [query.by or "", "jobs", "stored", "skipped", "failed", "cancelled", "kept", "success",
               "spend", "median", "p95"]

    def row(key: Any, tally: Any) -> list[str]:
        data = tally.to_json()
        rate = data["success_rate"]
        spend = format_usd(data["cost_usd"])
        if data["cost_estimated_usd"]:
            spend = "~" + spend
        duration = data["duration_s"]
        return [str(key), str(data["jobs"]), str(data["stored"]), str(data["skipped"]), str(data["failed"]),
                str(data["cancelled"]), str(data["kept"]), "-" if rate is None else f"{rate:.0%}", spend,
                "-" if duration["median"] is None else f"{duration['median']:.1f}s",
                "-" if duration["p95"] is None else f"{duration['p95']:.1f}s"]

    rows = [row(key, tally) for key, tally in report.groups] + [row("total", report.total)]
    lines = [f"stats for {scope}{window}:"]
    lines += ["  " + text for text in format_table(headers, rows, right=tuple(headers[1:]))]
    total = report.total
    spend = f"spend {describe_spend(total.to_json())}"
    if total.unknown_cost:
        spend += f", and {total.unknown_cost} job{'s' if total.unknown_cost != 1 else ''} of unknown cost"
    lines.append("  " + spend)
    lines.append("  success = stored / (stored + failed + kept); durations of jobs that produced an image")
    if report.from_store:
        lines.append(f"  {report.from_store} of the stored images were found only in the store "
                     "(made elsewhere or before the job ledger)")
    return lines
