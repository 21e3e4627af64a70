"""The ASGI app: :func:`create_app` builds it from :class:`ServeSettings`, for the CLI and the tests alike.

Around the routes, one plain ASGI layer (:class:`Guard`) does what must hold
for every request, streams included: the Host header names this server (DNS
rebinding), bodies over the limit are refused with 413 before they are read,
and every answer carries headers that keep the page to itself (CSP with no
outside origin, no framing, no referrer, no sniffing). There is no CORS: a
browser on another origin gets no answer it can read. FastAPI's own docs
pages are off (they load a CDN); the schema is at ``/api/v1/openapi.json``,
behind the token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from blog_images_tui import __version__
from blog_images_tui.errors import BlogImagesError, error_object
from blog_images_tui.jobs import JobEngine, JobEvent
from blog_images_tui.web import errors
from blog_images_tui.web.deps import ServerState, bearer_ok
from blog_images_tui.web.errors import HostRefused, TooLarge
from blog_images_tui.web.hub import JobHub
from blog_images_tui.web.routes import jobs, meta, page, publish, stats, store
from blog_images_tui.web.settings import ServeSettings

log = logging.getLogger("blog_images.web")

SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; "
                                 b"img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; "
                                 b"form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def _error_bytes(error: BlogImagesError) -> bytes:
    return json.dumps({"ok": False, "error": error_object(error)}).encode()


class Guard:
    """Host check, body limit and security headers, for every HTTP request."""

    def __init__(self, app: ASGIApp, settings: ServeSettings) -> None:
        self.app = app
        self.hosts = settings.host_names()
        self.max_body = settings.max_body_bytes
        self.max_upload = settings.max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if _host_name(host) not in self.hosts:
            return await _reply(send, 400, _error_bytes(HostRefused(
                "this server does not answer to that host name", hint="open it by the address it printed")))
        limit = self.max_upload if _is_upload(scope) else self.max_body
        too_large = TooLarge(f"the request body is over the {limit // 1024} KiB limit")
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _reply(send, 413, _error_bytes(too_large))

        if declared is None and scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
            # A chunked body has no length to check up front: read it here, up to the limit.
            body = await _read_limited(receive, limit)
            if body is None:
                return await _reply(send, 413, _error_bytes(too_large))
            receive = _replay(body, receive)
        started = False

        async def secured_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        try:
            await self.app(scope, receive, secured_send)
        except Exception as error:
            # Never a traceback to the client: one line, the details in the server's log.
            log.error("internal error answering %s %s", scope.get("method"), scope.get("path"),
                      exc_info=(type(error), error, error.__traceback__))
            if not started:
                internal = BlogImagesError(f"internal error: {type(error).__name__}", hint="see the server's log")
                await _reply(send, 500, _error_bytes(internal))


#: POST .../images: an upload, the one body allowed to be an image
_UPLOAD_PATH = re.compile(r"/api/v1/posts/[^/]+/sections/[^/]+/images")


def _is_upload(scope: Scope) -> bool:
    return scope.get("method") == "POST" and bool(_UPLOAD_PATH.fullmatch(scope.get("path", "")))


async def _read_limited(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then the client's disconnect, as usual

    return replayed


def _host_name(host: str) -> str:
    if host.startswith("["):  # [::1]:8765
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _reply(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: ServeSettings) -> FastAPI:
    """The server's app. The store is opened, the config read and the job engine started at start-up."""
    state = ServerState(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(_open, state)
        hub.start()
        try:
            yield
        finally:
            await hub.aclose()

    app = FastAPI(title="blog-images", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, description="Generate and browse a blog's images. Every /api route needs "
                  "`Authorization: Bearer TOKEN`; errors are `{ok: false, error: {type, code, message, hint, "
                  "exit_code}}`.")
    app.state.server = state
    state.hub = hub = JobHub(lambda on_event: _engine(state, on_event))
    errors.install(app, bearer_ok)
    for module in (store, publish, jobs, meta, stats, page):
        app.include_router(module.router)
    app.add_middleware(Guard, settings=settings)
    return app


def _open(state: ServerState) -> None:
    from blog_images_tui.config import load_config
    from blog_images_tui.storage import open_store
    from blog_images_tui.thumbnails import ThumbnailCache

    settings = state.settings
    state.store = open_store(settings.store_url, **settings.store_options)
    config = load_config(state.store)
    state.defaults, state.templates = config.defaults, config.templates
    state.thumbnails = ThumbnailCache(settings.thumbnail_dir)


def _engine(state: ServerState, on_event: Callable[[JobEvent], None]) -> JobEngine:
    assert state.store is not None
    return JobEngine(state.store, state.settings.client, concurrency=state.settings.concurrency,
                     rpm=state.settings.rpm, on_event=on_event)
