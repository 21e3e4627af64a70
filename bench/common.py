"""What every benchmark shares: result rows, scales, the worker protocol.

Each benchmark module runs in its own Python process (``python -m bench.<name>
--scale S``) so that one benchmark's imports, caches and memory never flatter
the next one, and prints its rows as one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

#: Sizes per scale. "full" is what the issue asks for; "quick" is a few-minute
#: sanity run; "smoke" only proves the harness runs (CI).
SCALES: dict[str, dict[str, Any]] = {
    "full": {
        "batch_n": 64, "batch_latency": 0.5, "concurrency": 8, "warm_runs": 2, "original_n": 64,
        "payload_n": 64, "overhead_n": 40, "browse_small_posts": 4, "browse_big_posts": 400, "browse_repeats": 15,
        "startup_runs": 10, "memory_sizes": (25, 100), "noise_bytes": 3_000_000,
        "memory_stores": ("local", "s3"), "tui_s3": True, "original_stores": ("local", "s3"),
        "limit_n": 60, "limit_concurrency": 16,
    },
    "quick": {
        "batch_n": 32, "batch_latency": 0.5, "concurrency": 8, "warm_runs": 1, "original_n": 8,
        "payload_n": 32, "overhead_n": 15, "browse_small_posts": 4, "browse_big_posts": 100, "browse_repeats": 5,
        "startup_runs": 5, "memory_sizes": (10, 40), "noise_bytes": 3_000_000,
        "memory_stores": ("local", "s3"), "tui_s3": True, "original_stores": ("local", "s3"),
        "limit_n": 30, "limit_concurrency": 16,
    },
    "smoke": {
        "batch_n": 4, "batch_latency": 0.05, "concurrency": 2, "warm_runs": 1, "original_n": 2,
        "payload_n": 2, "overhead_n": 2, "browse_small_posts": 1, "browse_big_posts": 2, "browse_repeats": 1,
        "startup_runs": 1, "memory_sizes": (2, 4), "noise_bytes": 200_000,
        "memory_stores": ("local",), "tui_s3": False, "original_stores": ("local",),
        "limit_n": 4, "limit_concurrency": 2,
    },
}

#: Images per section and files per image in the browse stores (image + metadata JSON).
IMAGES_PER_SECTION = 10
SECTIONS_PER_POST = 3
BENCH_KEY = "sk-bench-not-a-real-key-0123456789"


@dataclass
class Row:
    """One measured number beside what it is compared with."""

    bench: str  # "1 throughput", ...
    name: str
    value: float | None
    unit: str
    reference: str = ""  # e.g. "ideal 4.00 s", "baseline 31.2 ms"
    ratio: float | None = None
    target: str = ""  # e.g. "<= 1.15"
    ok: bool | None = None  # None: no target
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def check(ratio: float | None, limit: float) -> bool | None:
    return None if ratio is None else ratio <= limit


def ideal_batch_s(n: int, concurrency: int, latency: float) -> float:
    return math.ceil(n / concurrency) * latency


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def isolate_environment() -> str:
    """Point every per-user location of the tool at a temp folder; no real keys or stores."""
    home = tempfile.mkdtemp(prefix="blog-images-bench-")
    for name in ("OPENAI_AUTH_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL", "BLOG_IMAGES_STORE",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ["BLOG_IMAGES_RECOVERY_DIR"] = os.path.join(home, "recovery")
    os.environ["XDG_CONFIG_HOME"] = os.path.join(home, "config")
    os.environ["XDG_STATE_HOME"] = os.path.join(home, "state")
    tempfile.tempdir = home  # every store and copy of this worker goes here, removed at its end
    return home


def client_settings(base_url: str):
    from blog_images_tui.generation import ClientSettings
    from blog_images_tui.secrets import ApiKey

    return ClientSettings(api_key=ApiKey(BENCH_KEY, "bench"), base_url=base_url, max_retries=0)


def worker_main(run: Callable[[dict[str, Any]], list[Row]]) -> None:
    """Entry point of ``python -m bench.<name> --scale S [--part P]``: run, print rows as one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--part", default="", help="which part of the benchmark (module specific)")
    args = parser.parse_args()
    home = isolate_environment()
    try:
        rows = run(dict(SCALES[args.scale], scale=args.scale, part=args.part))
    finally:
        shutil.rmtree(home, ignore_errors=True)  # the payload and memory runs leave ~1 GB of images
    sys.stdout.write("BENCH-ROWS " + json.dumps([asdict(row) for row in rows]) + "\n")
    sys.stdout.flush()
