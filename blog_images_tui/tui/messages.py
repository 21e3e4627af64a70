"""Typed messages that workers post back to the event loop.

Workers never touch widgets: they post one of these, and an ``@on`` handler
on the loop updates the screen. Every message carries the :class:`Store` it
was computed from, so a result that arrives after a store switch is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

from blog_images_tui.errors import BlogImagesError
from blog_images_tui.ids import PostId, SectionRef
from blog_images_tui.storage import ImageEntry, Store

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from blog_images_tui.config import Defaults
    from blog_images_tui.templates import PromptTemplate


@dataclass
class StoreOpened(Message):
    """A store was opened (at start or after a switch from the palette)."""

    store: Store


@dataclass
class StoreOpenFailed(Message):
    url: str
    error: BlogImagesError


@dataclass
class ConfigLoaded(Message):
    """The config files as seen from a store (the project file may be on S3): templates and defaults."""

    store: Store
    templates: dict[str, PromptTemplate]
    defaults: Defaults | None = None
    #: every config file looked at, found or not
    searched: tuple[str, ...] = ()
    error: BlogImagesError | None = None


@dataclass
class RecoveriesCounted(Message):
    """Generated images waiting in the local recovery folder (for any store), counted in a worker."""

    count: int
    folder: str
    #: say so in a notification (a store switch), not only in the indicator
    announce: bool = False


@dataclass
class ChildrenLoaded(Message):
    """One level of the tree was listed: posts, a post's sections or a section's images."""

    store: Store
    node: Any  # the TreeNode listed (checked to still be in the tree on arrival)
    items: list[Any]


@dataclass
class RootMissing(Message):
    """The store has no posts because its local folder (``what="folder"``) or bucket is not there."""

    store: Store
    what: str


@dataclass
class ListingFailed(Message):
    store: Store
    node: Any
    error: BlogImagesError


@dataclass
class SectionRevealed(Message):
    """Posts, the post's sections and the section's images, to show and select a new image."""

    store: Store
    section: SectionRef
    posts: list[PostId]
    sections: list[PostId]
    images: list[ImageEntry]
    select: str | None


@dataclass
class ImageLoaded(Message):
    """An image was read, decoded and downscaled for the preview, with its metadata."""

    store: Store
    entry: ImageEntry
    picture: PILImage | None = field(repr=False)
    summary: str
    metadata: dict[str, Any] | None
    image_path: str
    link: str | None
    problem: str | None = None
    #: why the metadata could not be shown although the image has a JSON (a damaged file)
    metadata_problem: str | None = None


@dataclass
class ImageLoadFailed(Message):
    store: Store
    entry: ImageEntry
    error: BlogImagesError


@dataclass
class PartialDecoded(Message):
    """A streamed partial image of a running job, decoded for the preview."""

    job_id: str
    index: int
    picture: PILImage | None = field(repr=False)


@dataclass
class ImageDeleted(Message):
    store: Store
    entry: ImageEntry


@dataclass
class JobChanged(Message):
    """A job engine event (queued, started, stage, partial, stored, ...), on the loop thread."""

    event: Any  # blog_images_tui.jobs.JobEvent
    store: Store


@dataclass
class ErrorReported(Message):
    """An error from a worker that only needs a notification."""

    error: BlogImagesError


@dataclass
class EditPlanned(Message):
    """An edit the core read and checked (source, references, mask) in a worker: ready for a job."""

    store: Store
    request: Any


@dataclass
class SourceFound(Message):
    """The image another one was edited from, found in its section (for the lineage jump)."""

    store: Store
    entry: ImageEntry
