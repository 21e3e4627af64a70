"""``blog-images edit POST SECTION NAME --prompt P``: a new image from one in the store, via images.edit."""

from __future__ import annotations

import argparse

from blog_images_tui.cli.common import AddCommon, Subparsers, add_api_options, add_image_options

HELP = "edit an image of the store into a new one (references, mask, variants)"


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser(
        "edit", help=HELP, description=HELP + ". The result is a new image (the source is never overwritten), "
        "in the source's section unless --post-id/--section-id say where. Size, format and model default to "
        "the source's.")
    parser.add_argument("post", metavar="POST", help="post id of the image to edit")
    parser.add_argument("section", metavar="SECTION", help="section id of the image to edit")
    parser.add_argument("name", metavar="NAME", help="the image to edit, with or without its extension")
    parser.add_argument("--prompt", required=True, help="what to change")
    parser.add_argument("--image", dest="references", action="append", default=[], metavar="REF",
                        help="a reference image, repeatable: a local file, or POST/SECTION/NAME in the store")
    parser.add_argument("--mask", metavar="PATH",
                        help="PNG with an alpha channel, the edited image's size: alpha 0 marks where to edit")
    parser.add_argument("--filename", help="name of the new image without extension (default: a UTC timestamp)")
    parser.add_argument("--post-id", help="store the result in this post (with --section-id)")
    parser.add_argument("--section-id", help="store the result in this section (with --post-id)")
    add_image_options(parser, endpoint="edit")
    add_api_options(parser.add_argument_group("API"))
    parser.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from blog_images_tui.cli.common import open_store_from_args, send_and_report
    from blog_images_tui.config import load_config
    from blog_images_tui.editing import EditOptions, plan_edit
    from blog_images_tui.errors import BadInput
    from blog_images_tui.ids import SectionRef
    from blog_images_tui.inputs import StoreImageRef

    source = StoreImageRef(SectionRef.parse(args.post, args.section), args.name)
    source.stem()  # the name is checked before the store is even opened
    if (args.post_id is None) != (args.section_id is None):
        raise BadInput("give --post-id and --section-id together")
    target = SectionRef.parse(args.post_id, args.section_id) if args.post_id is not None else None
    store = open_store_from_args(args)
    config = load_config(store)
    options = EditOptions(
        prompt=args.prompt, references=args.references, mask=args.mask, filename=args.filename, section=target,
        model=args.model, size=args.size, quality=args.quality, output_format=args.output_format,
        background=args.background or config.defaults.background, n=args.n or 1, compression=args.compression,
        input_fidelity=args.input_fidelity)
    request = plan_edit(store, source, options, default_model=config.defaults.model,
                        default_quality=config.defaults.quality)
    return send_and_report(request, store, args)
