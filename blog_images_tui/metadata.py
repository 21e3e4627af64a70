"""The metadata JSON stored beside every image.

The original design's fields keep their names and types (``post_id``,
``section_id``, ``prompt``, ``image_path``, ``generated_at``, ``model``,
``size``); the rest is what a user needs later. Never the API key.
``cost_usd`` is what the image cost from the API's token usage (or the
published per-image price), null when unknown; ``cost_basis`` says how.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from blog_images_tui import __version__
from blog_images_tui.generation import GeneratedImage, ImageRequest
from blog_images_tui.pricing import PRICES_AS_OF, actual_cost

ORIGINAL_FIELDS = ("post_id", "section_id", "prompt", "image_path", "generated_at", "model", "size")


@dataclass(frozen=True)
class Variant:
    """Which of the images one request returned this one is (``index`` 1-based)."""

    index: int
    count: int  # images stored from the request (the received ones)
    group_id: str


def build_metadata(request: ImageRequest, image: GeneratedImage, *, image_path: str,
                   generated_at: datetime | None = None, variant: Variant | None = None) -> dict[str, Any]:
    """The metadata dict for one stored image (JSON-safe).

    Lineage: ``operation`` (generate or edit), and for an edit ``source``,
    ``references`` and ``mask``. Variants of one request share ``group_id``;
    ``cost_usd`` is each one's share and ``request_usage`` the whole
    request's usage, so that summing a section never counts a request twice.
    """
    generated_at = generated_at or datetime.now(UTC)
    metadata: dict[str, Any] = {
        "post_id": request.section.post_id,
        "section_id": request.section.section_id,
        "prompt": request.prompt,
        "image_path": image_path,
        "generated_at": generated_at.isoformat(),
        "model": request.model,
        "size": request.size,
    }
    extras: dict[str, Any] = {
        "revised_prompt": image.revised_prompt,
        "quality": request.quality,
        "style": request.style,
        "background": request.background,
        "output_format": request.output_format,
        "bytes": len(image.data),
        "sha256": hashlib.sha256(image.data).hexdigest(),
        "width": image.info.width,
        "height": image.info.height,
        "usage": image.usage,
        "request_id": image.request_id,
        "duration_s": image.duration_s,
        "job_id": request.job_id,
        "generator": f"blog-images {__version__}",
        "operation": request.operation,
        "moderation": request.moderation,
        "compression": request.compression,
        "input_fidelity": request.input_fidelity,
        "template": dict(request.template) if request.template else None,
    }
    if request.edit is not None:
        extras["source"] = dict(request.edit.source.ref)
        extras["references"] = [dict(image.ref) for image in request.edit.references]
        extras["mask"] = dict(request.edit.mask.ref) if request.edit.mask else None
    shares = 1
    if variant is not None and (request.n > 1 or image.received < image.requested):
        shares = max(1, image.received)
        extras.update(variant=variant.index, variants=variant.count, group_id=variant.group_id,
                      requested=image.requested, received=image.received, request_usage=image.usage)
        extras["usage"] = None  # the request's usage, under request_usage: not counted once per image
    metadata.update({key: value for key, value in extras.items() if value is not None})
    # Always present, null when unknown: an unknown cost is not a zero cost.
    cost = actual_cost(request, image.usage)
    if cost.usd is not None:
        cost = type(cost)(cost.usd / shares, cost.basis, cost.note)
    metadata["cost_usd"] = None if cost.usd is None else round(cost.usd, 6)
    metadata["cost_basis"] = f"{cost.basis}: {cost.note}" if cost.note else cost.basis
    metadata["prices_as_of"] = PRICES_AS_OF
    return metadata
