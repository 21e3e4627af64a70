"""``blog-images ls [POST [SECTION]]``: browse the store one level at a time."""

from __future__ import annotations

import argparse
from datetime import UTC

from blog_images_tui.cli.common import AddCommon, Subparsers

HELP = "list posts, a post's sections, or a section's images"


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser("ls", help=HELP, description=HELP + ".")
    parser.add_argument("post", nargs="?", help="post id: list its sections")
    parser.add_argument("section", nargs="?", help="section id: list its images")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from datetime import datetime

    from blog_images_tui.cli.common import open_store_from_args, print_json
    from blog_images_tui.ids import SectionRef, parse_id

    store = open_store_from_args(args)
    if args.post is None:
        posts = store.list_posts()
        if args.json:
            print_json({"store": store.url, "posts": posts})
        else:
            for post in posts:
                print(post)
        return 0
    if args.section is None:
        sections = store.list_sections(parse_id(args.post, what="post id"))
        if args.json:
            print_json({"store": store.url, "post_id": parse_id(args.post), "sections": sections})
        else:
            for section_id in sections:
                print(section_id)
        return 0
    section = SectionRef.parse(args.post, args.section)
    images = store.list_images(section)
    if args.json:
        print_json({"store": store.url, "post_id": section.post_id, "section_id": section.section_id,
                    "images": [{"name": image.image_name, "filename": image.filename, "format": image.output_format,
                                "bytes": image.size_bytes, "modified": image.modified,
                                "has_metadata": image.has_metadata,
                                "path": store.display_path(f"{_raw(section)}/{image.image_name}")}
                               for image in images]})
        return 0
    width = max((len(image.image_name) for image in images), default=0)
    for image in images:
        when = (datetime.fromtimestamp(image.modified, UTC).strftime("%Y-%m-%d %H:%M")
                if image.modified else "-")
        flag = "" if image.has_metadata else "  (no metadata)"
        print(f"{image.image_name:<{width}}  {image.size_bytes:>10,}  {when}{flag}")
    return 0


def _raw(section):
    from blog_images_tui.layout import raw_dir

    return raw_dir(section)
