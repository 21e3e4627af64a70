"""The page: ``GET /`` and its few static files, shipped as package data (no build step, no CDN).

These are the only routes without the token: they hold no data. The page
reads the token from the URL's fragment (never sent here) or asks for it.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from blog_images_tui.errors import NotFound

#: name -> content type: the allowlist of what /static serves
STATIC_FILES = {"app.css": "text/css; charset=utf-8", "api.js": "text/javascript; charset=utf-8",
                "gallery.js": "text/javascript; charset=utf-8", "jobs.js": "text/javascript; charset=utf-8",
                "image.js": "text/javascript; charset=utf-8",
                "app.js": "text/javascript; charset=utf-8", "icon.svg": "image/svg+xml"}

router = APIRouter(include_in_schema=False)


def _read(name: str) -> bytes:
    return resources.files("blog_images_tui.web").joinpath("static", name).read_bytes()


@router.get("/")
async def index() -> Response:
    return Response(_read("index.html"), media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


@router.get("/static/{name}")
async def static(name: str) -> Response:
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        raise NotFound(f"no static file {name[:40]!r}")
    return Response(_read(name), media_type=content_type, headers={"Cache-Control": "no-cache"})
