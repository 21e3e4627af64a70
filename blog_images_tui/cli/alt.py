"""``blog-images alt POST SECTION NAME [TEXT]``: show or set an image's alt text.

Setting it replaces the metadata's ``alt`` (and nothing else in it), then
the published manifest's alt and snippets, each conditionally: two edits at
once never lose one. Without TEXT it prints the alt text a publish would use
and where it comes from (``metadata``, or ``prompt`` when derived from the
prompt and worth a review). Exit codes: 0 ok, 2 bad input or no such image,
5 the file kept changing under other writers, 6 store unusable.
"""

from __future__ import annotations

import argparse

from blog_images_tui.cli.common import AddCommon, Subparsers

HELP = "show or set the alt text of an image (metadata and published snippet)"


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser("alt", help=HELP, description=HELP + ".",
                                   epilog="Exit codes: 0 ok, 2 bad input or no such image, 5 kept changing "
                                          "under other writers, 6 store unusable.")
    parser.add_argument("post")
    parser.add_argument("section")
    parser.add_argument("name", help="image file name, with or without extension")
    parser.add_argument("text", nargs="?", help="the new alt text ('' for a decorative image); omit to show it")
    parser.add_argument("--json", action="store_true",
                        help="print {ok, alt, alt_source, previous, metadata_changed, manifest_changed}")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from blog_images_tui.cli.common import open_store_from_args, parse_image_name, print_json
    from blog_images_tui.ids import SectionRef
    from blog_images_tui.publish import alt_of, image_metadata, parse_alt, set_alt

    section = SectionRef.parse(args.post, args.section)
    filename = parse_image_name(args.name)
    if args.text is not None:
        parse_alt(args.text)  # bad text is refused before the store is opened
    store = open_store_from_args(args)
    if args.text is None:
        alt, source = alt_of(image_metadata(store, section, filename))
        if args.json:
            print_json({"ok": True, "alt": alt, "alt_source": source})
        else:
            print(alt if source != "prompt" else f"{alt}\n(derived from the prompt: review it, then set it "
                                                 f"with `blog-images alt {section.post_id} {section.section_id} "
                                                 f"{filename} TEXT`)")
        return 0
    result = set_alt(store, section, filename, args.text)
    if args.json:
        print_json({"ok": True, "alt": result.alt, "alt_source": "metadata", "previous": result.previous,
                    "metadata_changed": result.metadata_changed, "manifest_changed": result.manifest_changed})
    else:
        done = "set" if result.metadata_changed else "unchanged"
        print(f"{section}, {filename}: alt text {done}"
              + ("; published snippet updated" if result.manifest_changed else ""))
    return 0
