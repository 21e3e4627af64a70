"""``blog-images delete``: remove images with their metadata, or prune a variant group to the one kept."""

from __future__ import annotations

import argparse

from blog_images_tui.cli.common import AddCommon, Subparsers

HELP = "delete images with their metadata, or keep one variant of a group and delete the rest"


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser(
        "delete", help=HELP, description=HELP + ". Asks first on a terminal; elsewhere refuses without --yes. "
        "Never deletes an image another one names as its source or reference without --force.",
        epilog="Exit codes: 0 deleted (or nothing confirmed), 2 bad input, not confirmed or still a source, "
               "6 store unusable.")
    parser.add_argument("post", metavar="POST", help="post id")
    parser.add_argument("section", metavar="SECTION", help="section id")
    parser.add_argument("names", metavar="NAME", nargs="*", help="images to delete, with or without extension")
    parser.add_argument("--group", metavar="G", help="a variant group (metadata group_id): delete all but --keep")
    parser.add_argument("--keep", metavar="NAME", help="with --group: the variant to keep")
    parser.add_argument("--yes", action="store_true", help="do not ask (needed when not on a terminal)")
    parser.add_argument("--force", action="store_true", help="delete even images others name as their source")
    parser.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    import sys

    from blog_images_tui import pruning
    from blog_images_tui.cli.common import open_store_from_args, print_json
    from blog_images_tui.errors import BadInput
    from blog_images_tui.ids import SectionRef

    section = SectionRef.parse(args.post, args.section)
    if args.group is not None:
        if args.names or not args.keep:
            raise BadInput("--group takes --keep NAME and no other names")
    elif args.keep is not None:
        raise BadInput("--keep needs --group")
    elif not args.names:
        raise BadInput("name the images to delete, or give --group G --keep NAME")
    store = open_store_from_args(args)
    if args.group is not None:
        keep = args.keep
        assert isinstance(keep, str)  # checked above: --group comes with --keep NAME
        plan = pruning.plan_prune(store, section, args.group, keep)
    else:
        plan = pruning.plan_delete(store, section, args.names)
    if plan.dependents and not args.force:
        pruning.execute(store, plan)  # raises the "still a source" error, deleting nothing
    names = [entry.image_name for entry in plan.targets]
    if not args.yes:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise BadInput(f"not deleting {len(names)} image(s) without --yes (not on a terminal)")
        print(f"delete {', '.join(names)} and their metadata from {section}? [y/N] ", end="", file=sys.stderr,
              flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            if args.json:
                print_json({"ok": True, "deleted": [], "kept": plan.kept})
            return 0
    deleted = pruning.execute(store, plan, force=args.force)
    if args.json:
        print_json({"ok": True, "deleted": [entry.image_name for entry in deleted], "kept": plan.kept})
    else:
        for entry in deleted:
            print(f"deleted: {entry.image_name}")
    return 0
