"""What the page needs to draw its forms and to show images: models, defaults, the server, the session cookie."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from blog_images_tui import __version__
from blog_images_tui.models import DEFAULT_MODEL, MODELS
from blog_images_tui.web.deps import COOKIE_PATH, SESSION_COOKIE, StateDep, require_token
from blog_images_tui.web.models import ModelList, ServerInfo

router = APIRouter(prefix="/api/v1", tags=["server"], dependencies=[Depends(require_token)])


@router.get("/models", response_model=ModelList)
async def list_models(state: StateDep) -> dict[str, Any]:
    """The models the form offers (retired ones left out), their sizes, and the config's defaults."""
    models = []
    for spec in MODELS.values():
        if spec.retired_on is not None:
            continue
        models.append({"name": spec.name, "sizes": list(spec.suggested_sizes()), "free_sizes": spec.sizes is None,
                       "size_help": spec.size_help(), "default_size": spec.default_size,
                       "qualities": list(spec.qualities), "formats": list(spec.output_formats),
                       "styles": list(spec.styles), "takes_background": spec.takes_background,
                       "can_stream": spec.can_stream, "retired_on": None, "replacement": spec.replacement})
    defaults = state.defaults
    return {"models": models,
            "defaults": {"model": getattr(defaults, "model", None) or DEFAULT_MODEL,
                         "size": getattr(defaults, "size", None), "quality": getattr(defaults, "quality", None),
                         "format": getattr(defaults, "output_format", None),
                         "background": getattr(defaults, "background", None)},
            "templates": sorted(state.templates or {})}


@router.get("/server", response_model=ServerInfo)
async def server_info(state: StateDep) -> dict[str, Any]:
    assert state.store is not None
    return {"version": __version__, "store": state.store.location, "has_api_key": state.settings.client.api_key
            is not None, "concurrency": state.settings.concurrency}


@router.post("/session", status_code=204, response_class=Response)
async def open_session(state: StateDep) -> Response:
    """Set the HttpOnly, SameSite=Strict cookie that lets ``<img>`` load image bytes (and nothing else)."""
    response = Response(status_code=204)
    response.set_cookie(SESSION_COOKIE, state.session_value(), httponly=True, samesite="strict", path=COOKIE_PATH)
    return response


@router.delete("/session", status_code=204, response_class=Response)
async def close_session() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> JSONResponse:
    """The schema, behind the token like the rest of the API."""
    return JSONResponse(request.app.openapi())
