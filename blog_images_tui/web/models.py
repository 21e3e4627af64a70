"""Request and response bodies of the API, as typed data: the OpenAPI schema is generated from them.

Ids are a JSON number or a string (``StrictInt | StrictStr``: ``true`` or
``1.5`` is a 422, not a silent 1); the core's allowlists then decide (400).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

Id = StrictInt | StrictStr


class ErrorBody(BaseModel):
    type: str
    code: str
    message: str
    hint: str | None = None
    exit_code: int
    recovery_path: str | None = None


class ErrorResponse(BaseModel):
    """Every error, whatever the status: the same object as the CLI's ``--json`` error."""

    ok: Literal[False] = False
    error: ErrorBody


class PostOut(BaseModel):
    post_id: Id


class PostList(BaseModel):
    posts: list[PostOut]


class SectionOut(BaseModel):
    section_id: Id


class SectionList(BaseModel):
    post_id: Id
    sections: list[SectionOut]


class ImageOut(BaseModel):
    name: str = Field(description="the image's file name in raw/, e.g. hero.png")
    filename: str = Field(description="the name without its extension")
    format: str
    bytes: int
    has_metadata: bool
    modified: float | None = None
    file_url: str
    thumb_url: str


class ImageList(BaseModel):
    post_id: Id
    section_id: Id
    images: list[ImageOut]


class ImageRef(BaseModel):
    """A store reference to one image (what a lineage field or a job result names)."""

    post_id: Id
    section_id: Id
    name: str
    sha256: str | None = None


class ImageDetail(BaseModel):
    post_id: Id
    section_id: Id
    name: str
    filename: str
    format: str
    has_metadata: bool
    metadata: dict[str, Any] | None = None
    #: where the image came from, from its metadata: operation, source, references, group
    lineage: dict[str, Any] = Field(default_factory=dict)
    file_url: str
    thumb_url: str


class CostOut(BaseModel):
    usd: float | None = None
    basis: str
    note: str = ""
    text: str = Field(description="the cost in words, never $0 for an unknown cost")


class JobCreate(BaseModel):
    """A job: the same fields as a batch entry, plus how many partial previews to stream.

    An edit names its image (``edit``) and references (``images``) only by store
    reference ``POST/SECTION/NAME``, never by a path on the server's disk; there
    is no mask field (a mask would be a file). ``post_id``/``section_id`` say where
    the result goes (an edit's default: the source's section).
    """

    model_config = ConfigDict(extra="forbid")

    post_id: Id | None = None
    section_id: Id | None = None
    prompt: str | None = None
    template: str | None = None
    vars: dict[str, StrictStr | StrictInt | float] | None = None
    filename: str | None = None
    id: StrictStr | None = Field(default=None, description="explicit job id (default: a hash of the request)")
    model: str | None = None
    size: str | None = None
    quality: str | None = None
    format: str | None = None
    background: str | None = None
    style: str | None = None
    n: int | None = Field(default=None, ge=1, le=10, description="variants from one request")
    moderation: str | None = None
    compression: int | None = Field(default=None, ge=0, le=100)
    edit: StrictStr | None = Field(default=None, description="POST/SECTION/NAME of the store image to edit")
    images: list[StrictStr] | None = Field(default=None, max_length=15,
                                           description="reference images: POST/SECTION/NAME in the store")
    input_fidelity: str | None = None
    partial_images: int = Field(default=2, ge=0, le=3, description="streamed previews (models that stream)")


class PublishCreate(BaseModel):
    """How to publish (unset: the config files' [publish] table, then 480/960/1600 AVIF+WebP)."""

    model_config = ConfigDict(extra="forbid")

    widths: list[StrictInt] | None = Field(default=None, max_length=12)
    formats: list[StrictStr] | None = Field(default=None, max_length=4)
    fallback: str | None = None
    sizes: str | None = Field(default=None, max_length=500)
    alt: str | None = Field(default=None, max_length=1000)


class PublishOut(BaseModel):
    changed: bool
    created: list[str]
    reused: list[str]
    manifest_path: str
    html: str
    markdown: str
    alt: str | None = None
    manifest: dict[str, Any]


class AltUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(max_length=1000)


class AltOut(BaseModel):
    alt: str
    previous: str | None = None
    metadata_changed: bool
    manifest_changed: bool


class PruneCreate(BaseModel):
    """Keep one variant of a group and delete the others."""

    model_config = ConfigDict(extra="forbid")

    group_id: StrictStr = Field(max_length=100)
    keep: StrictStr = Field(max_length=120)
    force: bool = False


class Deleted(BaseModel):
    deleted: list[str]
    kept: str | None = None


class StoredRef(BaseModel):
    post_id: Id
    section_id: Id
    name: str
    image_path: str
    metadata_path: str | None = None
    file_url: str
    thumb_url: str


class JobOut(BaseModel):
    job_id: str
    status: Literal["queued", "running", "stored", "skipped", "failed", "cancelled"]
    stage: str
    post_id: Id
    section_id: Id
    prompt: str
    model: str
    size: str | None = None
    quality: str | None = None
    format: str
    filename: str | None = None
    submitted_at: float
    elapsed_s: float
    estimated_cost: CostOut | None = None
    cost_usd: float | None = None
    images: list[StoredRef] = Field(default_factory=list)
    existing: str | None = Field(default=None, description="skipped: the image already stored for this job")
    warnings: list[str] = Field(default_factory=list)
    error: ErrorBody | None = None
    events: int = Field(description="events so far (GET .../events replays them)")


class JobList(BaseModel):
    jobs: list[JobOut]


class ModelOut(BaseModel):
    name: str
    sizes: list[str]
    free_sizes: bool = Field(description="any WxH within size_help's rules, besides the listed sizes")
    size_help: str
    default_size: str
    qualities: list[str]
    formats: list[str]
    styles: list[str]
    takes_background: bool
    can_stream: bool
    retired_on: str | None = None
    replacement: str | None = None


class Defaults(BaseModel):
    model: str
    size: str | None = None
    quality: str | None = None
    format: str | None = None
    background: str | None = None


class ModelList(BaseModel):
    models: list[ModelOut]
    defaults: Defaults
    templates: list[str]


class Estimate(BaseModel):
    job_id: str
    cost: CostOut
    warnings: list[str]


class ServerInfo(BaseModel):
    version: str
    store: str
    has_api_key: bool
    concurrency: int


class StatsDuration(BaseModel):
    median: float | None
    p95: float | None


class StatsTally(BaseModel):
    """Counts, success rate, spend and durations: the fields of ``blog-images stats --json``."""

    jobs: int
    stored: int
    skipped: int
    failed: int
    cancelled: int
    kept: int
    success_rate: float | None
    cost_usd: float
    cost_estimated_usd: float
    duration_s: StatsDuration


class StatsGroup(StatsTally):
    key: Id


class StatsOut(StatsTally):
    groups: list[StatsGroup]
