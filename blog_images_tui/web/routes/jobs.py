"""Jobs: submit (idempotent), list, look at, cancel, and follow as Server-Sent Events.

A job body is a batch entry (:func:`blog_images_tui.batchfile.plan_entry` checks
it, with the store's config defaults and templates), so the web, ``batch`` and
the TUI agree on what a job is and on its id. The work runs on the core's job
engine (:mod:`blog_images_tui.web.hub`), never in the request handler: a job
outlives the browser that posted it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import StreamingResponse

from blog_images_tui import layout, pricing
from blog_images_tui.batchfile import BatchEntry, plan_entry
from blog_images_tui.errors import BadInput, error_object
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SLUG_PATTERN, SectionRef
from blog_images_tui.secrets import redact, require_api_key
from blog_images_tui.storage import Store
from blog_images_tui.web.deps import HubDep, ServerState, StateDep, require_token
from blog_images_tui.web.hub import JobRecord
from blog_images_tui.web.models import Estimate, JobCreate, JobList, JobOut
from blog_images_tui.web.routes.store import image_urls

router = APIRouter(prefix="/api/v1", tags=["jobs"], dependencies=[Depends(require_token)])


def cost_json(cost: pricing.CostEstimate | None) -> dict[str, Any] | None:
    if cost is None:
        return None
    return {**cost.to_json(), "text": pricing.cost_text(cost)}


def plan_request(body: JobCreate, state: ServerState) -> ImageRequest:
    """The body as a validated request with its job id (BadInput in the core's words).

    Blocking (an edit reads its images from the store): run in a thread. Never a
    local file: references are store images only.
    """
    fields = body.model_dump(exclude_none=True, exclude={"partial_images"})
    planned = plan_entry(BatchEntry(0, fields), state.defaults, state.templates or {}, store=state.store,
                         local_files=False)
    return replace(planned.request, partial_images=body.partial_images)


def _stored_ref(section: SectionRef, filename: str, output_format: str, image_path: str,
                metadata_path: str | None) -> dict[str, Any]:
    name = layout.image_name(filename, output_format)
    return {"post_id": section.post_id, "section_id": section.section_id, "name": name,
            "image_path": image_path, "metadata_path": metadata_path, **image_urls(section, name)}


def job_json(record: JobRecord, store: Store | None) -> dict[str, Any]:
    job, request = record.job, record.job.request
    images = [_stored_ref(stored.section, stored.filename, request.output_format, stored.image_path,
                          stored.metadata_path) for stored in (job.results or ([job.result] if job.result else []))]
    if not images and job.existing_name and store is not None:
        filename = job.existing_name[:-len(layout.METADATA_SUFFIX)]
        image_rel = layout.image_path(request.section, filename, request.output_format)
        images.append(_stored_ref(request.section, filename, request.output_format, store.display_path(image_rel),
                                  store.display_path(layout.metadata_path(request.section, filename))))
    error = None
    if job.error is not None and job.state.value in ("failed", "cancelled"):
        error = {**error_object(job.error), "exit_code": job.exit_code}
    return {"job_id": job.id, "status": job.state.value, "stage": job.stage,
            "post_id": request.section.post_id, "section_id": request.section.section_id,
            "prompt": request.prompt, "model": request.model, "size": request.size, "quality": request.quality,
            "format": request.output_format, "filename": request.filename, "submitted_at": record.submitted_at,
            "elapsed_s": round(job.elapsed_s, 3), "estimated_cost": cost_json(job.estimated_cost),
            "cost_usd": job.cost_usd, "images": images, "existing": job.existing_name,
            "warnings": [redact(w) for w in request.warnings], "error": error, "events": len(record.events)}


@router.post("/jobs", response_model=JobOut, status_code=202)
async def create_job(body: JobCreate, state: StateDep, hub: HubDep) -> dict[str, Any]:
    """Queue a job; the same job posted again is the same job (same id), never paid twice."""
    request = await asyncio.to_thread(plan_request, body, state)
    require_api_key(state.settings.client.api_key, remedy="then start blog-images serve again")
    # On the event loop, with no await between the look-up and the submit (see JobHub.submit).
    record, _submitted = hub.submit(request)
    return job_json(record, state.store)


@router.post("/estimate", response_model=Estimate)
async def estimate(body: JobCreate, state: StateDep) -> dict[str, Any]:
    """What a job would cost and its id, checked like a real post; nothing is sent."""
    request = await asyncio.to_thread(plan_request, body, state)
    return {"job_id": request.job_id, "cost": cost_json(pricing.estimate(request)),
            "warnings": [redact(w) for w in request.warnings]}


@router.get("/jobs", response_model=JobList)
async def list_jobs(hub: HubDep, state: StateDep) -> dict[str, Any]:
    records = sorted(hub.records.values(), key=lambda record: record.submitted_at, reverse=True)
    return {"jobs": [job_json(record, state.store) for record in records]}


def _job_id(job_id: str) -> str:
    if not SLUG_PATTERN.fullmatch(job_id):
        raise BadInput(f"invalid job id {job_id[:40]!r}")
    return job_id


@router.get("/jobs/{job_id}", response_model=JobOut)
async def get_job(job_id: str, hub: HubDep,
                  state: StateDep) -> dict[str, Any]:
    return job_json(hub.get(_job_id(job_id)), state.store)


@router.delete("/jobs/{job_id}", response_model=JobOut)
async def cancel_job(job_id: str, hub: HubDep,
                     state: StateDep) -> dict[str, Any]:
    """Cancel a queued or running job; a finished one is left as it is. A paid-for image being written lands."""
    record = hub.cancel(_job_id(job_id))
    return job_json(record, state.store)


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def job_events(job_id: str, hub: HubDep,
                     last_event_id: Annotated[str | None, Header()] = None) -> StreamingResponse:
    """The job's events in order (``id:`` is the event number; ``Last-Event-ID`` resumes after it),
    ending after the one that finishes the job. Partial previews carry base64 ``image``."""
    record = hub.get(_job_id(job_id))
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        async for event in hub.follow(record.job.id, after):
            if event is None:
                yield b": keep-alive\n\n"
                continue
            yield f"id: {event['seq']}\nevent: {event['kind']}\ndata: {json.dumps(event)}\n\n".encode()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
