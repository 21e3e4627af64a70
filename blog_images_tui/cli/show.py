"""``blog-images show POST SECTION NAME``: print one image's metadata JSON."""

from __future__ import annotations

import argparse

from blog_images_tui.cli.common import AddCommon, Subparsers

HELP = "print the metadata of one image"


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser("show", help=HELP, description=HELP + ".")
    parser.add_argument("post")
    parser.add_argument("section")
    parser.add_argument("name", help="image file name, with or without extension")
    parser.add_argument("--json", action="store_true",
                        help="the same metadata JSON (it always is), and errors as one JSON object")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    import json

    from blog_images_tui.cli.common import open_store_from_args, parse_image_name
    from blog_images_tui.errors import BadInput
    from blog_images_tui.ids import SectionRef

    section = SectionRef.parse(args.post, args.section)
    filename = parse_image_name(args.name)
    store = open_store_from_args(args)
    try:
        metadata = store.read_metadata(section, filename)
    except FileNotFoundError:
        raise BadInput(f"no metadata for {filename} in {section}") from None
    print(json.dumps(metadata, indent=2, ensure_ascii=False))
    return 0
