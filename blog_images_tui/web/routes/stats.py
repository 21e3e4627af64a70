"""``GET /api/v1/stats``: what ``blog-images stats --json`` prints, for the same query.

The job ledger of this machine plus the store's metadata (see
:mod:`blog_images_tui.stats`). Reading lists the store, so the handler is a
plain function (FastAPI runs it in its thread pool). Damaged ledger lines
are skipped, as in the CLI, and logged.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from blog_images_tui.web.deps import StoreDep, require_token
from blog_images_tui.web.models import StatsOut

log = logging.getLogger("blog_images.web")

router = APIRouter(prefix="/api/v1", tags=["stats"], dependencies=[Depends(require_token)])


@router.get("/stats", response_model=StatsOut)
def job_stats(post: str | None = Query(None, description="only this post"),
              section: str | None = Query(None, description="only this section of the post"),
              since: str | None = Query(None, description="from this day (YYYY-MM-DD, UTC) or ISO date-time on"),
              until: str | None = Query(None, description="up to and including this day, or before this time"),
              by: Literal["post", "section", "model", "day", "outcome"] | None = Query(
                  None, description="one group per post, section, model, day (UTC) or outcome"),
              *, store: StoreDep) -> dict[str, Any]:
    """Counts, success rate, spend (actual and estimated) and median/p95 duration of the store's jobs."""
    from blog_images_tui.stats import collect, query_from_text

    report = collect(store, query_from_text(post, section, since, until, by))
    for warning in report.warnings():
        log.warning("%s", warning)
    return report.to_json()
