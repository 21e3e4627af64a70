"""The app's stats panel: the open post's numbers, as ``blog-images stats POST`` gives them.

The real app through Pilot, the real job engine and SDK against the fake API,
a memory store seeded with images made "elsewhere" (no ledger lines).
"""

from __future__ import annotations

import pytest
from textual.geometry import Region

from blog_images_tui import pricing
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.jobs import JobState
from blog_images_tui.stats import StatsQuery, collect
from blog_images_tui.storage import open_store
from blog_images_tui.tui.app import make_app
from tests.support import await_until
from tests.support.tui import SEED, open_section, seed_store


def shown(widget) -> str:
    """What the panel shows on screen, border line included (its outer size, not its content size)."""
    width, height = widget.outer_size
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, width, height)))

pytestmark = pytest.mark.asyncio


async def test_the_panel_follows_the_open_post_and_its_jobs(memory_store_url, api_env):
    seed_store(memory_store_url)
    app = make_app(memory_store_url, preview="text")
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        panel = screen.query_one("#post-stats")
        await open_section(pilot, "post 53", "section 1")
        await pilot.press("j")
        # Post 53 holds three seeded images, made "elsewhere": counted from their metadata, their
        # cost estimated from the price table (the seed has no cost_usd).
        seeded = sum(pricing.estimate(ImageRequest(prompt=prompt, section=SectionRef(post, section),
                                                   model="gpt-image-2", size="1792x1024", quality="high")).usd
                     for post, section, _name, prompt in SEED if post == 53)
        await await_until(lambda: "Post 53  3 jobs: 3 stored" in shown(panel), what="post 53's stats")
        text = shown(panel)
        assert "0 failed" in text and "success 100%" in text and "(estimated)" in text
        assert f"spend ~{pricing.format_usd(seeded)} (estimated)" in text
        assert "no durations known" in text

        # A job for post 53: when it ends, the panel reads again and counts it (its actual cost, its time).
        await pilot.press("g")
        form = screen.query_one("#form")
        form.set_target(53, 1)
        form.query_one("#prompt").text = "A red fox asleep in the snow"
        form.query_one("#filename").value = "fox"
        await pilot.press("ctrl+s")
        jobs = screen.query_one("#jobs")
        await await_until(lambda: [job.state for job in jobs.jobs.values()] == [JobState.STORED],
                       what="the job stored")
        await pilot.press("j")
        await await_until(lambda: "4 jobs: 4 stored" in shown(panel), what="the new job counted")
        text = shown(panel)
        assert "actual" in text and "estimated" in text and "median " in text and "p95 " in text
        expected = collect(open_store(memory_store_url), StatsQuery(post_id=53)).to_json()
        assert expected["jobs"] == 4 and f"p95 {expected['duration_s']['p95']:.1f}s" in text

        # Another post in the tree: its own numbers.
        tree = screen.query_one("#tree")
        tree.move_cursor(next(node for node in tree.root.children if str(node.label) == "post intro"))
        await await_until(lambda: "Post intro  1 job: 1 stored" in shown(panel), what="post intro's stats")
