"""``blog-images templates [NAME [--var K=V ...]]``: list prompt templates, or fill one in."""

from __future__ import annotations

import argparse

from blog_images_tui.cli.common import AddCommon, Subparsers

HELP = "list prompt templates (from blog-images.toml and the user config), or show one filled in"


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser(
        "templates", help=HELP, description=HELP + ".",
        epilog="Files, later ones winning: $XDG_CONFIG_HOME/blog-images/config.toml, the store's project "
               "blog-images.toml (beside a local store's folder, or at the root of an S3 store), and "
               "./blog-images.toml. Each defines [templates.NAME] tables with prompt, description and vars.")
    parser.add_argument("name", nargs="?", help="show this template; with --var, print the filled-in prompt")
    parser.add_argument("--var", action="append", metavar="NAME=VALUE", default=[],
                        help="a variable for NAME, repeatable")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from blog_images_tui.cli.common import open_store_from_args, print_json
    from blog_images_tui.config import load_config
    from blog_images_tui.errors import BadInput
    from blog_images_tui.templates import find_template, parse_vars

    values = parse_vars(args.var)
    config = load_config(open_store_from_args(args))
    if args.name is None:
        if values:
            raise BadInput("--var needs a template NAME")
        if args.json:
            print_json({"templates": [t.to_json() for t in sorted(config.templates.values(), key=lambda t: t.name)],
                        "files": list(config.sources), "searched": list(config.searched)})
            return 0
        if not config.templates:
            print("no templates. Define [templates.NAME] tables in one of:")
            for place in config.searched:
                print(f"  {place}")
            return 0
        for template in sorted(config.templates.values(), key=lambda t: t.name):
            variables = ", ".join(f"{name}={template.defaults[name]!r}" if name in template.defaults else name
                                  for name in template.variables)
            print(f"{template.name}" + (f"  - {template.description}" if template.description else ""))
            print(f"  prompt: {template.text}")
            print(f"  vars:   {variables or '(none)'}")
            print(f"  from:   {template.source}")
        return 0
    template = find_template(config.templates, args.name, sources=config.searched)
    if values or not template.variables or all(name in template.defaults for name in template.variables):
        prompt = template.render(values)
        if args.json:
            print_json({**template.to_json(), "vars_given": values, "rendered": prompt})
        else:
            print(prompt)
        return 0
    if args.json:
        print_json(template.to_json())
    else:
        print(f"{template.name}" + (f"  - {template.description}" if template.description else ""))
        print(f"  prompt: {template.text}")
        print(f"  vars:   {', '.join(template.variables)}")
        print(f"  from:   {template.source}")
    return 0
