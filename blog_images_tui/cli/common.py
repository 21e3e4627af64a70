"""What the CLI's commands share, defined once: store options, opening a store from
the arguments, JSON printing, warnings, error reporting and the generation flags.

Standard library only at import time, so ``blog-images --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from blog_images_tui.errors import BadInput, BlogImagesError
from blog_images_tui.secrets import redact

if TYPE_CHECKING:
    from blog_images_tui.generation import ClientSettings, ImageRequest
    from blog_images_tui.storage import Store, StoredImage
    from blog_images_tui.webplan import PublishSettings

#: What each command's ``register(subparsers, add_common)`` is given: the
#: subcommand group of the main parser, and :func:`add_common_options`.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
AddCommon: TypeAlias = Callable[[argparse.ArgumentParser], None]


class UsageError(BadInput):
    pass


class Parser(argparse.ArgumentParser):
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


def add_image_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, endpoint: str = "generate") -> None:
    """The image's own options (model, size, quality, format, background, variants, compression).

    ``endpoint`` is the Images API endpoint the command calls: ``generate`` adds
    --style and --moderation, ``edit`` adds --input-fidelity (images.edit takes
    no moderation and no style).
    """
    parser.add_argument("--model", help="image model (default: config, else gpt-image-2; "
                        "see `blog-images models`)")
    parser.add_argument("--size", help="WIDTHxHEIGHT or auto (default: 1792x1024 where the model takes it)")
    parser.add_argument("--quality", help="auto, low, medium, high (model dependent)")
    if endpoint == "generate":
        parser.add_argument("--style", help="vivid or natural (dall-e-3 only; GPT image models reject it)")
    parser.add_argument("--format", dest="output_format", choices=("png", "jpeg", "webp"),
                        help="image format (default: config, else png)")
    parser.add_argument("--background", choices=("auto", "opaque", "transparent"),
                        help="background (GPT image models; transparent needs png or webp)")
    parser.add_argument("--n", type=int, metavar="K", default=None,
                        help="variants from one request, 1-10 (per model), stored as NAME-1 ... NAME-K "
                             "(default: 1)")
    parser.add_argument("--compression", type=int, metavar="0-100", default=None,
                        help="output compression in percent (jpeg and webp only; the API's default is 100)")
    if endpoint == "generate":
        parser.add_argument("--moderation", choices=("auto", "low"),
                            help="content moderation level (generations only; the API's default is auto)")
    else:
        parser.add_argument("--input-fidelity", choices=("high", "low"),
                            help="how closely to keep the input images' features (per model: gpt-image-1.5 "
                                 "high or low, gpt-image-1-mini low; gpt-image-2 rejects it)")


def add_api_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """How to reach the API: key, base URL, timeout and retries."""
    parser.add_argument("--api-key", help="OpenAI API key (prefer OPENAI_AUTH_TOKEN: a flag is visible in `ps`)")
    parser.add_argument("--base-url", help="API base URL for OpenAI-compatible servers (default: $OPENAI_BASE_URL)")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="per-request timeout (default: 300)")
    parser.add_argument("--max-retries", type=int, default=2, metavar="N",
                        help="retries on 429/5xx/network errors, honouring Retry-After up to 120 s (default: 2)")


def add_generation_options(parser: argparse.ArgumentParser) -> None:
    """Model and API options shared by every command that sends a request."""
    add_image_options(parser)
    add_api_options(parser)


def add_publish_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *,
                        quality_flag: str = "--quality") -> None:
    """How to publish web derivatives (``publish``, ``batch --publish``); unset flags come from ``[publish]``."""
    parser.add_argument("--widths", metavar="W,W,...",
                        help="widths in pixels, never above the source's (default: config, else 480,960,1600)")
    parser.add_argument("--formats", metavar="F,F,...",
                        help="avif, webp, jpeg, png; the last is the <img> fallback (default: config, else avif,webp)")
    parser.add_argument("--fallback", choices=("jpeg", "png", "webp", "avif"),
                        help="the <img> format, if not the last of --formats (a transparent image gets png)")
    parser.add_argument(quality_flag, metavar="FORMAT=Q", action="append", default=[], dest="publish_quality",
                        help="encoder quality 1-100, repeatable (default: avif=60 webp=80 jpeg=82)")
    parser.add_argument("--sizes", help="the sizes attribute (default: '(max-width: Wpx) 100vw, Wpx', W the widest)")
    parser.add_argument("--workers", type=int, metavar="N", help="encoders at once (default: the CPU cores)")


def publish_settings_from_args(args: argparse.Namespace, store: Store) -> PublishSettings:
    """Publish settings: the flags over the config files' ``[publish]`` tables, checked."""
    from blog_images_tui import webplan

    if args.workers is not None and not 1 <= args.workers <= 64:
        raise BadInput("--workers must be between 1 and 64")
    return webplan.resolve_settings(
        store, widths=webplan.parse_widths(args.widths) if args.widths else None,
        formats=webplan.parse_formats(args.formats) if args.formats else None, fallback=args.fallback,
        quality=dict(webplan.parse_quality(args.publish_quality)), sizes=args.sizes)


def parse_image_name(text: str) -> str:
    """An image's stem from NAME as typed, with or without its extension (``hero`` or ``hero.png``)."""
    from blog_images_tui.ids import parse_filename
    from blog_images_tui.layout import EXTENSION_FORMATS

    stem, dot, ext = text.rpartition(".")
    return parse_filename(stem if dot and ext.lower() in EXTENSION_FORMATS else text)


def store_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in getattr(args, "store_option", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadInput(f"invalid --store-option {item!r}: use KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


def open_store_from_args(args: argparse.Namespace) -> Store:
    """The store the --store and --store-option arguments name (default: $BLOG_IMAGES_STORE or ./static)."""
    from blog_images_tui.storage import open_store

    return open_store(getattr(args, "store", None), **store_options(args))


def print_json(value: Any) -> None:
    """Write one JSON line to stdout; if the reader has left (`| head`), drop this and later output."""
    try:
        sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        stdout_reader_left()


def stdout_reader_left() -> None:
    """The reader of stdout is gone: send the rest to /dev/null, so no later write (a batch's next
    result, the interpreter's flush at exit) raises or prints a traceback; the work itself goes on."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def warn(message: str) -> None:
    print(f"warning: {redact(message)}", file=sys.stderr)


def report_error(error: BlogImagesError, *, as_json: bool) -> int:
    """Print one error line (or a JSON object) and return its exit code."""
    text = redact(str(error))
    if as_json:
        from blog_images_tui.errors import error_object

        print_json({"ok": False, "error": error_object(error)})
    print(f"error: {text}", file=sys.stderr)
    return int(error.exit_code)


def stored_images_json(stored: list) -> dict[str, Any]:
    """``{"ok": true, "images": [...]}``; with one image its fields also stay at the top level."""
    images = [{"image_path": item.image_path, "metadata_path": item.metadata_path, "metadata": item.metadata}
              for item in stored]
    body: dict[str, Any] = {"ok": True}
    if len(images) == 1:
        body.update(images[0])
    body["images"] = images
    return body


def report_stored(stored: list, *, as_json: bool) -> None:
    """Print what a generation or an edit stored, warning about a partial answer."""
    first = stored[0].metadata
    requested, received = first.get("requested"), first.get("received")
    if requested and received is not None and received < requested:
        warn(f"asked for {requested} images, the API returned {received}: stored {received}")
    if as_json:
        print_json(stored_images_json(stored))
        return
    for item in stored:
        print(f"image:    {item.image_path}")
        print(f"metadata: {item.metadata_path}")
        revised = item.metadata.get("revised_prompt")
        if revised:
            print(f"revised prompt: {revised}")


def run_request(request: ImageRequest, store: Store, settings: ClientSettings) -> list[StoredImage]:
    """Send one validated generation or edit request and store every image it returns."""

    from blog_images_tui.generation import ImageGenerator
    from blog_images_tui.service import StoredThenCancelled, create_and_record, run_interruptible

    async def go():
        async with ImageGenerator(settings) as generator:
            try:
                return await create_and_record(request, store, generator)
            except StoredThenCancelled as landed:
                # Ctrl-C came while the paid-for images were being written: they landed whole. Say where,
                # or "interrupted" alone reads as "nothing stored" and a re-run hits "already exists".
                paths = ", ".join(item.image_path for item in landed.all_stored)
                print(f"interrupted after storing the image: {paths}", file=sys.stderr)
                raise

    return run_interruptible(go)  # SIGINT, SIGTERM, SIGHUP alike: a paid image is stored or kept


def send_and_report(request: ImageRequest, store: Store, args: argparse.Namespace) -> int:
    """The tail of generate and edit: warn about the request, send it with the API options, print what it stored."""
    for message in request.warnings:
        warn(message)
    report_stored(run_request(request, store, settings_from_args(args)), as_json=args.json)
    return 0


def settings_from_args(args: argparse.Namespace) -> ClientSettings:
    """Client settings from the API options, checked before anything is sent."""
    from blog_images_tui.api import client_settings

    if args.timeout <= 0:
        raise BadInput("--timeout must be positive")
    if not 0 <= args.max_retries <= 10:
        raise BadInput("--max-retries must be between 0 and 10")
    if args.api_key:
        warn("--api-key is visible to other users in `ps` and shell history; prefer OPENAI_AUTH_TOKEN")
    return client_settings(args.api_key, args.base_url, timeout_s=args.timeout, max_retries=args.max_retries)


def format_table(headers: list[str], rows: list[list[str]], *, right: tuple[str, ...] = ()) -> list[str]:
    """Plain aligned columns (no truncation, no trailing spaces): fine in a terminal, a pipe or a log."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(cell).rjust(width) if header in right else str(cell).ljust(width)
                         for header, cell, width in zip(headers, cells, widths, strict=True)).rstrip()

    return [line(headers)] + [line(row) for row in rows]


def name_config_defaults(error: BadInput, given: Any, config: Any) -> BadInput:
    """``error`` with a hint naming the config file of a value it names that the user did not type.

    ``quality 'low' is not available for dall-e-3`` puzzles whoever never typed
    ``--quality low``: it came from a ``[defaults]`` table. ``given`` holds the
    command line's values (None where not given), ``config`` the loaded files.
    """
    from dataclasses import fields

    message = str(error)
    from_files = [f"{item.name} = {value!r}" for item in fields(config.defaults)
                  if (value := getattr(config.defaults, item.name)) is not None
                  and getattr(given, item.name, None) is None and repr(value) in message]
    if from_files and config.sources:
        said = f"{', '.join(from_files)} is from [defaults] in {', '.join(config.sources)}"
        error.hint = f"{error.hint}; {said}" if error.hint else said
    return error
