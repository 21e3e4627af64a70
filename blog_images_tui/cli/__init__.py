"""The ``blog-images`` command: argument parsing, output and exit codes.

A thin face over the core. With no subcommand it starts the TUI. Errors are
printed as one line, ``error: ...``, with the exit code documented in the
README (see :class:`blog_images_tui.errors.ExitCode`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from blog_images_tui import __version__
from blog_images_tui.cli.common import (
    Parser,
    UsageError,
    add_common_options,
    print_json,
    report_error,
    stdout_reader_left,
)
from blog_images_tui.errors import BlogImagesError, ExitCode
from blog_images_tui.secrets import redact

#: (subcommand, module) in the order ``--help`` lists them.
COMMANDS = [
    ("generate", "blog_images_tui.cli.generate"),
    ("edit", "blog_images_tui.cli.edit"),
    ("import", "blog_images_tui.cli.importing"),
    ("delete", "blog_images_tui.cli.delete"),
    ("ls", "blog_images_tui.cli.listing"),
    ("show", "blog_images_tui.cli.show"),
    ("recover", "blog_images_tui.cli.recover"),
    ("doctor", "blog_images_tui.cli.doctor"),
    ("models", "blog_images_tui.cli.models"),
    ("batch", "blog_images_tui.cli.batch"),
    ("templates", "blog_images_tui.cli.templates"),
    ("stats", "blog_images_tui.cli.stats"),
    ("publish", "blog_images_tui.cli.publish"),
    ("alt", "blog_images_tui.cli.alt"),
    ("serve", "blog_images_tui.cli.serve"),
    ("tui", "blog_images_tui.cli.tui"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="blog-images",
        description="Generate images with OpenAI's Images API into content/posts/{post}/sections/{section}/raw/ "
                    "on local disk or S3. Without a subcommand, opens the terminal app.",
        epilog="Exit codes: 0 ok, 1 internal error, 2 bad input, 3 auth/config, 4 rejected by the API, "
               "5 temporary failure, 6 store unusable, 7 generated but not stored (kept for recovery), "
               "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"blog-images {__version__}")
    add_common_options(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for _name, module_name in COMMANDS:
        import_module(module_name).register(subparsers, add_common_options)
    return parser


def _misplaced_option(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """A long option before the command that only commands take (`blog-images --api-key K generate`)."""
    commands = next(action.choices for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    command_options = {name for command in commands.values() for name in command._option_string_actions}
    for token in argv:
        if token in commands:
            return None
        name = token.split("=", 1)[0]
        if name not in parser._option_string_actions and name in command_options:
            return name
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    verbose = 0
    logging_configured = False
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except UsageError:
            misplaced = _misplaced_option(parser, argv)
            if misplaced is None:
                raise
            # argparse took the option's value for the command ("invalid choice: '[REDACTED]'"): say what happened
            raise UsageError(f"{misplaced} is an option of a command: put it after the command "
                             f"(blog-images COMMAND {misplaced} ...; see blog-images COMMAND --help)") from None
        verbose = getattr(args, "verbose", 0) or 0
        # Always for a command (warnings without -v are one redacted line); not for the app (it owns the screen).
        if verbose or getattr(args, "log_file", None) or args.command not in (None, "tui"):
            from blog_images_tui.logs import configure_logging

            configure_logging(verbose, getattr(args, "log_file", None))
            logging_configured = True
        if args.command is None:
            from blog_images_tui.cli.tui import run as run_tui

            return run_tui(args)
        return import_module(dict(COMMANDS)[args.command]).run(args)
    except BlogImagesError as error:
        return report_error(error, as_json=as_json)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # `blog-images ls | head`: the reader left; not an error worth a traceback.
        stdout_reader_left()
        return int(ExitCode.OK)
    except Exception as error:  # an internal error: one line, traceback only with -v
        import traceback

        if verbose:
            print(redact("".join(traceback.format_exception(error))), file=sys.stderr, end="")
        print(f"error: internal error: {type(error).__name__}: {redact(str(error))[:300]} "
              f"(run with -v for details)", file=sys.stderr)
        if as_json:
            print_json({"ok": False, "error": {"type": type(error).__name__, "code": "internal",
                                               "message": redact(str(error))[:300], "hint": None,
                                               "exit_code": int(ExitCode.INTERNAL)}})
        return int(ExitCode.INTERNAL)
    finally:
        if logging_configured:  # main() may run in-process (tests, other programs): leave no handlers
            from blog_images_tui.logs import reset_logging

            reset_logging()


if __name__ == "__main__":
    raise SystemExit(main())
