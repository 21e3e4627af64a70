"""Costs in words, for the submit bar and the jobs list (the numbers are :mod:`blog_images_tui.pricing`'s)."""

from __future__ import annotations

from blog_images_tui.pricing import PRICES_AS_OF, CostEstimate, format_usd


def cost_text(cost: CostEstimate) -> str:
    """An estimated cost in words: never $0 for a cost we do not know."""
    if cost.usd is None:
        return "cost unknown"
    if cost.basis == "estimate":
        return f"~{format_usd(cost.usd)} (estimate)"
    return f"{format_usd(cost.usd)} (list price)"


def cost_help(cost: CostEstimate) -> str:
    """The tooltip of the cost: how it was arrived at."""
    why = {"published": "OpenAI's published price", "estimate": "an estimate",
           "unknown": "no price known"}.get(cost.basis, cost.basis)
    return "; ".join(part for part in (f"Before generating: {why}", cost.note,
                                       f"prices as of {PRICES_AS_OF}") if part)
