"""The two dependencies every route takes: who may in (the token), and the store.

Auth is one rule: ``Authorization: Bearer TOKEN`` compared in constant time.
Image bytes (``/file``, ``/thumb``) also accept the session cookie that
``POST /api/v1/session`` sets with that header (HttpOnly, SameSite=Strict), so
the page can use plain ``<img>`` elements; the cookie carries a value derived
from the token, never the token. A token in a query string is never read.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from blog_images_tui.storage import Store
from blog_images_tui.thumbnails import ThumbnailCache
from blog_images_tui.web.errors import Unauthorized
from blog_images_tui.web.hub import JobHub
from blog_images_tui.web.settings import ServeSettings

SESSION_COOKIE = "blog_images_session"
COOKIE_PATH = "/api/v1/"


@dataclass
class ServerState:
    """What the app holds while it runs (on ``app.state.server``)."""

    settings: ServeSettings
    store: Store | None = None
    hub: JobHub | None = None
    thumbnails: ThumbnailCache | None = None
    defaults: Any = None
    templates: Any = None

    def session_value(self) -> str:
        return hmac.new(self.settings.token.encode(), b"blog-images session cookie", hashlib.sha256).hexdigest()


def server_state(request: Request) -> ServerState:
    return request.app.state.server


def bearer_ok(request: Request) -> bool:
    state: ServerState = request.app.state.server
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), state.settings.token.encode())


def cookie_ok(request: Request) -> bool:
    state: ServerState = request.app.state.server
    given = request.cookies.get(SESSION_COOKIE)
    return given is not None and hmac.compare_digest(given.encode(), state.session_value().encode())


def require_token(request: Request) -> None:
    """The one auth check of the API (the Bearer header)."""
    if not bearer_ok(request):
        raise Unauthorized("missing or wrong token", hint="send Authorization: Bearer TOKEN")


def require_token_or_cookie(request: Request) -> None:
    """For image bytes only: the header, or the page's session cookie."""
    if not (bearer_ok(request) or cookie_ok(request)):
        raise Unauthorized("missing or wrong token", hint="send Authorization: Bearer TOKEN")


StateDep = Annotated[ServerState, Depends(server_state)]


def get_store(state: StateDep) -> Store:
    assert state.store is not None, "the store is opened at start-up"
    return state.store


def get_hub(state: StateDep) -> JobHub:
    assert state.hub is not None, "the hub starts with the server"
    return state.hub


#: what a route declares to get the store / the job hub
StoreDep = Annotated[Store, Depends(get_store)]
HubDep = Annotated[JobHub, Depends(get_hub)]
