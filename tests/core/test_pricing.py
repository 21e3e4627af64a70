"""The price table: published prices, labelled estimates, unknown never zero."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.models import MODELS
from blog_images_tui.pricing import (
    OUTPUT_TOKENS_1024,
    PRICES,
    PRICES_AS_OF,
    CostEstimate,
    actual_cost,
    estimate,
    estimate_cost,
    format_usd,
    total,
)

SECTION = SectionRef(1, 1)


def req(model="gpt-image-1.5", size=None, quality=None, prompt="x" * 40) -> ImageRequest:
    return ImageRequest(prompt=prompt, section=SECTION, model=model, size=size, quality=quality)


PROMPT_TEXT_USD = 10 * 5.0 / 1e6  # 40 characters ~ 10 text tokens at $5/1M


@pytest.mark.parametrize("model, size, quality, published", [
    ("gpt-image-1", "1024x1024", "low", 0.011),
    ("gpt-image-1", "1536x1024", "high", 0.25),
    ("gpt-image-1.5", "1024x1536", "medium", 0.05),
    ("gpt-image-1.5", "1024x1024", "high", 0.133),
])
def test_published_per_image_prices_plus_prompt_tokens(model, size, quality, published):
    cost = estimate(req(model, size, quality))
    assert cost.basis == "published"
    assert cost.usd == pytest.approx(published + PROMPT_TEXT_USD)


def test_mini_model_has_its_own_cheaper_prices():
    mini = estimate(req("gpt-image-1-mini", "1024x1024", "medium")).usd
    full = estimate(req("gpt-image-1", "1024x1024", "medium")).usd
    assert mini == pytest.approx(0.011 + 10 * 2.0 / 1e6)
    assert mini < full


def test_dalle_prices_are_per_image_only():
    assert estimate(req("dall-e-3", "1792x1024", "hd")).usd == 0.12
    assert estimate(req("dall-e-3", None, None)).usd == 0.08  # default size 1792x1024, standard
    assert estimate(req("dall-e-2", "256x256", None)).usd == 0.016


def test_quality_auto_is_priced_as_high_and_labelled():
    auto = estimate(req("gpt-image-1.5", "1024x1024", "auto"))
    high = estimate(req("gpt-image-1.5", "1024x1024", "high"))
    assert auto.usd == high.usd
    assert auto.basis == "estimate" and "upper bound" in auto.note
    # No quality at all means the API's default, auto:
    assert estimate(req("gpt-image-1.5", "1024x1024", None)).usd == high.usd


def test_free_sizes_are_token_estimates_that_scale_with_area():
    small = estimate(req("gpt-image-2", "1024x1024", "medium"))
    large = estimate(req("gpt-image-2", "2048x1024", "medium"))
    assert small.basis == large.basis == "estimate"
    assert "output tokens" in small.note
    image_part = OUTPUT_TOKENS_1024["medium"] * 30.0 / 1e6
    assert small.usd == pytest.approx(image_part + PROMPT_TEXT_USD)
    assert large.usd == pytest.approx(2 * image_part + PROMPT_TEXT_USD)


def test_unknown_model_or_quality_costs_unknown_not_zero():
    for request in (req("my-local-model"), req("gpt-image-2.5-flare", quality="high"),
                    req("gpt-image-2.5-flare", quality="xhigh")):
        cost = estimate(request)
        assert cost.usd is None and cost.basis == "unknown" and not cost.known
        assert estimate_cost(request) is None
    assert format_usd(None) == "unknown"


def test_estimate_cost_is_a_float_for_the_tui():
    value = estimate_cost(req("gpt-image-2"))  # unvalidated request: defaults filled like validation does
    assert isinstance(value, float) and value > 0


def test_every_priced_model_is_a_known_model():
    assert set(PRICES) <= set(MODELS)
    assert PRICES_AS_OF.count("-") == 2


def test_actual_cost_from_token_usage():
    usage = {"input_tokens": 12, "input_tokens_details": {"text_tokens": 12, "image_tokens": 0},
             "output_tokens": 1056, "output_tokens_details": {"image_tokens": 1056, "text_tokens": 0}}
    cost = actual_cost(req("gpt-image-1", "1024x1024", "medium"), usage)
    assert cost.basis == "usage"
    assert cost.usd == pytest.approx((12 * 5.0 + 1056 * 40.0) / 1e6)
    # ~ the published per-image price for the same image:
    assert cost.usd == pytest.approx(0.042, rel=0.01)


def test_actual_cost_without_details_counts_all_output_as_image_tokens():
    cost = actual_cost(req("gpt-image-1.5", "1024x1024", "low"), {"input_tokens": 4, "output_tokens": 272})
    assert cost.usd == pytest.approx((4 * 5.0 + 272 * 32.0) / 1e6)


def test_actual_cost_of_per_image_models_and_unknowns():
    assert actual_cost(req("dall-e-3", "1024x1024", "standard"), None).usd == 0.04
    assert actual_cost(req("gpt-image-1"), None).usd is None  # a token-billed model without usage
    assert actual_cost(req("my-local-model"), {"output_tokens": 10}).usd is None


def test_total_keeps_unknowns_apart():
    summed = total([CostEstimate(0.5, "published"), CostEstimate(None, "unknown"), CostEstimate(0.25, "estimate")])
    assert summed.usd == 0.75 and summed.unknown == 1 and summed.estimated
    assert summed.describe() == "~$0.750 + 1 of unknown cost"
    assert total([]).describe() == "$0.000"


@given(quality_pair=st.sampled_from([("low", "medium"), ("medium", "high"), ("low", "high")]),
       width=st.integers(1, 240).map(lambda n: n * 16), height=st.integers(1, 135).map(lambda n: n * 16))
def test_free_size_estimates_grow_with_quality(quality_pair, width, height):
    cheap, dear = (estimate(req("gpt-image-2", f"{width}x{height}", q)).usd for q in quality_pair)
    assert 0 < cheap < dear
