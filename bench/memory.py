"""5. Peak memory during a batch of ~3 MB images, and whether it grows with the batch.

Each batch runs in a fresh process (``--part measure:<store>:<n>``): the
fake API and moto run in their own processes, so the RSS measured is the
tool's alone. Peak RSS is sampled every 5 ms with psutil during
``JobEngine.run`` (8 at once, 0.2 s latency) and cross-checked with
``ru_maxrss``; "before" is the process after its imports and an open store.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import Row, client_settings, worker_main

TARGET_MB = 300
LATENCY = 0.2
CONCURRENCY = 8
ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # Linux fallback
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(kind: str, n: int, noise_bytes: int) -> dict[str, Any]:
    import openai  # noqa: F401 - imported before "before", like any process that has generated once

    from bench.servers import FakeAPIProcess, MotoProcess
    from bench.throughput import make_requests, open_bench_store
    from blog_images_tui.jobs import JobEngine

    moto = MotoProcess() if kind == "s3" else None
    try:
        with FakeAPIProcess(latency=LATENCY, noise_bytes=noise_bytes) as fake:
            store = open_bench_store(kind, moto)
            settings = client_settings(fake.base_url)
            before = rss_mb()
            peak = [before]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.005):
                    peak[0] = max(peak[0], rss_mb())

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()

            async def go() -> float:
                engine = JobEngine(store, settings, concurrency=CONCURRENCY)
                started = time.perf_counter()
                jobs = await engine.run(make_requests(n, f"mem{n}"))
                elapsed = time.perf_counter() - started
                await engine.aclose()
                assert all(job.state.value == "stored" for job in jobs), [job.error for job in jobs][:3]
                return elapsed

            elapsed = asyncio.run(go())
            done.set()
            sampler.join()
            after = rss_mb()
    finally:
        if moto is not None:
            moto.stop()
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"before": before, "peak": max(peak[0], after), "after": after, "maxrss": maxrss_mb,
            "elapsed": elapsed, "image_bytes": fake.image_bytes}


def run(cfg: dict[str, Any]) -> list[Row]:
    if cfg["part"].startswith("measure:"):
        _, kind, n = cfg["part"].split(":")
        result = measure(kind, int(n), cfg["noise_bytes"])
        return [Row("5 memory", "raw", result["peak"], "MB", extra=result)]
    rows = []
    small, big = cfg["memory_sizes"]
    for kind in cfg["memory_stores"]:
        found = {}
        for n in (small, big):
            command = [sys.executable, "-m", "bench.memory", "--scale", cfg["scale"], "--part", f"measure:{kind}:{n}"]
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                                  env=dict(os.environ, PYTHONPATH=str(ROOT)))
            line = next((text for text in done.stdout.splitlines() if text.startswith("BENCH-ROWS ")), None)
            if line is None:
                raise RuntimeError(f"memory {kind} {n}: {done.stderr[-800:]}")
            found[n] = json.loads(line[len("BENCH-ROWS "):])[0]["extra"]
        for n in (small, big):
            r = found[n]
            rows.append(Row("5 memory", f"peak RSS, batch of {n} x {r['image_bytes'] / 1e6:.1f} MB images, {kind}",
                            r["peak"], "MB", reference=f"target {TARGET_MB} MB", target=f"< {TARGET_MB} MB",
                            ok=r["peak"] < TARGET_MB,
                            note=f"before the batch {r['before']:.0f} MB, after {r['after']:.0f} MB, "
                                 f"ru_maxrss {r['maxrss']:.0f} MB; {CONCURRENCY} at once, {r['elapsed']:.1f} s"))
        growth = found[big]["peak"] - found[small]["peak"]
        rows.append(Row("5 memory", f"growth of the peak, {big} vs {small} images, {kind}", growth, "MB",
                        reference=f"peak x{found[big]['peak'] / found[small]['peak']:.2f}",
                        note="bounded if close to 0: nothing per image is kept after it is stored"))
    return rows


if __name__ == "__main__":
    worker_main(run)
