"""2. Per-image overhead with realistic payloads, at zero API latency.

CPU milliseconds per image (``time.process_time`` of this process, which holds
only the client: the fake API runs in a child process) over N images in a
row, warm (SDK imported, connection open):

* baseline: ``http.client`` POST, ``json.loads``, ``base64.b64decode``, write
  the file: the least any tool could do with this API;
* baseline + fsync: the same, made durable like the tool's writes;
* the tool through ``JobEngine.run`` (concurrency 1) and through
  ``service.generate_into_store``: from the response to the image and its
  metadata stored on local disk.

Then the tool's steps one by one on the same payload, to show where the time
goes (``breakdown`` rows; informational).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import http.client
import json
import os
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit

from bench.common import Row, check, client_settings, worker_main
from bench.servers import FakeAPIProcess

TARGET = 1.5
BODY = json.dumps({"model": "gpt-image-2", "prompt": "bench: a lighthouse at dawn", "n": 1, "size": "1792x1024",
                   "output_format": "png"})


def cpu_per_image(fn, n: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call of ``fn`` over ``n`` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for index in range(n):
        fn(index)
    return (time.process_time() - cpu) / n * 1000, (time.perf_counter() - wall) / n * 1000


def baseline(root_url: str, n: int, folder: str, fsync: bool) -> tuple[float, float]:
    parts = urlsplit(root_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}

    def one(index: int) -> None:
        conn.request("POST", "/v1/images/generations", BODY, headers)
        body = conn.getresponse().read()
        image = base64.b64decode(json.loads(body)["data"][0]["b64_json"])
        with open(os.path.join(folder, f"baseline-{fsync}-{index}.png"), "wb") as f:
            f.write(image)
            if fsync:
                f.flush()
                os.fsync(f.fileno())

    one(-1)  # connection open, caches warm
    result = cpu_per_image(one, n)
    conn.close()
    return result


def tool_engine(base_url: str, n: int) -> tuple[float, float]:
    from bench.throughput import make_requests
    from blog_images_tui.jobs import JobEngine
    from blog_images_tui.storage import open_store

    store = open_store(tempfile.mkdtemp(prefix="bench-overhead-"))
    settings = client_settings(base_url)

    async def go() -> tuple[float, float]:
        engine = JobEngine(store, settings, concurrency=1)
        await engine.run(make_requests(1, "warm", sections=1))
        requests = make_requests(n, "timed", sections=1)
        cpu, wall = time.process_time(), time.perf_counter()
        jobs = await engine.run(requests)
        result = (time.process_time() - cpu) / n * 1000, (time.perf_counter() - wall) / n * 1000
        await engine.aclose()
        assert all(job.state.value == "stored" for job in jobs), [job.error for job in jobs]
        return result

    return asyncio.run(go())


def tool_service(base_url: str, n: int) -> tuple[float, float]:
    from bench.throughput import make_requests
    from blog_images_tui.generation import ImageGenerator
    from blog_images_tui.pacing import Pacing
    from blog_images_tui.service import generate_into_store
    from blog_images_tui.storage import open_store

    store = open_store(tempfile.mkdtemp(prefix="bench-overhead-"))

    async def go() -> tuple[float, float]:
        async with ImageGenerator(client_settings(base_url)) as generator:
            pacing = Pacing(max_retries=0)
            await generate_into_store(make_requests(1, "svc-warm", sections=1)[0], store, generator, pacing=pacing)
            requests = [r.validated() for r in make_requests(n, "svc", sections=1)]
            cpu, wall = time.process_time(), time.perf_counter()
            for request in requests:
                await generate_into_store(request, store, generator, check_store=False, pacing=pacing)
            return (time.process_time() - cpu) / n * 1000, (time.perf_counter() - wall) / n * 1000

    return asyncio.run(go())


def breakdown(base_url: str, root_url: str, n: int) -> dict[str, float]:
    """CPU ms per image of each step of the tool's path, measured alone on the same payload."""
    from bench.throughput import make_requests
    from blog_images_tui.generation import ImageGenerator, decode_b64
    from blog_images_tui.imageformat import verify_image
    from blog_images_tui.metadata import build_metadata
    from blog_images_tui.storage import encode_metadata, open_store

    steps: dict[str, float] = {}
    request = make_requests(1, "breakdown", sections=1)[0].validated()
    generator = ImageGenerator(client_settings(base_url))
    params = generator._params(request)

    async def sdk_calls(client) -> tuple[float, str]:
        raw = await client.images.with_raw_response.generate(**params)
        raw.parse()
        cpu = time.process_time()
        for _ in range(n):
            raw = await client.images.with_raw_response.generate(**params)
            b64 = raw.parse().data[0].b64_json
        return (time.process_time() - cpu) / n * 1000, b64

    async def go() -> str:
        client = await generator.ready()
        steps["SDK request, read and parse (httpx2)"], b64 = await sdk_calls(client)
        await generator.aclose()
        try:  # the SDK's other transport, for comparison only (not what the tool uses)
            import openai

            aio = openai.AsyncOpenAI(api_key="sk-bench", base_url=base_url, max_retries=0,
                                     http_client=openai.DefaultAioHttpClient())
            steps["(for comparison: the same with the SDK's aiohttp transport)"], _ = await sdk_calls(aio)
            await aio.close()
        except Exception:  # noqa: BLE001 - optional
            pass
        return b64

    b64 = asyncio.run(go())
    steps["base64 decode (tool: whitespace-tolerant)"] = cpu_per_image(lambda _i: decode_b64(b64, 1 << 30), n)[0]
    steps["(for comparison: base64 decode, lenient: baseline)"] = cpu_per_image(
        lambda _i: binascii.a2b_base64(b64), n)[0]
    image = decode_b64(b64, 1 << 30)
    info = verify_image(image, "png")
    steps["verify image (every PNG chunk CRC)"] = cpu_per_image(lambda _i: verify_image(image, "png"), n)[0]

    from blog_images_tui.generation import GeneratedImage

    generated = GeneratedImage(image, info, None, None, "req", 0.0, "b64_json")
    steps["metadata (sha256 + JSON)"] = cpu_per_image(
        lambda _i: encode_metadata(build_metadata(request, generated, image_path="/x")), n)[0]
    store = open_store(tempfile.mkdtemp(prefix="bench-breakdown-"))
    metadata = build_metadata(request, generated, image_path="/x")
    steps["Store.save: image + metadata, fsynced (local)"] = cpu_per_image(
        lambda i: store.save(request.section, f"b{i}", "png", image, metadata), n)[0]
    return steps


def run(cfg: dict[str, Any]) -> list[Row]:
    n = cfg["overhead_n"]
    rows = []
    with FakeAPIProcess(latency=0.0, noise_bytes=cfg["noise_bytes"]) as fake:
        size_mb = (fake.image_bytes or 0) / 1e6
        folder = tempfile.mkdtemp(prefix="bench-baseline-")
        base_cpu, base_wall = baseline(fake.root_url, n, folder, fsync=False)
        sync_cpu, sync_wall = baseline(fake.root_url, n, folder, fsync=True)
        engine_cpu, engine_wall = tool_engine(fake.base_url, n)
        service_cpu, service_wall = tool_service(fake.base_url, n)
        steps = breakdown(fake.base_url, fake.root_url, n)
    payload = f"{size_mb:.1f} MB PNG, {n} images"
    rows.append(Row("2 overhead", "baseline: http.client + json + b64decode + write", base_cpu, "ms CPU/img",
                    note=f"{payload}; wall {base_wall:.1f} ms/img"))
    rows.append(Row("2 overhead", "baseline + fsync (durable like the tool)", sync_cpu, "ms CPU/img",
                    reference=f"baseline {base_cpu:.1f} ms", ratio=sync_cpu / base_cpu,
                    note=f"wall {sync_wall:.1f} ms/img"))
    for name, cpu, wall in (("tool: JobEngine.run, local store", engine_cpu, engine_wall),
                            ("tool: service.generate_into_store, local store", service_cpu, service_wall)):
        rows.append(Row("2 overhead", name, cpu, "ms CPU/img", reference=f"baseline {base_cpu:.1f} ms",
                        ratio=cpu / base_cpu, target=f"<= {TARGET}", ok=check(cpu / base_cpu, TARGET),
                        note=f"wall {wall:.1f} ms/img; vs baseline+fsync x{cpu / sync_cpu:.2f}"))
    for name, cpu in steps.items():
        rows.append(Row("2 overhead", f"  step: {name}", cpu, "ms CPU/img", note="measured alone"))
    return rows


if __name__ == "__main__":
    worker_main(run)
