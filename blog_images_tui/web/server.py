"""Running the app under uvicorn, and stopping it in time.

uvicorn's graceful shutdown waits for every open response to end, and an
event stream never ends by itself: :class:`WebServer` tells the job hub to
close its streams the moment a stop is asked (SIGINT, SIGTERM or
:meth:`WebServer.stop`), with uvicorn's own graceful timeout as a backstop,
so the server stops within seconds. The lifespan then cancels what is queued;
an image being written still lands or is kept for recovery.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from collections.abc import Callable, Mapping
from types import FrameType
from typing import TextIO

import uvicorn
from fastapi import FastAPI

from blog_images_tui.web.app import create_app
from blog_images_tui.web.deps import ServerState
from blog_images_tui.web.settings import ServeSettings

GRACEFUL_TIMEOUT_S = 5


class WebServer(uvicorn.Server):
    """uvicorn's server, which ends event streams when asked to stop and tells where it listens."""

    def __init__(self, config: uvicorn.Config, *, on_ready: Callable[[str, int], None] | None = None) -> None:
        super().__init__(config)
        self.on_ready = on_ready
        self.bound: tuple[str, int] | None = None
        #: the signals that stopped it
        self.stopped_by: list[int] = []

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:  # called by uvicorn's signal handlers
        self._close_streams()
        super().handle_exit(sig, frame)

    def stop(self) -> None:
        """Ask the server to stop (from any thread), as SIGTERM would."""
        self._close_streams()
        self.should_exit = True

    @property
    def state(self) -> ServerState:
        """The app's :class:`~blog_images_tui.web.deps.ServerState` (store, hub, settings)."""
        app = self.config.app
        assert isinstance(app, FastAPI)
        return app.state.server

    def _close_streams(self) -> None:
        if self.state.hub is not None:
            self.state.hub.close_streams()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets=sockets)
        # uvicorn raises the caught signal again once stopped (the process then dies of
        # SIGTERM, or Ctrl-C becomes a KeyboardInterrupt): a stop asked for is a clean exit here.
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            self.stopped_by = list(captured)
            captured.clear()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.servers:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self.bound = (host, port)
            if self.on_ready is not None:
                self.on_ready(host, port)


def build_server(settings: ServeSettings, *, on_ready: Callable[[str, int], None] | None = None,
                 verbose: int = 0) -> WebServer:
    config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port, lifespan="on",
                            log_level="info" if verbose else "warning", access_log=verbose > 0,
                            timeout_graceful_shutdown=GRACEFUL_TIMEOUT_S, server_header=False,
                            proxy_headers=False, ws="none", http="h11")
    return WebServer(config, on_ready=on_ready)


def page_url(host: str, port: int, token: str | None = None) -> str:
    shown = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/" + (f"#token={token}" if token else "")


def ssh_tunnel_line(port: int, environ: Mapping[str, str] | None = None) -> str | None:
    """The ``ssh -L`` command that reaches this server from the machine the user came from over SSH."""
    source: Mapping[str, str] = os.environ if environ is None else environ
    parts = (source.get("SSH_CONNECTION") or "").split()
    if len(parts) != 4:
        return None
    server_address = parts[2]
    user = source.get("USER") or source.get("LOGNAME")
    target = f"{user}@{server_address}" if user else server_address
    return f"ssh -N -L {port}:127.0.0.1:{port} {shlex.quote(target)}"


def announce(settings: ServeSettings, host: str, port: int, *, token_generated: bool, as_json: bool = False,
             stream: TextIO | None = None) -> None:
    """Tell the user where the page is (and the token, in the fragment: never sent to the server)."""
    stream = stream or sys.stdout
    tunnel = ssh_tunnel_line(port)
    if as_json:
        import json

        shown = settings.token if token_generated else None
        print(json.dumps({"ok": True, "url": page_url(host, port), "page_url": page_url(host, port, shown),
                          "token": shown, "ssh": tunnel, "store": settings.store_url}), file=stream)
        stream.flush()
        return
    print(f"blog-images serving {settings.store_url or 'the default store'} on {page_url(host, port)}", file=stream)
    if token_generated:
        print(f"open: {page_url(host, port, settings.token)}", file=stream)
    else:
        print(f"open: {page_url(host, port)}#token=<your token>", file=stream)
    if tunnel:
        print(f"over SSH, on your own machine run: {tunnel}", file=stream)
        print(f"then open: {page_url('127.0.0.1', port, settings.token if token_generated else None)}",
              file=stream)
    print("stop with Ctrl-C", file=stream)
    stream.flush()
