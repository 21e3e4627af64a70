"""7. A batch at the account's request limit: wall time against the limit-bound ideal, and 429s.

The fake Images API (in its own process) enforces a request limit like
OpenAI's: "600 requests per minute" as a bucket of 10 refilled over each
second. Part ``headers``: every answer carries ``x-ratelimit-*-requests``;
part ``no-headers``: none do (429s still carry Retry-After). The batch runs
through the real ``JobEngine`` with the default retries, on local disk, after
the openai SDK is imported (the import is ``throughput``'s subject).
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from typing import Any

from bench.common import Row, check, client_settings, worker_main
from bench.servers import FakeAPIProcess

TARGETS = {"headers": 1.10, "no-headers": 1.30}
MAX_429_WITH_HEADERS = 1
LIMIT_RPM = 600
#: OpenAI may enforce a per-minute limit per second or finer: the fake's bucket holds one second.
WINDOW_S = 1.0


def limit_bound_ideal(n: int, concurrency: int, latency: float, rpm: float) -> float:
    """The fastest any client could finish: the request limit or the concurrency, whichever binds."""
    return max(n * 60.0 / rpm, math.ceil(n / concurrency) * latency)


async def run_batch(store, settings, n: int, concurrency: int) -> tuple[float, dict[str, int], Any]:
    from blog_images_tui.generation import ImageRequest
    from blog_images_tui.ids import SectionRef
    from blog_images_tui.jobs import JobEngine

    requests = [ImageRequest(prompt=f"rate limit bench {i}: a lighthouse at dawn", model="gpt-image-2",
                             size="1024x1024", section=SectionRef.parse("bench-limit", i % 4 + 1))
                for i in range(n)]
    engine = JobEngine(store, settings, concurrency=concurrency)
    started = time.perf_counter()
    jobs = await engine.run(requests)
    elapsed = time.perf_counter() - started
    await engine.aclose()
    states: dict[str, int] = {}
    for job in jobs:
        states[job.state.value] = states.get(job.state.value, 0) + 1
    return elapsed, states, engine.pacing.stats


def rows_for(cfg: dict[str, Any], headers: bool) -> list[Row]:
    import openai  # noqa: F401  (imported before the timing: not this benchmark's subject)

    from blog_images_tui.generation import DEFAULT_MAX_RETRIES
    from blog_images_tui.storage import open_store

    n, concurrency, latency = cfg["limit_n"], cfg["limit_concurrency"], cfg["batch_latency"]
    limit = max(1, round(LIMIT_RPM * WINDOW_S / 60))
    ideal = limit_bound_ideal(n, concurrency, latency, LIMIT_RPM)
    part = "headers" if headers else "no-headers"
    with FakeAPIProcess(latency=latency, limit=(limit, WINDOW_S, headers)) as fake:
        settings = client_settings(fake.base_url)
        from dataclasses import replace

        settings = replace(settings, max_retries=DEFAULT_MAX_RETRIES)  # what a user runs with
        store = open_store(tempfile.mkdtemp(prefix="bench-limit-"))
        elapsed, states, stats = asyncio.run(run_batch(store, settings, n, concurrency))
        server = fake.stats()
    target = TARGETS[part]
    ok = check(elapsed / ideal, target)
    if headers:
        ok = ok and server["rate_limited"] <= MAX_429_WITH_HEADERS
    not_stored = n - states.get("stored", 0)
    return [Row("7 rate limit", f"{n} images at {LIMIT_RPM} rpm, --jobs {concurrency}, "
                + ("x-ratelimit headers sent" if headers else "no x-ratelimit headers"), elapsed, "s",
                reference=f"limit-bound ideal {ideal:.2f} s", ratio=elapsed / ideal,
                target=f"<= {target}" + (f", <= {MAX_429_WITH_HEADERS} 429" if headers else ""), ok=ok,
                note=f"{server['rate_limited']} 429s answered, {server['requests']} requests for {n} images, "
                     f"{not_stored} not stored; {latency:g} s latency; limit {limit} per {WINDOW_S:g} s; "
                     f"client waited {stats.waited_s:.1f} s in total",
                extra={"server": server, "states": states, "stats": vars(stats)})]


def run(cfg: dict[str, Any]) -> list[Row]:
    part = cfg["part"] or "headers"
    if part not in TARGETS:
        raise SystemExit(f"unknown part {part!r}")
    return rows_for(cfg, headers=part == "headers")


if __name__ == "__main__":
    worker_main(run)
