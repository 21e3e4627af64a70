"""What an image costs: a price table per model, size and quality, as data.

Two kinds of numbers, never mixed up:

* **published**: OpenAI's own per-image prices (pricing page and model pages)
  for the fixed sizes of gpt-image-1, gpt-image-1-mini, gpt-image-1.5 and
  DALL-E, and their per-million-token rates.
* **estimate**: everything derived: free-form sizes (tokens scaled by pixel
  area from gpt-image-1's published token counts), ``quality=auto`` (priced as
  ``high``, an upper bound), ``size=auto``, and models whose rates we only know
  from third-party pages. Estimates say so in :attr:`CostEstimate.basis`.

A model (or quality) we have no numbers for costs *unknown* (``None``), never
zero: a budget cannot be kept with a guess of nothing.

Sources (table assembled on :data:`PRICES_AS_OF`):

* gpt-image-1, gpt-image-1.5, DALL-E 2 and 3: OpenAI's per-image table and
  token rates on https://platform.openai.com/docs/pricing, as published in
  2025 (gpt-image-1.5 since its December 2025 launch).
* gpt-image-1-mini: its model page,
  https://developers.openai.com/api/docs/models/gpt-image-1-mini.
* gpt-image-2 token rates ($5 text in, $8 image in, $30 image out per 1M):
  not on a page we could read from OpenAI; as quoted from OpenAI's model page
  by https://xairouter.com/en/models/gpt-image-2/ and other resellers. Every
  gpt-image-2 number is therefore labelled an estimate.
* chatgpt-image-latest: assumed to cost what gpt-image-1.5 costs (estimate).
* gpt-image-2.5/2.6 (sunburst, flare): no price known to us: unknown.

Prices change: check the pricing page before trusting a budget to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from blog_images_tui.errors import BadInput
from blog_images_tui.models import MODELS, parse_size

if TYPE_CHECKING:  # pragma: no cover
    from blog_images_tui.generation import ImageRequest

PRICES_AS_OF = "2026-11-24"
PRICES_SOURCE = "https://platform.openai.com/docs/pricing"

#: Output image tokens of a 1024x1024 image per quality (OpenAI's published
#: gpt-image-1 figures); larger images cost proportionally more tokens.
OUTPUT_TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160}
_MEGAPIXEL_1024 = 1024 * 1024
#: What ``size=auto`` is priced as on free-form models (an estimate).
AUTO_SIZE_ESTIMATE = "1536x1024"
#: ~4 characters per text token, for prompt estimates.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class TokenRates:
    """USD per one million tokens."""

    text_input: float
    image_input: float
    image_output: float
    text_output: float = 0.0


@dataclass(frozen=True)
class ModelPricing:
    """The prices of one model. ``per_image[quality][size]`` are USD per image."""

    model: str
    source: str
    #: True when the numbers are not OpenAI's own published ones for this model.
    estimated: bool
    per_image: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    tokens: TokenRates | None = None
    #: the quality the API uses when none is given
    default_quality: str = "auto"


def _three_sizes(square: float, portrait: float, landscape: float) -> dict[str, float]:
    return {"1024x1024": square, "1024x1536": portrait, "1536x1024": landscape}


_GPT_IMAGE_1 = ModelPricing(
    model="gpt-image-1", source=PRICES_SOURCE, estimated=False,
    per_image={"low": _three_sizes(0.011, 0.016, 0.016), "medium": _three_sizes(0.042, 0.063, 0.063),
               "high": _three_sizes(0.167, 0.25, 0.25)},
    tokens=TokenRates(text_input=5.0, image_input=10.0, image_output=40.0),
)
_GPT_IMAGE_1_MINI = ModelPricing(
    model="gpt-image-1-mini", source="https://developers.openai.com/api/docs/models/gpt-image-1-mini",
    estimated=False,
    per_image={"low": _three_sizes(0.005, 0.006, 0.006), "medium": _three_sizes(0.011, 0.015, 0.015),
               "high": _three_sizes(0.036, 0.052, 0.052)},
    tokens=TokenRates(text_input=2.0, image_input=2.5, image_output=8.0),
)
_GPT_IMAGE_1_5 = ModelPricing(
    model="gpt-image-1.5", source=PRICES_SOURCE, estimated=False,
    per_image={"low": _three_sizes(0.009, 0.013, 0.013), "medium": _three_sizes(0.034, 0.05, 0.05),
               "high": _three_sizes(0.133, 0.2, 0.2)},
    tokens=TokenRates(text_input=5.0, image_input=8.0, image_output=32.0, text_output=10.0),
)
_GPT_IMAGE_2 = ModelPricing(
    model="gpt-image-2",
    source="OpenAI's rates as quoted by https://xairouter.com/en/models/gpt-image-2/",
    estimated=True, tokens=TokenRates(text_input=5.0, image_input=8.0, image_output=30.0),
)

#: model -> pricing; aliases and snapshots share their family's numbers.
PRICES: dict[str, ModelPricing] = {
    "gpt-image-1": _GPT_IMAGE_1,
    "gpt-image-1-mini": _GPT_IMAGE_1_MINI,
    "gpt-image-1.5": _GPT_IMAGE_1_5,
    # Not verified: assumed to cost what gpt-image-1.5 costs, hence "estimate".
    "chatgpt-image-latest": ModelPricing(
        model="chatgpt-image-latest", source="assumed equal to gpt-image-1.5", estimated=True,
        per_image=_GPT_IMAGE_1_5.per_image, tokens=_GPT_IMAGE_1_5.tokens),
    "gpt-image-2": _GPT_IMAGE_2,
    "gpt-image-2-2026-04-21": _GPT_IMAGE_2,
    "dall-e-3": ModelPricing(
        model="dall-e-3", source=PRICES_SOURCE, estimated=False, default_quality="standard",
        per_image={"standard": {"1024x1024": 0.04, "1024x1792": 0.08, "1792x1024": 0.08},
                   "hd": {"1024x1024": 0.08, "1024x1792": 0.12, "1792x1024": 0.12}}),
    "dall-e-2": ModelPricing(
        model="dall-e-2", source=PRICES_SOURCE, estimated=False, default_quality="standard",
        per_image={"standard": {"256x256": 0.016, "512x512": 0.018, "1024x1024": 0.02}}),
}


@dataclass(frozen=True)
class CostEstimate:
    """A cost in USD (``None`` when unknown) and how it was arrived at."""

    usd: float | None
    basis: str  # "published", "estimate", "usage" or "unknown"
    note: str = ""

    @property
    def known(self) -> bool:
        return self.usd is not None

    def to_json(self) -> dict[str, Any]:
        return {"usd": None if self.usd is None else round(self.usd, 6), "basis": self.basis, "note": self.note}


def _unknown(note: str) -> CostEstimate:
    return CostEstimate(None, "unknown", note)


def _prompt_tokens(prompt: str) -> int:
    return max(1, len(prompt) // CHARS_PER_TOKEN)


def estimate(request: ImageRequest) -> CostEstimate:
    """The estimated cost of one request (all its ``n`` images), before it is sent.

    Fills the model's defaults (size, quality) the way validation would, but
    never raises: an invalid or unpriced request costs *unknown*.
    """
    pricing = PRICES.get(request.model)
    if pricing is None:
        return _unknown(f"no price known for model {request.model!r}")
    count = getattr(request, "n", 1) or 1  # every variant is an image paid for
    spec = MODELS.get(request.model)
    size = request.size or (spec.default_size if spec else None)
    notes: list[str] = []
    basis = "estimate" if pricing.estimated else "published"
    quality = request.quality or pricing.default_quality
    if quality == "auto":
        quality = "high"
        notes.append("quality auto priced as high (upper bound)")
        basis = "estimate"
    text_cost = 0.0
    if pricing.tokens is not None:
        text_cost = _prompt_tokens(request.prompt or "") * pricing.tokens.text_input / 1e6

    table = pricing.per_image.get(quality)
    if table:
        if size == "auto" or size is None:
            price = max(table.values())
            notes.append("size auto priced as the largest size (upper bound)")
            basis = "estimate"
        elif size in table:
            price = table[size]
        else:
            table = None  # a size the table does not list: fall through to tokens
        if table:
            return CostEstimate(price * count + text_cost, basis, "; ".join(notes + _request_notes(request)))

    if pricing.tokens is None or quality not in OUTPUT_TOKENS_1024:
        return _unknown(f"no price known for {request.model} at quality {quality!r}")
    if size in (None, "auto"):
        size = AUTO_SIZE_ESTIMATE
        notes.append(f"size auto priced as {AUTO_SIZE_ESTIMATE}")
    try:
        dims = parse_size(size)
    except BadInput:
        return _unknown(f"invalid size {size!r}")
    if dims is None:
        return _unknown(f"invalid size {size!r}")
    width, height = dims
    tokens = OUTPUT_TOKENS_1024[quality] * width * height / _MEGAPIXEL_1024
    notes.insert(0, f"~{tokens:.0f} output tokens at ${pricing.tokens.image_output:g}/1M")
    return CostEstimate(tokens * count * pricing.tokens.image_output / 1e6 + text_cost, "estimate",
                        "; ".join(notes + _request_notes(request)))


def _request_notes(request: ImageRequest) -> list[str]:
    notes = []
    if getattr(request, "n", 1) > 1:
        notes.append(f"{request.n} images")
    if getattr(request, "edit", None) is not None:
        notes.append("input images not counted (billed as image input tokens)")
    return notes


def estimate_cost(request: ImageRequest) -> float | None:
    """Estimated USD for one request, or None when unknown (for the TUI's submit bar)."""
    return estimate(request).usd


def actual_cost(request: ImageRequest, usage: Mapping[str, Any] | None) -> CostEstimate:
    """What a generated image cost: from the API's token usage when the model
    is billed by tokens, else its published per-image price, else unknown."""
    pricing = PRICES.get(request.model)
    if pricing is None:
        return _unknown(f"no price known for model {request.model!r}")
    if usage and pricing.tokens is not None:
        rates = pricing.tokens
        input_details = usage.get("input_tokens_details") or {}
        output_details = usage.get("output_tokens_details") or {}
        input_total = int(usage.get("input_tokens") or 0)
        input_images = int(input_details.get("image_tokens") or 0)
        input_text = int(input_details.get("text_tokens") or max(0, input_total - input_images))
        output_total = int(usage.get("output_tokens") or 0)
        output_text = int(output_details.get("text_tokens") or 0)
        output_images = int(output_details.get("image_tokens") or max(0, output_total - output_text))
        usd = (input_text * rates.text_input + input_images * rates.image_input
               + output_images * rates.image_output + output_text * rates.text_output) / 1e6
        basis = "estimate" if pricing.estimated else "usage"
        return CostEstimate(usd, basis, f"tokens x {request.model} rates from {pricing.source}")
    if not pricing.tokens:  # billed per image (DALL-E): the published price is the actual cost
        quoted = estimate(request)
        return CostEstimate(quoted.usd, quoted.basis, quoted.note) if quoted.known else quoted
    return _unknown("the API reported no token usage")


@dataclass(frozen=True)
class CostTotal:
    usd: float
    unknown: int  # requests whose cost is unknown (not counted in usd)
    estimated: bool  # True when any part is an estimate

    def describe(self) -> str:
        text = format_usd(self.usd)
        if self.estimated:
            text = "~" + text
        if self.unknown:
            text += f" + {self.unknown} of unknown cost"
        return text


def total(costs: Iterable[CostEstimate]) -> CostTotal:
    """Sum known costs; count the unknown ones separately."""
    usd, unknown, estimated = 0.0, 0, False
    for cost in costs:
        if cost.usd is None:
            unknown += 1
        else:
            usd += cost.usd
            estimated = estimated or cost.basis == "estimate"
    return CostTotal(usd, unknown, estimated)


def format_usd(usd: float | None) -> str:
    """``$0.042``, ``$12.50``; "unknown" for None."""
    if usd is None:
        return "unknown"
    if usd >= 10:
        return f"${usd:,.2f}"
    return f"${usd:.3f}"


def cost_text(cost: CostEstimate) -> str:
    """An estimated cost in words, for every face: never $0 for a cost we do not know."""
    if cost.usd is None:
        return "cost unknown"
    if cost.basis == "estimate":
        return f"~{format_usd(cost.usd)} (estimate)"
    return f"{format_usd(cost.usd)} (list price)"


def cost_help(cost: CostEstimate) -> str:
    """How an estimate was arrived at (a tooltip's text)."""
    why = {"published": "OpenAI's published price", "estimate": "an estimate",
           "unknown": "no price known"}.get(cost.basis, cost.basis)
    return "; ".join(part for part in (f"Before generating: {why}", cost.note,
                                       f"prices as of {PRICES_AS_OF}") if part)
