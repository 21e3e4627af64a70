"""Costs in words for the submit bar and the jobs list: defined once in :mod:`blog_images_tui.pricing`."""

from __future__ import annotations

from blog_images_tui.pricing import cost_help, cost_text

__all__ = ["cost_help", "cost_text"]
