"""``blog-images recover``: finish storing images kept in the local recovery folder."""

from __future__ import annotations

import argparse

from blog_images_tui.cli.common import AddCommon, Subparsers

HELP = "list or finish uploads of generated images that could not be stored"


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser("recover", help=HELP, description=HELP + ".")
    parser.add_argument("--list", action="store_true", help="only list what is waiting")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from blog_images_tui.cli.common import print_json, store_options
    from blog_images_tui.errors import BlogImagesError, ExitCode
    from blog_images_tui.recovery import finish_recovery, list_pending, recovery_root
    from blog_images_tui.secrets import redact
    from blog_images_tui.storage import error_summary, open_store

    pending = list_pending()
    wanted_store = getattr(args, "store", None)
    if wanted_store:
        # Notes name local stores by absolute path; accept the path as typed too.
        wanted = {wanted_store, open_store(wanted_store, **store_options(args)).location}
        pending = [item for item in pending if item.store_url in wanted]
    if args.list or not pending:
        rows = [{"folder": str(item.folder), "store": item.store_url, "post_id": item.section.post_id,
                 "section_id": item.section.section_id, "filename": item.filename, "reason": item.reason}
                for item in pending]
        if args.json:
            print_json({"recovery_dir": str(recovery_root()), "pending": rows})
        elif not rows:
            print(f"nothing waiting in {recovery_root()}")
        else:
            for row in rows:
                print(f"{row['folder']}  ->  {row['store']} post {row['post_id']} section {row['section_id']}"
                      f"  ({row['reason']})")
        return 0
    results, worst = [], 0
    for item in pending:
        options = {**item.store_options, **store_options(args)}
        try:
            stored = finish_recovery(item, open_store(item.store_url, **options))
            results.append({"ok": True, "image_path": stored.image_path, "metadata_path": stored.metadata_path})
            if not args.json:
                print(f"stored: {stored.image_path}")
        except (BlogImagesError, OSError, ValueError) as error:
            worst = int(ExitCode.STORE_UNUSABLE)
            message = redact(str(error) if isinstance(error, BlogImagesError) else error_summary(error))
            results.append({"ok": False, "folder": str(item.folder), "error": message})
            if not args.json:
                print(f"still waiting: {item.folder}: {message}")
    if args.json:
        print_json({"results": results})
    return worst
