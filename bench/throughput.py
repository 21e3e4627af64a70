"""1. Batch throughput through the real JobEngine, and the original design's way.

Parts (one process each, so "cold" really is the first batch of a process):

* ``local`` / ``s3``: a batch of small images (the fake's default PNG) through
  ``JobEngine.run``; the first run of the process ("cold": the openai SDK is
  imported and a client built during it) and then warm runs (a new engine
  each time, as the TUI would start a second batch).
* ``payload``: the same on local disk with ~3 MB noise PNGs, where the tool's
  CPU per image (see ``bench.overhead``) competes with the API's latency.
* ``original``: one image at a time, ``response_format=url``, then a second
  GET to download it, then write image and metadata: the original design.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from typing import Any

from bench.common import Row, check, client_settings, ideal_batch_s, worker_main
from bench.servers import FakeAPIProcess, MotoProcess

TARGET = 1.15
#: everything a runner sends to S3 per image of a 64-image batch (2 PUTs are needed)
S3_REQUESTS_TARGET = 2.2


def make_requests(n: int, tag: str, sections: int = 8) -> list:
    from blog_images_tui.generation import ImageRequest
    from blog_images_tui.ids import SectionRef

    # A batch usually fills a few sections; the tag keeps job ids unique per run.
    return [ImageRequest(prompt=f"bench {tag} image {i}: a lighthouse at dawn", model="gpt-image-2",
                         size="1792x1024", section=SectionRef.parse(f"bench-{tag}", i % sections + 1))
            for i in range(n)]


async def run_engine(store, settings, requests: list, concurrency: int,
                     claims: bool = False) -> tuple[float, dict[str, int], float]:
    """Wall seconds of ``JobEngine.run`` (engine built and closed outside the timing), and the
    longest stall of the event loop meanwhile (what a TUI on that loop would freeze for).
    ``claims``: as ``blog-images batch`` runs on S3, claiming chunks in the store."""
    from blog_images_tui.claims import Coordinator
    from blog_images_tui.jobs import JobEngine

    engine = JobEngine(store, settings, concurrency=concurrency,
                       coordinator=Coordinator(store) if claims else None)
    longest, running = [0.0], [True]

    async def heartbeat() -> None:
        last = time.perf_counter()
        while running[0]:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            longest[0], last = max(longest[0], now - last - 0.005), now

    beat = asyncio.create_task(heartbeat())
    started = time.perf_counter()
    jobs = await engine.run(requests)
    elapsed = time.perf_counter() - started
    running[0] = False
    await beat
    await engine.aclose()
    states: dict[str, int] = {}
    for job in jobs:
        states[job.state.value] = states.get(job.state.value, 0) + 1
    failed = [job for job in jobs if job.state.value != "stored"]
    if failed:
        raise RuntimeError(f"{len(failed)} jobs not stored, first: {failed[0].state.value} {failed[0].error}")
    return elapsed, states, longest[0]


def raw_floor(root_url: str, n: int, concurrency: int) -> float:
    """Wall seconds for ``n`` images with no tool at all: ``concurrency`` threads, one keep-alive
    ``http.client`` connection each, POST, ``json.loads``, ``b64decode``, write to a temp folder."""
    import base64
    import http.client
    import threading
    from urllib.parse import urlsplit

    parts, folder = urlsplit(root_url), tempfile.mkdtemp(prefix="bench-floor-")
    body = json.dumps({"model": "gpt-image-2", "prompt": "floor", "n": 1, "size": "1792x1024"})
    counter = iter(range(n))
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            conn.request("POST", "/v1/images/generations", body, {"Content-Type": "application/json"})
            image = base64.b64decode(json.loads(conn.getresponse().read())["data"][0]["b64_json"])
            with open(os.path.join(folder, f"{index}.png"), "wb") as f:
                f.write(image)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def open_bench_store(kind: str, moto: MotoProcess | None):
    from blog_images_tui.storage import open_store

    if kind == "s3":
        assert moto is not None
        return open_store(f"s3://{moto.new_bucket()}/blog", **moto.store_options())
    return open_store(tempfile.mkdtemp(prefix="bench-store-"))


def engine_rows(cfg: dict[str, Any], kind: str, noise_bytes: int | None = None) -> list[Row]:
    n, concurrency, latency = cfg["batch_n"], cfg["concurrency"], cfg["batch_latency"]
    if noise_bytes:
        n = cfg["payload_n"]
    ideal = ideal_batch_s(n, concurrency, latency)
    label = f"{kind}" + (f", {noise_bytes / 1e6:.1f} MB PNGs" if noise_bytes else ", small PNGs")
    moto = MotoProcess() if kind == "s3" else None
    rows = []
    try:
        with FakeAPIProcess(latency=latency, noise_bytes=noise_bytes) as fake:
            # One store for every run, as in a TUI session; each run fills posts of its own.
            store = open_bench_store(kind, moto)
            settings = client_settings(fake.base_url)
            runs, stalls = [], []
            calls: dict[str, int] = {}
            for index in range(1 + cfg["warm_runs"]):
                if kind == "s3":
                    from bench.browse import counting

                    calls = counting(store.fs)  # the S3 requests of the last run
                elapsed, _states, stall = asyncio.run(
                    run_engine(store, settings, make_requests(n, f"{kind}{index}"), concurrency))
                runs.append(elapsed)
                stalls.append(stall)
            claimed: dict[str, int] = {}
            calls = dict(calls)  # the last warm run's, before the counting below adds to it
            if kind == "s3":
                from bench.browse import counting

                claimed = counting(store.fs)  # the same batch as `blog-images batch` runs it on S3
                asyncio.run(run_engine(store, settings, make_requests(n, f"{kind}-claims"), concurrency, claims=True))
            server = fake.stats()
            floor = raw_floor(fake.root_url, n, concurrency) if kind == "local" else None
        cold, warm = runs[0], min(runs[1:])
        rows.append(Row("1 throughput", f"engine {label}: first batch of the process (cold)", cold, "s",
                        reference=f"ideal {ideal:.2f} s", ratio=cold / ideal, target=f"<= {TARGET}",
                        ok=check(cold / ideal, TARGET),
                        note=f"{n} images, {latency:g} s latency, {concurrency} at once; includes importing "
                             f"the openai SDK; longest event-loop stall {stalls[0] * 1000:.0f} ms",
                        extra={"runs_s": runs, "server": server, "stalls_s": stalls}))
        rows.append(Row("1 throughput", f"engine {label}: warm (best of {len(runs) - 1})", warm, "s",
                        reference=f"ideal {ideal:.2f} s", ratio=warm / ideal, target=f"<= {TARGET}",
                        ok=check(warm / ideal, TARGET),
                        note=f"runs {', '.join(f'{r:.2f}' for r in runs[1:])} s; max {server['max_concurrent']} "
                             f"requests in flight; longest event-loop stall {max(stalls[1:]) * 1000:.0f} ms"
                             + ("; S3 requests per image: " + ", ".join(
                                 f"{count / n:.2g} {name}" for name, count in sorted(calls.items())
                                 if name != "entries returned") if calls else ""),
                        extra={"runs_s": runs, "stalls_s": stalls, "s3_calls": calls}))
        if calls:
            sent = sum(count for name, count in calls.items() if name != "entries returned")
            rows.append(Row("1 throughput", f"engine {label}: S3 requests per image (all a runner sends)",
                            sent / n, "req/img", reference="2 PUTs needed", ratio=sent / n / 2,
                            target=f"<= {S3_REQUESTS_TARGET}", ok=check(sent / n, S3_REQUESTS_TARGET),
                            note=f"{sent} requests for {n} images in {len({r.section for r in make_requests(n, 'x')})} "
                                 "sections: " + ", ".join(f"{count} {name}" for name, count in sorted(calls.items())
                                                          if name != "entries returned"),
                            extra={"s3_calls": calls}))
        if claimed:
            sent = sum(count for name, count in claimed.items() if name != "entries returned")
            rows.append(Row("1 throughput", f"engine {label}: S3 requests per image with claims (batch's S3 default)",
                            sent / n, "req/img", reference="2 PUTs needed", ratio=sent / n / 2,
                            target=f"<= {S3_REQUESTS_TARGET}", ok=check(sent / n, S3_REQUESTS_TARGET),
                            note=f"{sent} requests: " + ", ".join(f"{count} {name}" for name, count in
                                                                sorted(claimed.items()) if name != "entries returned"),
                            extra={"s3_calls": claimed}))
        if floor is not None:
            rows.append(Row("1 throughput", f"raw floor, {label}: http.client, {concurrency} threads, no tool", floor,
                            "s", reference=f"ideal {ideal:.2f} s", ratio=floor / ideal,
                            note="POST + json + b64decode + write: what this machine and this fake server allow"))
    finally:
        if moto is not None:
            moto.stop()
    return rows


def original_design(base_url: str, n: int, write) -> float:
    """The original design: sync client, one image at a time, URL answer, second GET, write."""
    import httpx
    import openai

    client = openai.OpenAI(api_key="sk-bench-original", base_url=base_url, max_retries=0)
    http = httpx.Client()
    started = time.perf_counter()
    for index in range(n):
        prompt = f"original {index}: a lighthouse at dawn"
        response = client.images.generate(model="dall-e-3", prompt=prompt, n=1, size="1792x1024",
                                          response_format="url")
        image = http.get(response.data[0].url).content
        metadata = {"post_id": 1, "section_id": 1, "prompt": prompt, "model": "dall-e-3", "size": "1792x1024",
                    "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "revised_prompt": response.data[0].revised_prompt}
        write(f"original-{index}", image, metadata)
    elapsed = time.perf_counter() - started
    http.close()
    client.close()
    return elapsed


def original_rows(cfg: dict[str, Any]) -> list[Row]:
    n, concurrency, latency = cfg["original_n"], cfg["concurrency"], cfg["batch_latency"]
    rows = []
    with FakeAPIProcess(latency=latency) as fake:
        folder = tempfile.mkdtemp(prefix="bench-original-")

        def write_local(name: str, image: bytes, metadata: dict) -> None:
            with open(os.path.join(folder, name + ".png"), "wb") as f:
                f.write(image)
            with open(os.path.join(folder, name + "_metadata.json"), "w") as f:
                json.dump(metadata, f, indent=2)

        def s3_writer(moto: MotoProcess):
            import boto3

            bucket = moto.new_bucket("original")
            s3 = boto3.client("s3", endpoint_url=moto.endpoint_url, region_name="us-east-1")

            def write_s3(name: str, image: bytes, metadata: dict) -> None:
                s3.put_object(Bucket=bucket, Key=f"raw/{name}.png", Body=image, ContentType="image/png")
                s3.put_object(Bucket=bucket, Key=f"raw/{name}_metadata.json", Body=json.dumps(metadata).encode(),
                              ContentType="application/json")
            return write_s3

        moto = MotoProcess() if "s3" in cfg["original_stores"] else None
        writers = [("local", write_local)] + ([("s3", s3_writer(moto))] if moto else [])
        for kind, write in writers:
            elapsed = original_design(fake.base_url, n, write)
            per_image = elapsed / n
            # Scaled to the engine's batch size so the two can be read side by side.
            batch_n = cfg["batch_n"]
            projected = per_image * batch_n
            ideal = ideal_batch_s(batch_n, concurrency, latency)
            rows.append(Row("1 throughput", f"original design, {kind}: one at a time, url + GET", projected, "s",
                            reference=f"ideal {ideal:.2f} s", ratio=projected / ideal,
                            note=f"{per_image:.3f} s per image over {n} images, x {batch_n}"
                                 + ("" if n == batch_n else " (projected)"),
                            extra={"per_image_s": per_image, "n": n}))
        server = fake.stats()
        rows[-1].extra["server"] = server
        if moto is not None:
            moto.stop()
    return rows


def run(cfg: dict[str, Any]) -> list[Row]:
    part = cfg["part"] or "local"
    if part in ("local", "s3"):
        return engine_rows(cfg, part)
    if part == "payload":
        return engine_rows(cfg, "local", noise_bytes=cfg["noise_bytes"])
    if part == "original":
        return original_rows(cfg)
    raise SystemExit(f"unknown part {part!r}")


if __name__ == "__main__":
    worker_main(run)
