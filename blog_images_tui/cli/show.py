"""``blog-images show POST SECTION NAME``: print one image's metadata JSON."""

from __future__ import annotations

import argparse

HELP = "print the metadata of one image"


def register(subparsers, add_common) -> None:
    parser = subparsers.add_parser("show", help=HELP, description=HELP + ".")
    parser.add_argument("post")
    parser.add_argument("section")
    parser.add_argument("name", help="image file name, with or without extension")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    import json

    from blog_images_tui.cli.common import open_store_from_args
    from blog_images_tui.errors import BadInput
    from blog_images_tui.ids import SectionRef, parse_filename
    from blog_images_tui.layout import EXTENSION_FORMATS

    section = SectionRef.parse(args.post, args.section)
    stem, dot, ext = args.name.rpartition(".")
    filename = parse_filename(stem if dot and ext.lower() in EXTENSION_FORMATS else args.name)
    store = open_store_from_args(args)
    try:
        metadata = store.read_metadata(section, filename)
    except FileNotFoundError:
        raise BadInput(f"no metadata for {filename} in {section}") from None
    print(json.dumps(metadata, indent=2, ensure_ascii=False))
    return 0
