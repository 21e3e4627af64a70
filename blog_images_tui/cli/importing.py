"""``blog-images import FILE``: an image made elsewhere into the tree, with its metadata."""

from __future__ import annotations

import argparse

from blog_images_tui.cli.common import AddCommon, Subparsers

HELP = "bring an image made elsewhere (photo, brand asset, sketch) into a section"


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser(
        "import", help=HELP, description=HELP + ", checked by decoding it, with its metadata "
        "(operation import, sha256, width, height, format), so it can be edited and referenced.")
    parser.add_argument("file", metavar="FILE", help="a PNG, JPEG or WebP file")
    parser.add_argument("--post-id", required=True, help="blog post id: a positive integer or a slug")
    parser.add_argument("--section-id", required=True, help="section id within the post")
    parser.add_argument("--filename", help="name without extension (default: the file's own name when it is "
                                           "a valid name, else a UTC timestamp)")
    parser.add_argument("--prompt", help="a description to keep in the metadata (optional)")
    parser.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from blog_images_tui.cli.common import open_store_from_args, report_stored
    from blog_images_tui.ids import SectionRef, parse_filename
    from blog_images_tui.importing import import_image, read_import

    section = SectionRef.parse(args.post_id, args.section_id)
    if args.filename is not None:
        parse_filename(args.filename)
    image = read_import(args.file)
    store = open_store_from_args(args)
    stored = import_image(store, section, image, filename=args.filename, prompt=args.prompt)
    report_stored([stored], as_json=args.json)
    return 0
