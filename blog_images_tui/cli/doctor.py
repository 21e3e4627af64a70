"""``blog-images doctor``: check a store for interrupted or failed writes; ``--fix`` repairs what is safe."""

from __future__ import annotations

import argparse

from blog_images_tui.cli.common import AddCommon, Subparsers

HELP = "check a store for images without metadata, leftovers and images waiting for recovery"
DESCRIPTION = """\
Walk the store one level at a time and report images without metadata, metadata
without images, unreadable metadata, leftover temp files and write probes, and
images waiting in the local recovery folder ($BLOG_IMAGES_RECOVERY_DIR) for this
store. With --fix: finish those uploads and remove leftover temp files older than
--min-temp-age; nothing else is deleted. Exit 0 when nothing is left to fix, 7
when problems remain (each is listed with what to do), 6 if the store cannot be read.
"""


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser("doctor", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fix", action="store_true",
                        help="finish waiting uploads and remove old leftover temp files")
    parser.add_argument("--min-temp-age", type=float, default=None, metavar="SECONDS",
                        help="only remove temp files at least this old (default: 3600; younger ones may "
                             "belong to a write in progress)")
    parser.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    add_common(parser)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "age unknown"
    if seconds < 120:
        return f"{seconds:.0f} s old"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min old"
    return f"{seconds / 3600:.1f} h old"


def run(args: argparse.Namespace) -> int:
    import sys

    from blog_images_tui.cli.common import open_store_from_args, print_json
    from blog_images_tui.doctor import SAFE_TEMP_AGE_S, Problem, examine, repair
    from blog_images_tui.errors import BadInput, ExitCode

    min_age = SAFE_TEMP_AGE_S if args.min_temp_age is None else args.min_temp_age
    if min_age < 0:
        raise BadInput("--min-temp-age must not be negative")
    store = open_store_from_args(args)
    checkup = examine(store)
    if args.fix:
        repair(store, checkup, min_temp_age_s=min_age)
    code = int(ExitCode.OK) if checkup.healthy else int(ExitCode.NOT_STORED)
    if args.json:
        print_json(checkup.to_dict())
        return code

    out = sys.stdout
    print(f"checked {checkup.store}: {checkup.posts} post(s), {checkup.sections} section(s), "
          f"{checkup.images} image(s)", file=out)
    for finding in checkup.findings:
        mark = ("fixed: " if finding.fixed else "left:  ") if args.fix else ""
        extra = f", {_age(finding.age_s)}" if finding.problem is Problem.LEFTOVER_TEMP_FILE else ""
        detail = f" ({finding.detail}{extra})" if finding.detail or extra else ""
        print(f"{mark}{finding.problem.value}: {finding.where}{detail}", file=out)
        if finding.note:
            print(f"        {finding.note}", file=out)
    if checkup.other_pending:
        print(f"{checkup.other_pending} more image(s) wait in the recovery folder for other stores "
              "(see: blog-images recover --list)", file=out)
    if not checkup.findings:
        print("no problems found", file=out)
    elif args.fix:
        print(f"{len(checkup.findings) - len(checkup.remaining)} fixed, {len(checkup.remaining)} left", file=out)
    else:
        print(f"{len(checkup.findings)} problem(s); `blog-images doctor --fix` finishes waiting uploads and "
              f"removes temp files older than {min_age:g} s", file=out)
    return code
