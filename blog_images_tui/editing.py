"""Edit requests: an image of the store, a prompt, references and a mask, turned
into a validated :class:`~blog_images_tui.generation.ImageRequest` for ``images.edit``.

Used by ``blog-images edit``, batch entries with ``edit`` and the app alike.
Defaults come from the source, not from generate: its size, format and model
(when that model takes edits and is not retired; else the configured or
built-in default model), each overridable. Everything is read and checked
here, before anything is sent: blocking, async callers run it in a thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from blog_images_tui.errors import BadInput
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.inputs import EditInputs, StoreImageRef, read_mask, read_reference, read_store_image
from blog_images_tui.models import DEFAULT_MODEL, MODELS, validate_options

if TYPE_CHECKING:  # pragma: no cover
    from blog_images_tui.storage import Store


@dataclass(frozen=True)
class EditOptions:
    """What the user chose for an edit; None means "from the source, else the default"."""

    prompt: str
    references: Sequence[str] = ()
    mask: str | None = None
    filename: str | None = None
    section: SectionRef | None = None  # default: the source's section
    model: str | None = None
    size: str | None = None
    quality: str | None = None
    output_format: str | None = None
    background: str | None = None
    n: int = 1
    compression: int | None = None
    input_fidelity: str | None = None
    #: False: references are store images only and no mask file is read (the web server)
    local_files: bool = True


def _edit_model(source_model: object, default_model: str | None) -> str:
    spec = MODELS.get(source_model) if isinstance(source_model, str) else None
    if spec is not None and spec.takes_edits and not (spec.retired_on and spec.retired_on <= date.today()):
        return spec.name
    return default_model or DEFAULT_MODEL


def _size_fits(model: str, size: str) -> bool:
    try:
        validate_options(model=model, prompt="x", size=size, quality=None, style=None, output_format=None,
                         background=None)
    except BadInput:
        return False
    return True


def plan_edit(store: Store, source: str | StoreImageRef, options: EditOptions, *,
              default_model: str | None = None, default_quality: str | None = None) -> ImageRequest:
    """Read and check everything an edit sends; return the validated request (BadInput if anything is off)."""
    ref = source if isinstance(source, StoreImageRef) else StoreImageRef.parse(source)
    image = read_store_image(store, ref, what="image to edit")
    try:
        metadata = store.read_metadata(ref.section, ref.stem())
    except (FileNotFoundError, ValueError):
        metadata = {}  # an image without (readable) metadata can still be edited; defaults come from its bytes
    references = tuple(read_reference(store, item, local_files=options.local_files) for item in options.references)
    if options.mask and not options.local_files:
        raise BadInput("a mask file cannot be named here: only images in the store")
    mask = read_mask(options.mask, image) if options.mask else None
    model = options.model or _edit_model(metadata.get("model"), default_model)
    size = options.size
    if size is None:
        # The source's size when the model can make it, else its pixel size, else the API's choice.
        candidates = [metadata.get("size"), f"{image.width}x{image.height}", "auto"]
        size = next(candidate for candidate in candidates
                    if isinstance(candidate, str) and _size_fits(model, candidate))
    request = ImageRequest(
        prompt=options.prompt, section=options.section or ref.section, filename=options.filename, model=model,
        size=size, quality=options.quality or default_quality, output_format=options.output_format or image.format,
        background=options.background, n=options.n, compression=options.compression,
        input_fidelity=options.input_fidelity, edit=EditInputs(image, references, mask))
    return request.validated()
