"""``blog-images tui`` (also ``blog-images`` with no subcommand): the terminal app."""

from __future__ import annotations

import argparse

from blog_images_tui.cli.common import AddCommon, Subparsers

HELP = "open the terminal app (the default without a subcommand)"
PREVIEW_CHOICES = ("auto", "halfcell", "unicode", "text")
MAX_CONCURRENCY = 8


def register(subparsers: Subparsers, add_common: AddCommon) -> None:
    parser = subparsers.add_parser("tui", help=HELP, description=HELP + ". Keys are shown in the footer; "
                                   "ctrl+p opens the command palette (type a store URL there to switch store).")
    parser.add_argument("--jobs", dest="concurrency", type=int, default=2, metavar="N",
                        help=f"images generated at the same time (1-{MAX_CONCURRENCY}, default: 2)")
    parser.add_argument("--rpm", type=float, default=None, metavar="N",
                        help="at most N API requests per minute, shared by all jobs")
    parser.add_argument("--preview", choices=PREVIEW_CHOICES, default=None,
                        help="how to draw previews: auto (kitty/sixel if the terminal has them, else half-blocks), "
                             "halfcell, unicode or text (default: $BLOG_IMAGES_PREVIEW or auto)")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    import logging
    import sys

    from blog_images_tui.cli.common import store_options, warn
    from blog_images_tui.errors import BadInput

    concurrency = getattr(args, "concurrency", 2)
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise BadInput(f"--jobs must be between 1 and {MAX_CONCURRENCY}")
    rpm = getattr(args, "rpm", None)
    if rpm is not None and rpm <= 0:
        raise BadInput("--rpm must be positive")
    options = store_options(args)

    # Log lines on stderr would be drawn over the app: keep only file handlers while it runs.
    root = logging.getLogger()
    terminal_handlers = [h for h in root.handlers
                         if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
                         and getattr(h, "stream", None) in (sys.stderr, sys.stdout)]
    if terminal_handlers:
        warn("-v logs are not shown inside the app; use --log-file PATH to keep them")
    for handler in terminal_handlers:
        root.removeHandler(handler)
    try:
        # Importing the app asks the terminal what graphics it can draw: before Textual starts.
        from blog_images_tui.tui.app import make_app

        app = make_app(getattr(args, "store", None), store_options=options, concurrency=concurrency, rpm=rpm,
                       preview=getattr(args, "preview", None))
        app.run()
    finally:
        for handler in terminal_handlers:
            root.addHandler(handler)
    return int(app.return_code or 0)
