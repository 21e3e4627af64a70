"""Every error the server answers, in one JSON shape: ``{"ok": false, "error": {...}}``.

The object is :func:`blog_images_tui.errors.error_object`, the CLI's ``--json``
error. The core's errors map to statuses here; the framework's validation
errors become a 422 in the core's words; an unknown route under ``/api`` asks
for the token first, so a 404 never tells a stranger what exists; anything
unexpected is a 500 without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from blog_images_tui.errors import (
    ApiRejected,
    AuthConfigError,
    BadInput,
    BlogImagesError,
    NotFound,
    StoreUnusable,
    TemporaryFailure,
    error_object,
)


class Unauthorized(AuthConfigError):
    """No token, or the wrong one (401). Says nothing about what exists."""

    title = "Unauthorized"
    code = "unauthorized"


class TooLarge(BadInput):
    code = "too_large"


class InvalidRequest(BadInput):
    """A body or parameter the framework's validation refused (422)."""

    code = "invalid_request"


class HostRefused(BadInput):
    code = "bad_host"


#: most specific first
STATUS = ((Unauthorized, 401), (NotFound, 404), (TooLarge, 413), (InvalidRequest, 422), (HostRefused, 400),
          (BadInput, 400), (AuthConfigError, 503), (StoreUnusable, 503), (TemporaryFailure, 503),
          (ApiRejected, 502))


def status_of(error: BlogImagesError) -> int:
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_response(error: BlogImagesError, status: int | None = None) -> JSONResponse:
    status = status or status_of(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"ok": False, "error": error_object(error)}, status_code=status, headers=headers)


def unauthorized() -> JSONResponse:
    return error_response(Unauthorized("missing or wrong token", hint="send Authorization: Bearer TOKEN"))


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for problem in exc.errors()[:3]:
        where = ".".join(str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "path"))
        message = problem.get("msg", "invalid")
        problems.append(f"{where}: {message}" if where else message)
    more = len(exc.errors()) - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def install(app: FastAPI, is_authorized: Callable[[Request], bool]) -> None:
    """Register the handlers; ``is_authorized(request)`` decides whether a 404 may be told."""

    @app.exception_handler(BlogImagesError)
    async def core_error(_request: Request, exc: BlogImagesError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(InvalidRequest(f"invalid request: {_validation_message(exc)}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if request.url.path.startswith("/api/") and not is_authorized(request):
            return unauthorized()
        if exc.status_code == 404:
            return error_response(NotFound("no such route"), 404)
        if exc.status_code == 405:
            return error_response(BadInput(f"method {request.method} not allowed here"), 405)
        error = BadInput(str(exc.detail)) if exc.status_code < 500 else BlogImagesError(str(exc.detail))
        return error_response(error, exc.status_code)
