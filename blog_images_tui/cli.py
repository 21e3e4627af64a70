"""The ``blog-images`` command: argument parsing, output and exit codes.

A thin face over the core. With no subcommand it starts the TUI. Errors are
printed as one line, ``error: ...``, with the exit code documented in the
README (see :class:`blog_images_tui.errors.ExitCode`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import import_module
from typing import Any, Sequence

from blog_images_tui import __version__
from blog_images_tui.commands import COMMANDS
from blog_images_tui.errors import BadInput, BlogImagesError, ExitCode
from blog_images_tui.secrets import redact


class UsageError(BadInput):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options every subcommand takes; SUPPRESS so a subcommand never resets the main parser's value."""
    group = parser.add_argument_group("common options")
    group.add_argument("--store", metavar="URL", default=argparse.SUPPRESS,
                       help="where images live: a local path or fsspec URL like s3://bucket/prefix "
                            "(default: $BLOG_IMAGES_STORE or ./static)")
    group.add_argument("--store-option", metavar="KEY=VALUE", action="append", default=argparse.SUPPRESS,
                       help="backend option, repeatable (s3: endpoint_url, profile, region, cache_control, "
                            "public_base_url)")
    group.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                       help="log progress to stderr (-vv: also the SDK's HTTP logs); the key is always redacted")
    group.add_argument("--log-file", metavar="PATH", default=argparse.SUPPRESS,
                       help="write a debug log to PATH (key redacted)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="blog-images",
        description="Generate images with OpenAI's Images API into content/posts/{post}/sections/{section}/raw/ "
                    "on local disk or S3. Without a subcommand, opens the terminal app.",
        epilog="Exit codes: 0 ok, 1 internal error, 2 bad input, 3 auth/config, 4 rejected by the API, "
               "5 temporary failure, 6 store unusable, 7 generated but not stored (kept for recovery), "
               "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"blog-images {__version__}")
    add_common_options(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for _name, module_name in COMMANDS:
        import_module(module_name).register(subparsers, add_common_options)
    return parser


def store_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in getattr(args, "store_option", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadInput(f"invalid --store-option {item!r}: use KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


def open_store_from_args(args: argparse.Namespace):
    from blog_images_tui.storage import open_store

    return open_store(getattr(args, "store", None), **store_options(args))


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    print(f"warning: {redact(message)}", file=sys.stderr)


def report_error(error: BlogImagesError, *, as_json: bool) -> int:
    """Print one error line (or a JSON object) and return its exit code."""
    text = redact(str(error))
    if as_json:
        body: dict[str, Any] = {"ok": False, "error": {"type": type(error).__name__, "message": redact(error.message),
                                                        "hint": redact(error.hint or "") or None,
                                                        "exit_code": int(error.exit_code)}}
        recovery = getattr(error, "recovery_path", None)
        if recovery:
            body["error"]["recovery_path"] = recovery
        print_json(body)
    print(f"error: {text}", file=sys.stderr)
    return int(error.exit_code)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    verbose = 0
    logging_configured = False
    try:
        args = build_parser().parse_args(argv)
        verbose = getattr(args, "verbose", 0) or 0
        if verbose or getattr(args, "log_file", None):
            from blog_images_tui.logs import configure_logging

            configure_logging(verbose, getattr(args, "log_file", None))
            logging_configured = True
        if args.command is None:
            from blog_images_tui.commands.tui import run as run_tui

            return run_tui(args)
        return import_module(dict(COMMANDS)[args.command]).run(args)
    except BlogImagesError as error:
        return report_error(error, as_json=as_json)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # `blog-images ls | head`: the reader left; not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.OK)
    except Exception as error:  # an internal error: one line, traceback only with -v
        import traceback

        if verbose:
            print(redact("".join(traceback.format_exception(error))), file=sys.stderr, end="")
        print(f"error: internal error: {type(error).__name__}: {redact(str(error))[:300]} "
              f"(run with -v for details)", file=sys.stderr)
        if as_json:
            print_json({"ok": False, "error": {"type": type(error).__name__, "message": redact(str(error))[:300],
                                               "exit_code": int(ExitCode.INTERNAL)}})
        return int(ExitCode.INTERNAL)
    finally:
        if logging_configured:  # main() may run in-process (tests, other programs): leave no handlers
            from blog_images_tui.logs import reset_logging

            reset_logging()


if __name__ == "__main__":
    raise SystemExit(main())
