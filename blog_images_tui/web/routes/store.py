"""Browsing the store: posts, sections, images, an image's metadata, its bytes and its thumbnail.

Every id and name goes through the core's allowlists before any store call
(400 otherwise); what is not there is a 404. Store calls block, so the
handlers are plain functions (FastAPI runs them in its thread pool) and file
bytes are streamed from an open file, never read whole into memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from blog_images_tui import layout, pruning
from blog_images_tui.errors import NotFound
from blog_images_tui.ids import SectionRef, parse_filename, parse_id
from blog_images_tui.thumbnails import CONTENT_TYPE as THUMB_TYPE
from blog_images_tui.thumbnails import MAX_WIDTH, MIN_WIDTH
from blog_images_tui.web.deps import StateDep, StoreDep, require_token, require_token_or_cookie
from blog_images_tui.web.models import (
    Deleted,
    ImageDetail,
    ImageList,
    ImageOut,
    PostList,
    PruneCreate,
    SectionList,
    StoredRef,
)

CHUNK_BYTES = 256 * 1024
#: what lineage means in a metadata (the iterate issue's fields)
LINEAGE_FIELDS = ("operation", "source", "references", "group_id", "variant", "variants", "job_id")

router = APIRouter(prefix="/api/v1", tags=["store"])


def image_urls(section: SectionRef, name: str) -> dict[str, str]:
    base = f"/api/v1/posts/{section.post_id}/sections/{section.section_id}/images/{name}"
    return {"file_url": f"{base}/file", "thumb_url": f"{base}/thumb"}


def parse_image_name(name: str) -> tuple[str, str]:
    """``hero.png`` -> (``hero``, ``png``); BadInput for anything that is not an image name."""
    stem, dot, ext = name.rpartition(".")
    fmt = layout.EXTENSION_FORMATS.get(ext.lower()) if dot else None
    if fmt is None:
        parse_filename(name)  # a bare name gets the filename rule's message
        raise NotFound(f"no image {name!r}: give the file name with its extension, e.g. {name}.png")
    return parse_filename(stem), fmt


@router.get("/posts", response_model=PostList, dependencies=[Depends(require_token)])
def list_posts(store: StoreDep) -> dict[str, Any]:
    return {"posts": [{"post_id": post} for post in store.list_posts()]}


@router.get("/posts/{post}/sections", response_model=SectionList, dependencies=[Depends(require_token)])
def list_sections(post: str, store: StoreDep) -> dict[str, Any]:
    post_id = parse_id(post, what="post id")
    return {"post_id": post_id, "sections": [{"section_id": s} for s in store.list_sections(post_id)]}


@router.get("/posts/{post}/sections/{section}/images", response_model=ImageList,
            dependencies=[Depends(require_token)])
def list_images(post: str, section: str, store: StoreDep) -> dict[str, Any]:
    ref = SectionRef.parse(post, section)
    images = [ImageOut(name=entry.image_name, filename=entry.filename, format=entry.output_format,
                       bytes=entry.size_bytes, has_metadata=entry.has_metadata, modified=entry.modified,
                       **image_urls(ref, entry.image_name))
              for entry in store.list_images(ref)]
    return {"post_id": ref.post_id, "section_id": ref.section_id, "images": images}


@router.get("/posts/{post}/sections/{section}/images/{name}", response_model=ImageDetail,
            dependencies=[Depends(require_token)])
def image_detail(post: str, section: str, name: str, store: StoreDep) -> dict[str, Any]:
    ref = SectionRef.parse(post, section)
    filename, fmt = parse_image_name(name)
    try:
        store.image_info(ref, name)
    except FileNotFoundError:
        raise NotFound(f"no image {name} in {ref}") from None
    try:
        metadata = store.read_metadata(ref, filename)
    except FileNotFoundError:
        metadata = None
    except ValueError:
        metadata = None  # not JSON: shown as missing rather than failing the view
    lineage = {key: metadata[key] for key in LINEAGE_FIELDS if metadata and key in metadata}
    return {"post_id": ref.post_id, "section_id": ref.section_id, "name": name, "filename": filename,
            "format": fmt, "has_metadata": metadata is not None, "metadata": metadata, "lineage": lineage,
            **image_urls(ref, name)}


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


@router.get("/posts/{post}/sections/{section}/images/{name}/file", response_class=StreamingResponse,
            dependencies=[Depends(require_token_or_cookie)],
            responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
def image_file(post: str, section: str, name: str, store: StoreDep) -> StreamingResponse:
    ref = SectionRef.parse(post, section)
    _, fmt = parse_image_name(name)
    try:
        info = store.image_info(ref, name)
        handle = store.open_image(ref, name)
    except FileNotFoundError:
        raise NotFound(f"no image {name} in {ref}") from None
    headers = {"Content-Length": str(info.size_bytes), "Cache-Control": "private, max-age=300",
               "Content-Disposition": f'inline; filename="{name}"'}
    return StreamingResponse(_chunks(handle), media_type=layout.CONTENT_TYPES[fmt], headers=headers)


@router.get("/posts/{post}/sections/{section}/images/{name}/thumb", response_class=Response,
            dependencies=[Depends(require_token_or_cookie)],
            responses={200: {"content": {THUMB_TYPE: {}}}})
def image_thumb(post: str, section: str, name: str,
                store: StoreDep, state: StateDep,
                w: Annotated[int, Query(ge=MIN_WIDTH, le=MAX_WIDTH, description="width in pixels (snapped up)")] = 320,
                ) -> Response:
    ref = SectionRef.parse(post, section)
    parse_image_name(name)
    assert state.thumbnails is not None
    try:
        data = state.thumbnails.get(store, ref, name, w)
    except FileNotFoundError:
        raise NotFound(f"no image {name} in {ref}") from None
    return Response(data, media_type=THUMB_TYPE, headers={"Cache-Control": "private, max-age=3600"})


@router.delete("/posts/{post}/sections/{section}/images/{name}", response_model=Deleted,
               dependencies=[Depends(require_token)])
def delete_image(post: str, section: str, name: str, store: StoreDep, force: bool = False) -> dict[str, Any]:
    """Delete an image and its metadata; refused (400, nothing deleted) if another image came from it,
    unless ``force``."""
    ref = SectionRef.parse(post, section)
    parse_image_name(name)
    deleted = pruning.execute(store, pruning.plan_delete(store, ref, [name]), force=force)
    return {"deleted": [entry.image_name for entry in deleted], "kept": None}


@router.post("/posts/{post}/sections/{section}/prune", response_model=Deleted,
             dependencies=[Depends(require_token)])
def prune_group(post: str, section: str, body: PruneCreate, store: StoreDep) -> dict[str, Any]:
    """Keep one variant of a group (``keep``, an image name) and delete the rest of the group."""
    ref = SectionRef.parse(post, section)
    plan = pruning.plan_prune(store, ref, body.group_id, body.keep)
    deleted = pruning.execute(store, plan, force=body.force)
    return {"deleted": [entry.image_name for entry in deleted], "kept": plan.kept}


@router.post("/posts/{post}/sections/{section}/images", response_model=StoredRef, status_code=201,
             dependencies=[Depends(require_token)],
             openapi_extra={"requestBody": {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
async def upload_image(post: str, section: str, request: Request, store: StoreDep, filename: str | None = None,
                       prompt: str | None = None) -> dict[str, Any]:
    """Import an image sent as the body (PNG, JPEG or WebP, checked by its bytes and decoded whole) with its
    metadata (``operation: "import"``); never over an existing name."""
    from blog_images_tui.importing import import_image
    from blog_images_tui.inputs import decode_check, from_upload

    ref = SectionRef.parse(post, section)
    if filename is not None:
        parse_filename(filename)
    data = await request.body()
    image = from_upload(filename or "upload", data, what="uploaded image")
    await asyncio.to_thread(decode_check, image)
    stored = await asyncio.to_thread(import_image, store, ref, image, filename=filename or layout.timestamp_filename(),
                                     prompt=prompt)
    name = layout.image_name(stored.filename, image.format)
    return {"post_id": ref.post_id, "section_id": ref.section_id, "name": name, "image_path": stored.image_path,
            "metadata_path": stored.metadata_path, **image_urls(ref, name)}
