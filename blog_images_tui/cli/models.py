"""``blog-images models``: the model table: sizes, qualities, formats and status, one line a model.

The table fits 80 columns whether or not the output is a terminal (fixed size
sets are named by letter in a legend under it); ``--json`` keeps every detail.
"""

from __future__ import annotations

import argparse
import textwrap
from datetime import date
from typing import TYPE_CHECKING, Any

from blog_images_tui.cli.common import AddCommon, Subparsers

if TYPE_CHECKING:
    from blog_images_tui.models import ModelSpec

HELP = "list known image models and what each accepts"
#: the whole table, legend included, stays within this many columns
WIDTH = 80
#: quality values in their order, to show a model's as a range ("auto-high")
QUALITY_ORDER = ("auto", "low", "medium", "high", "xhigh", "max")


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser("models", help=HELP, description=HELP + ".")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts (every detail)")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from blog_images_tui.cli.common import print_json
    from blog_images_tui.models import DEFAULT_MODEL, MODELS

    rows: list[dict[str, Any]] = [{"model": spec.name, "default": spec.name == DEFAULT_MODEL, "sizes": spec.size_help(),
             "qualities": list(spec.qualities), "formats": list(spec.output_formats), "styles": list(spec.styles),
             "prompt_limit": spec.prompt_limit,
             "retired_on": spec.retired_on.isoformat() if spec.retired_on else None}
            for spec in MODELS.values()]
    if args.json:
        print_json({"models": rows})
        return 0
    print("\n".join(models_table(list(MODELS.values()), DEFAULT_MODEL, date.today())))
    return 0


def models_table(specs: list[ModelSpec], default: str, today: date) -> list[str]:
    """The lines of the table, legend and retirement notes; none longer than :data:`WIDTH`."""
    size_sets: dict[tuple[str, ...], str] = {}
    cells = []
    for spec in specs:
        if spec.sizes is None:
            sizes = "any"
        else:
            sizes = size_sets.setdefault(tuple(spec.sizes), chr(ord("A") + len(size_sets)))
        cells.append((spec.name, _status(spec, default, today), sizes, _qualities(spec.qualities),
                      " ".join("jpg" if f == "jpeg" else f for f in spec.output_formats)))
    header = ("MODEL", "STATUS", "SIZES", "QUALITY", "FORMATS")
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    room = WIDTH - sum(widths[1:]) - 2 * (len(header) - 1)
    widths[0] = min(widths[0], room)
    lines = ["  ".join(_fit(value, width) for value, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, *cells]]
    free = next((spec for spec in specs if spec.sizes is None), None)
    notes = [f"sizes any: {free.size_help()}"] if free is not None else []
    notes += [f"sizes {letter}: {', '.join(sizes)}" for sizes, letter in size_sets.items()]
    notes.append("quality ranges run " + ", ".join(QUALITY_ORDER))
    for spec in specs:
        if spec.retired_on is not None:
            verb = "retired" if spec.retired_on <= today else "retires"
            instead = f": use {spec.replacement}" if spec.replacement else ""
            notes.append(f"{spec.name} {verb} {spec.retired_on.isoformat()}{instead}")
    notes.append("All details (prompt limits, styles, size rules): blog-images models --json")
    lines.append("")
    for note in notes:
        lines.extend(textwrap.wrap(note, WIDTH, subsequent_indent="  ", break_on_hyphens=False))
    return lines


def _status(spec: ModelSpec, default: str, today: date) -> str:
    if spec.retired_on is not None:
        return "retired" if spec.retired_on <= today else "retiring"
    return "default" if spec.name == default else ""


def _qualities(qualities: tuple[str, ...]) -> str:
    """``auto-high`` for a run of the usual order, else the values themselves."""
    known = [q for q in QUALITY_ORDER if q in qualities]
    if len(known) == len(qualities) >= 3:
        start, end = QUALITY_ORDER.index(known[0]), QUALITY_ORDER.index(known[-1])
        if list(QUALITY_ORDER[start:end + 1]) == known:
            return f"{known[0]}-{known[-1]}"
    return " ".join(qualities) or "-"


def _fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[:width - 1] + "~"
