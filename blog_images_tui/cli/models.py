"""``blog-images models``: the model table: sizes, qualities, limits, retirements."""

from __future__ import annotations

import argparse

HELP = "list known image models and what each accepts"


def register(subparsers, add_common) -> None:
    parser = subparsers.add_parser("models", help=HELP, description=HELP + ".")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from blog_images_tui.cli.common import print_json
    from blog_images_tui.models import DEFAULT_MODEL, MODELS

    rows = [{"model": spec.name, "default": spec.name == DEFAULT_MODEL, "sizes": spec.size_help(),
             "qualities": list(spec.qualities), "formats": list(spec.output_formats), "styles": list(spec.styles),
             "prompt_limit": spec.prompt_limit,
             "retired_on": spec.retired_on.isoformat() if spec.retired_on else None}
            for spec in MODELS.values()]
    if args.json:
        print_json({"models": rows})
        return 0
    for row in rows:
        mark = " (default)" if row["default"] else ""
        retired = f"  RETIRED {row['retired_on']}" if row["retired_on"] else ""
        print(f"{row['model']}{mark}{retired}\n  sizes: {row['sizes']}\n  quality: {', '.join(row['qualities'])}"
              f"  formats: {', '.join(row['formats'])}  prompt ≤ {row['prompt_limit']} chars")
    return 0
