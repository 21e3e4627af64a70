"""``blog-images serve``: the web page and the REST API, behind a token.

FastAPI and uvicorn are imported only here, when the command runs, so
``blog-images --help`` stays fast. Everything that can be refused is refused
before the port is opened (exit 2): a bad port, --jobs or --rpm, a short
token, a non-loopback --host without an explicit token.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blog_images_tui.cli.common import add_api_options

if TYPE_CHECKING:  # stdlib only at import time: --help stays fast
    from blog_images_tui.web.settings import ServeSettings

HELP = "serve the web page and the REST API (token-protected, loopback by default)"


def register(subparsers: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    parser = subparsers.add_parser(
        "serve", help=HELP, description=HELP + ". Prints the URL to open, with the token in its fragment.",
        epilog="Exit codes: 0 stopped; 2 bad option (a non-loopback --host needs --token; a short token; "
               "the port taken); 6 store unusable at start.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1; anything else needs --token)")
    parser.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 picks a free one)")
    parser.add_argument("--token", help="the token clients must send (default: $BLOG_IMAGES_SERVE_TOKEN, else "
                                        "one is generated and printed); visible in `ps`: prefer the variable")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="another name the Host header may carry (a proxy's, a LAN name); repeatable")
    parser.add_argument("--jobs", type=int, metavar="N", help="images generated at once (default: config, else 2)")
    parser.add_argument("--rpm", type=float, metavar="R", help="at most R requests per minute (default: no limit)")
    parser.add_argument("--json", action="store_true",
                        help="print where it listens as one JSON line (url, page_url, token if generated, ssh)")
    add_api_options(parser.add_argument_group("API"))
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from blog_images_tui.cli.common import settings_from_args, store_options, warn
    from blog_images_tui.errors import BadInput
    from blog_images_tui.web.settings import MAX_JOBS, ServeSettings, resolve_token

    if not 0 <= args.port <= 65535:
        raise BadInput("--port must be between 0 and 65535")
    if args.jobs is not None and not 1 <= args.jobs <= MAX_JOBS:
        raise BadInput(f"--jobs must be between 1 and {MAX_JOBS}")
    if args.rpm is not None and args.rpm <= 0:
        raise BadInput("--rpm must be positive")
    if args.token:
        warn("--token is visible to other users in `ps`; prefer BLOG_IMAGES_SERVE_TOKEN")
    token, generated = resolve_token(args.token, args.host)
    from blog_images_tui.secrets import register_secret

    register_secret(token)  # redacted from logs like the API key
    client = settings_from_args(args)
    if client.api_key is None:
        warn("no OpenAI key (OPENAI_AUTH_TOKEN): the page opens for browsing, generating is refused")
    settings = ServeSettings(token=token, client=client, store_url=getattr(args, "store", None),
                             store_options=store_options(args), host=args.host, port=args.port,
                             concurrency=args.jobs or 2, rpm=args.rpm, allowed_hosts=tuple(args.allow_host))
    return serve(settings, token_generated=generated, verbose=getattr(args, "verbose", 0) or 0, as_json=args.json)


def serve(settings: ServeSettings, *, token_generated: bool, verbose: int = 0, as_json: bool = False) -> int:
    from blog_images_tui.storage import open_store
    from blog_images_tui.web.server import announce, build_server

    # Open the store once before the port: a bad URL or backend is exit 6, not a server that 500s.
    store = open_store(settings.store_url, **settings.store_options)
    if settings.store_url is None:  # say which store the default is ($BLOG_IMAGES_STORE or ./static), not "the default"
        from dataclasses import replace

        settings = replace(settings, store_url=store.url)
    server = build_server(settings, verbose=verbose,
                          on_ready=lambda host, port: announce(settings, host, port, token_generated=token_generated,
                                                               as_json=as_json))
    try:
        server.run()
    except SystemExit:  # uvicorn exits 1 when it cannot bind
        server.started = False
    if not server.started:
        from blog_images_tui.errors import BadInput

        raise BadInput(f"could not listen on {settings.host}:{settings.port}: the port is in use, or that is "
                       "not an address of this machine")
    return 0
