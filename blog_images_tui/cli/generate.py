"""``blog-images generate``: one image into post/section/raw, with its metadata."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from blog_images_tui.cli.common import AddCommon, Subparsers, add_generation_options

if TYPE_CHECKING:
    from blog_images_tui.config import Config

HELP = "generate one image and store it with its metadata"


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser("generate", help=HELP, description=HELP + ".")
    parser.add_argument("--prompt", help="what to draw (or use --template)")
    parser.add_argument("--template", metavar="NAME",
                        help="fill the prompt from a named template (see `blog-images templates`)")
    parser.add_argument("--var", action="append", metavar="NAME=VALUE", default=[],
                        help="a template variable, repeatable")
    parser.add_argument("--post-id", required=True, help="blog post id: a positive integer or a slug")
    parser.add_argument("--section-id", required=True, help="section id within the post")
    parser.add_argument("--filename", help="file name without extension (default: a UTC timestamp)")
    add_generation_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from blog_images_tui.cli.common import (
        name_config_defaults,
        open_store_from_args,
        send_and_report,
    )
    from blog_images_tui.config import Defaults, load_config
    from blog_images_tui.errors import BadInput
    from blog_images_tui.generation import ImageRequest
    from blog_images_tui.ids import SectionRef
    from blog_images_tui.models import DEFAULT_MODEL

    # Validate everything local first: bad input never costs a request.
    section = SectionRef.parse(args.post_id, args.section_id)
    store = open_store_from_args(args)
    config = load_config(store)
    prompt, template = _prompt_from_args(args, config)
    # The command line wins, then the config files' [defaults], then built-in defaults.
    given = Defaults(model=args.model, size=args.size, quality=args.quality, output_format=args.output_format,
                     background=args.background, style=args.style)
    chosen = given.merged_over(config.defaults)
    try:
        request = ImageRequest(
            prompt=prompt, section=section, filename=args.filename,
            model=chosen.model or DEFAULT_MODEL, size=chosen.size, quality=chosen.quality, style=chosen.style,
            output_format=chosen.output_format or "png", background=chosen.background,
            n=args.n or 1, moderation=args.moderation, compression=args.compression, template=template,
        ).validated()
    except BadInput as error:
        raise name_config_defaults(error, given, config) from None
    return send_and_report(request, store, args)


def _prompt_from_args(args: argparse.Namespace, config: Config) -> tuple[str, dict | None]:
    """The prompt, from --prompt or --template/--var (templates from the loaded config), and the
    template used (name and variables, for the metadata)."""
    from blog_images_tui.errors import BadInput
    from blog_images_tui.templates import parse_vars

    values = parse_vars(args.var)
    if args.template is None:
        if args.prompt is None:
            raise BadInput("give --prompt, or --template NAME with --var NAME=VALUE")
        if values:
            raise BadInput("--var needs --template")
        return args.prompt, None
    if args.prompt is not None:
        raise BadInput("give --prompt or --template, not both")
    from blog_images_tui.templates import find_template

    template = find_template(config.templates, args.template, sources=config.searched)
    return template.render(values), template.used(values)
