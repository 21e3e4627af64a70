"""Publishing an image for the web (derivatives, manifest, snippets) and its alt text.

The core's :class:`~blog_images_tui.publish.Publisher` does the work, as a task
of the server's job hub (not of the request: it goes on if the client leaves,
and identical requests meanwhile share it); encoding runs in its thread pool,
off the event loop; a second publish with the same settings writes nothing.
Only the manifest and the metadata's ``alt`` are ever replaced, conditionally,
by the core's rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Depends

from blog_images_tui import api
from blog_images_tui.errors import NotFound
from blog_images_tui.ids import SectionRef
from blog_images_tui.publish import PublishResult
from blog_images_tui.web.deps import HubDep, StoreDep, require_token
from blog_images_tui.web.models import AltOut, AltUpdate, PublishCreate, PublishOut
from blog_images_tui.web.routes.store import parse_image_name

router = APIRouter(prefix="/api/v1/posts/{post}/sections/{section}/images/{name}", tags=["publish"],
                   dependencies=[Depends(require_token)])


def _out(manifest: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"html": manifest.get("html", ""), "markdown": manifest.get("markdown", ""), "alt": manifest.get("alt"),
            "manifest": manifest, **extra}


@router.post("/publish", response_model=PublishOut)
async def publish(post: str, section: str, name: str, body: PublishCreate, store: StoreDep,
                  hub: HubDep) -> dict[str, Any]:
    """Make (or find) the web derivatives and the snippets; idempotent. The work is a server task
    (it goes on if the client leaves), shared by identical requests made meanwhile."""
    ref = SectionRef.parse(post, section)
    filename, _fmt = parse_image_name(name)

    def start() -> Awaitable[PublishResult]:
        return api.apublish(ref.post_id, ref.section_id, filename, store=store,
                            widths=tuple(body.widths) if body.widths else None,
                            formats=tuple(body.formats) if body.formats else None, fallback=body.fallback,
                            sizes=body.sizes, alt=body.alt, pool="thread")

    key = ("publish", ref, filename, body.model_dump_json())
    result: PublishResult = await hub.run_task(key, start)
    return _out(result.manifest, changed=result.changed, created=result.created, reused=result.reused,
                manifest_path=result.manifest_path)


@router.get("/publish", response_model=PublishOut)
def published(post: str, section: str, name: str, store: StoreDep) -> dict[str, Any]:
    """The image's manifest and snippets, 404 if it was never published."""
    from blog_images_tui import layout
    from blog_images_tui.publish import read_manifest

    ref = SectionRef.parse(post, section)
    filename, _fmt = parse_image_name(name)
    manifest = read_manifest(store, ref, filename)
    if manifest is None:
        raise NotFound(f"{name} is not published yet")
    return _out(manifest, changed=False, created=[], reused=[],
                manifest_path=store.display_path(layout.web_manifest_path(ref, filename)))


@router.put("/alt", response_model=AltOut)
async def set_alt(post: str, section: str, name: str, body: AltUpdate, store: StoreDep) -> dict[str, Any]:
    """Set the image's alt text (its metadata, then its manifest and snippets if published)."""
    ref = SectionRef.parse(post, section)
    filename, _fmt = parse_image_name(name)
    result = await asyncio.to_thread(api.set_alt, ref.post_id, ref.section_id, filename, body.text, store)
    return {"alt": result.alt, "previous": result.previous, "metadata_changed": result.metadata_changed,
            "manifest_changed": result.manifest_changed}
