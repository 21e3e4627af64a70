"""The image models we know, as data, and the local validation of a request.

Sources: the openai SDK 3.x docstrings of ``images.generate`` (model list,
sizes, qualities, retirements) checked 2026-11-24. Unknown model names pass
through with a warning so OpenAI-compatible servers keep working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from blog_images_tui.errors import BadInput

DEFAULT_MODEL = "gpt-image-2"
DEFAULT_SIZE = "1792x1024"  # the original design's default, landscape
OUTPUT_FORMATS = ("png", "jpeg", "webp")
BACKGROUNDS = ("auto", "opaque", "transparent")
MODERATIONS = ("auto", "low")
#: formats whose output_compression the API takes (0-100)
COMPRESSIBLE_FORMATS = ("jpeg", "webp")
GENERATE, EDIT = "generate", "edit"
#: The optional parameters each endpoint takes (``images.generate``, ``images.edit``):
#: anything else is refused locally. ``images.edit`` has no ``moderation`` (and no
#: ``style``); ``images.generate`` has no mask, reference images or ``input_fidelity``.
ENDPOINT_PARAMS: dict[str, frozenset[str]] = {
    GENERATE: frozenset({"size", "quality", "style", "output_format", "background", "n", "moderation",
                         "compression", "partial_images"}),
    EDIT: frozenset({"size", "quality", "output_format", "background", "n", "compression", "mask",
                     "input_fidelity", "input_images", "partial_images"}),
}
#: how the options are spelled on the command line, for messages
OPTION_FLAGS = {"style": "--style", "moderation": "--moderation", "compression": "--compression",
                "mask": "--mask", "input_fidelity": "--input-fidelity", "input_images": "--image"}
_SIZE_PATTERN = re.compile(r"([1-9][0-9]{1,4})x([1-9][0-9]{1,4})")


@dataclass(frozen=True)
class ModelSpec:
    """What one model accepts. ``sizes`` is None for free-form WxH sizes."""

    name: str
    sizes: tuple[str, ...] | None
    qualities: tuple[str, ...]
    default_size: str
    prompt_limit: int = 32000
    output_formats: tuple[str, ...] = OUTPUT_FORMATS
    styles: tuple[str, ...] = ()
    takes_response_format: bool = False
    takes_background: bool = True
    can_stream: bool = True
    retired_on: date | None = None
    replacement: str | None = None
    # free-form size rules (gpt-image-2 family)
    size_multiple: int = 16
    max_edge: int = 3840
    max_pixels: int = 3840 * 2160
    aspect_limit: float = 3.0
    # edits and variants (images.edit, n)
    takes_edits: bool = True
    #: images one edit request may carry (the edited one plus references)
    max_input_images: int = 16
    takes_mask: bool = True
    #: values of input_fidelity; empty: the model rejects the parameter (gpt-image-2)
    input_fidelities: tuple[str, ...] = ()
    #: values of moderation on generations; empty: not taken
    moderations: tuple[str, ...] = MODERATIONS
    takes_compression: bool = True
    max_n: int = 10

    def size_help(self) -> str:
        if self.sizes is not None:
            return ", ".join(self.sizes)
        return (
            f"auto or any WxH with both sides multiples of {self.size_multiple}, aspect between "
            f"1:{self.aspect_limit:g} and {self.aspect_limit:g}:1, at most 3840x2160 "
            f"(e.g. 1792x1024, 1536x864, 1024x1024)"
        )

    def suggested_sizes(self) -> tuple[str, ...]:
        """Sizes to offer in a picker; free-form models get common presets."""
        if self.sizes is not None:
            return self.sizes
        return ("1792x1024", "1024x1792", "1024x1024", "1536x1024", "1024x1536", "1536x864",
                "2560x1440", "3840x2160", "auto")


_FLEX_QUALITIES = ("auto", "low", "medium", "high")
_FLEX_QUALITIES_PLUS = _FLEX_QUALITIES + ("xhigh", "max")
_FIXED_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")


def _flex(name: str, qualities: tuple[str, ...] = _FLEX_QUALITIES) -> ModelSpec:
    return ModelSpec(name=name, sizes=None, qualities=qualities, default_size=DEFAULT_SIZE)


def _fixed(name: str, **kw: Any) -> ModelSpec:
    return ModelSpec(name=name, sizes=_FIXED_SIZES, qualities=_FLEX_QUALITIES, default_size="1536x1024", **kw)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _flex("gpt-image-2"),
        _flex("gpt-image-2-2026-04-21"),
        _flex("gpt-image-2.5-sunburst", _FLEX_QUALITIES_PLUS),
        _flex("gpt-image-2.5-sunburst-2026-09-08", _FLEX_QUALITIES_PLUS),
        _flex("gpt-image-2.5-flare", _FLEX_QUALITIES_PLUS),
        _flex("gpt-image-2.5-flare-2026-09-08", _FLEX_QUALITIES_PLUS),
        _flex("gpt-image-2.6-sunburst", _FLEX_QUALITIES_PLUS),
        _flex("gpt-image-2.6-flare", _FLEX_QUALITIES_PLUS),
        # input_fidelity per the SDK's images.edit docstring: high and low on gpt-image-1.5,
        # only low on gpt-image-1-mini, omitted for gpt-image-2 (and not documented elsewhere).
        _fixed("gpt-image-1.5", input_fidelities=("high", "low")),
        _fixed("gpt-image-1-mini", input_fidelities=("low",)),
        _fixed("chatgpt-image-latest"),
        _fixed("gpt-image-1", retired_on=date(2026, 10, 23), replacement="gpt-image-2.5-sunburst",
               input_fidelities=("high", "low")),
        ModelSpec(
            name="dall-e-3", sizes=("1024x1024", "1792x1024", "1024x1792"), qualities=("standard", "hd"),
            default_size=DEFAULT_SIZE, prompt_limit=4000, output_formats=("png",), styles=("vivid", "natural"),
            takes_response_format=True, takes_background=False, can_stream=False,
            retired_on=date(2026, 5, 12), replacement="gpt-image-2",
            takes_edits=False, max_n=1, moderations=(), takes_compression=False,
        ),
        ModelSpec(
            name="dall-e-2", sizes=("256x256", "512x512", "1024x1024"), qualities=("standard",),
            default_size="1024x1024", prompt_limit=1000, output_formats=("png",),
            takes_response_format=True, takes_background=False, can_stream=False,
            retired_on=date(2026, 5, 12), replacement="gpt-image-2",
            max_input_images=1, moderations=(), takes_compression=False,
        ),
    )
}

# Rules for a model we do not know: accept what the API might, check nothing
# we cannot know, and let the server decide.
_UNKNOWN_MODEL = ModelSpec(name="?", sizes=None, qualities=(), default_size=DEFAULT_SIZE,
                           max_edge=10**5, max_pixels=10**10, aspect_limit=10**5, size_multiple=1)


def edit_models() -> tuple[str, ...]:
    """Models of the table that take edits and are not retired (for messages and pickers)."""
    today = date.today()
    return tuple(name for name, spec in MODELS.items()
                 if spec.takes_edits and not (spec.retired_on and spec.retired_on <= today))


def parse_size(size: str) -> tuple[int, int] | None:
    """``"1792x1024"`` -> ``(1792, 1024)``; ``"auto"`` -> None."""
    if size == "auto":
        return None
    match = _SIZE_PATTERN.fullmatch(size)
    if not match:
        raise BadInput(f"invalid size {size!r}: use WIDTHxHEIGHT like 1792x1024, or auto")
    return int(match[1]), int(match[2])


@dataclass(frozen=True)
class ValidatedOptions:
    model: str
    size: str
    quality: str | None
    style: str | None
    output_format: str
    background: str | None
    warnings: tuple[str, ...]
    n: int = 1
    moderation: str | None = None
    compression: int | None = None
    input_fidelity: str | None = None


def validate_options(
    *,
    model: str,
    prompt: str,
    size: str | None,
    quality: str | None,
    style: str | None,
    output_format: str | None,
    background: str | None,
    today: date | None = None,
    operation: str = GENERATE,
    n: int = 1,
    moderation: str | None = None,
    compression: int | None = None,
    input_fidelity: str | None = None,
    input_images: int = 0,
    mask: bool = False,
) -> ValidatedOptions:
    """Check a generation or edit request against the model table; refuse locally.

    ``operation`` is the endpoint (:data:`GENERATE` or :data:`EDIT`);
    ``input_images`` counts the images an edit sends (the edited one first) and
    ``mask`` says whether it sends a mask.

    Returns the options with defaults filled in plus human-readable warnings
    (retired or unknown model). Raises :class:`BadInput` naming the allowed values.
    """
    warnings: list[str] = []
    if not model or any(ch.isspace() for ch in model) or len(model) > 100:
        raise BadInput(f"invalid model name {model!r}")
    spec = MODELS.get(model)
    if spec is None:
        warnings.append(f"unknown model {model!r}: sending it as is (fine for OpenAI-compatible servers)")
        rules = _UNKNOWN_MODEL
    else:
        rules = spec
        today = today or date.today()
        if spec.retired_on and spec.retired_on <= today:
            warnings.append(
                f"{model} was retired on {spec.retired_on.isoformat()}; OpenAI will refuse it "
                f"(use {spec.replacement}). Sending it anyway for compatible servers."
            )

    if not prompt or not prompt.strip():
        raise BadInput("the prompt is empty")
    if "\x00" in prompt:
        raise BadInput("the prompt contains a NUL character")
    limit = rules.prompt_limit
    if len(prompt) > limit:
        raise BadInput(f"the prompt is {len(prompt)} characters; {model} takes at most {limit}")

    output_format = output_format or "png"
    if output_format == "jpg":
        output_format = "jpeg"
    if output_format not in OUTPUT_FORMATS or (spec and output_format not in spec.output_formats):
        allowed = spec.output_formats if spec else OUTPUT_FORMATS
        raise BadInput(f"format {output_format!r} is not available for {model}; use one of: {', '.join(allowed)}")

    if size is None:
        size = rules.default_size
    _check_size(rules, model, size)

    if quality is not None and spec and quality not in spec.qualities:
        raise BadInput(f"quality {quality!r} is not available for {model}; use one of: {', '.join(spec.qualities)}")
    if style is not None:
        if spec and not spec.styles:
            raise BadInput(f"{model} does not take --style; describe the style in the prompt instead")
        if spec and style not in spec.styles:
            raise BadInput(f"style {style!r} is not available for {model}; use one of: {', '.join(spec.styles)}")
    if background is not None:
        if background not in BACKGROUNDS:
            raise BadInput(f"background {background!r} is not valid; use one of: {', '.join(BACKGROUNDS)}")
        if spec and not spec.takes_background:
            raise BadInput(f"{model} does not take --background")
        if background == "transparent" and output_format == "jpeg":
            raise BadInput("a transparent background needs --format png or webp")
    _check_endpoint(spec, model, operation, style=style, moderation=moderation, compression=compression,
                    input_fidelity=input_fidelity, input_images=input_images, mask=mask)
    _check_variants(spec, model, n)
    if moderation is not None:
        allowed = spec.moderations if spec else MODERATIONS
        if moderation not in allowed:
            raise BadInput(f"moderation {moderation!r} is not available for {model}"
                           + (f"; use one of: {', '.join(allowed)}" if allowed else ""))
    if compression is not None:
        if isinstance(compression, bool) or not isinstance(compression, int) or not 0 <= compression <= 100:
            raise BadInput(f"compression {compression!r} is not valid; use a whole number from 0 to 100")
        if output_format not in COMPRESSIBLE_FORMATS:
            raise BadInput(f"--compression needs --format {' or '.join(COMPRESSIBLE_FORMATS)} "
                           f"(not {output_format})")
        if spec and not spec.takes_compression:
            raise BadInput(f"{model} does not take --compression")
    if input_fidelity is not None and spec is not None and input_fidelity not in spec.input_fidelities:
        if not spec.input_fidelities:
            raise BadInput(f"{model} does not take --input-fidelity; leave it out")
        raise BadInput(f"input fidelity {input_fidelity!r} is not available for {model}; "
                       f"use one of: {', '.join(spec.input_fidelities)}")
    return ValidatedOptions(model, size, quality, style, output_format, background, tuple(warnings),
                            n=n, moderation=moderation, compression=compression, input_fidelity=input_fidelity)


def _check_endpoint(spec: ModelSpec | None, model: str, operation: str, **given: Any) -> None:
    """Refuse options the endpoint does not take, and edits the model cannot do."""
    if operation not in ENDPOINT_PARAMS:
        raise BadInput(f"unknown operation {operation!r}")
    taken = ENDPOINT_PARAMS[operation]
    sent = {name for name, value in given.items() if value not in (None, False, 0)}
    for name in sorted(sent - taken):
        what = "edits" if operation == EDIT else "generations"
        raise BadInput(f"{OPTION_FLAGS.get(name, name)} is not available for {what} "
                       f"(the Images API's {operation} endpoint does not take it)")
    if operation != EDIT:
        return
    if spec is not None and not spec.takes_edits:
        raise BadInput(f"{model} does not take edits; use one of: {', '.join(edit_models())}")
    count = given["input_images"]
    if count < 1:
        raise BadInput("an edit needs an image to edit")
    limit = spec.max_input_images if spec else 16
    if count > limit:
        raise BadInput(f"{model} takes at most {limit} input image{'s' if limit > 1 else ''} in one edit "
                       f"(the edited one plus references); {count} given")
    if given["mask"] and spec is not None and not spec.takes_mask:
        raise BadInput(f"{model} does not take --mask")


def _check_variants(spec: ModelSpec | None, model: str, n: int) -> None:
    limit = spec.max_n if spec else 10
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        raise BadInput(f"--n {n!r} is not valid for {model}; use 1 to {limit}")


def _check_size(rules: ModelSpec, model: str, size: str) -> None:
    if rules.sizes is not None:
        if size not in rules.sizes:
            raise BadInput(f"size {size!r} is not available for {model}; use one of: {rules.size_help()}")
        return
    dims = parse_size(size)
    if dims is None:
        return
    width, height = dims
    problems = []
    if width % rules.size_multiple or height % rules.size_multiple:
        problems.append(f"both sides must be multiples of {rules.size_multiple}")
    if max(width, height) / min(width, height) > rules.aspect_limit:
        problems.append(f"aspect ratio must be between 1:{rules.aspect_limit:g} and {rules.aspect_limit:g}:1")
    if max(width, height) > rules.max_edge or width * height > rules.max_pixels:
        problems.append("at most 3840x2160")
    if problems:
        raise BadInput(f"size {size!r} is not valid for {model}: {'; '.join(problems)}")
