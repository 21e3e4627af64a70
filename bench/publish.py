"""6. Publish: encoding web derivatives, the tool against the bare encoder calls (issue 13).

The set of the issue: one 1792x1024 source (a PNG with gradients, shapes
and noise, ~2-3 MB like a generated image) to 480, 960 and 1600 wide in AVIF
and WebP (the default publish).

- **floor**: the bare Pillow calls for that set, one after the other, no tool
  around them: decode the PNG once, then per width one LANCZOS resize and
  one ``save`` per format with the options publish uses (AVIF quality 60
  speed 6 one thread, WebP quality 80 method 4).
- **pyvips** side by side: the same set with ``pyvips-binary`` (libvips,
  its AVIF through libheif/aom): at its defaults, and with the effort matched
  to Pillow's (AVIF effort 3 = aom cpu-used 6, WebP effort 4), each with
  libvips' own threads.
- **the tool**: ``Publisher.publish`` end to end on a local store (read the
  source, hash, plan, encode, create each file exclusively, write the
  manifest), with the thread pool and with the process pool, 2 workers
  (the cores), and with 1 worker. Target: one image within 1.2x the floor.
- **a section**: 50 such images published at once (``publish_many``).
  Target: within 1.2x of (50 x floor) / 2 cores. Beside it, the parallel
  floor: the same bare calls for the 50 images, one image per task in 2
  processes, which says what the (shared) cores allowed during the run.
- The event loop's longest stall while publishing (the app must not freeze).
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import tempfile
import time
from typing import Any

from bench.common import Row, check, median, worker_main

WIDTHS = (480, 960, 1600)
SOURCE = (1792, 1024)
ONE_IMAGE_TARGET = 1.2
SECTION_TARGET = 1.2

SIZES = {
    "full": {"section_n": 50, "repeats": 3, "source": SOURCE, "widths": WIDTHS},
    "quick": {"section_n": 10, "repeats": 2, "source": SOURCE, "widths": WIDTHS},
    "smoke": {"section_n": 2, "repeats": 1, "source": (320, 180), "widths": (64, 128)},
}


def make_source(seed: int, size: tuple[int, int]) -> bytes:
    """A photo-like PNG: gradients, soft shapes and grain (encoders work harder on it than on flat colour)."""
    from PIL import Image, ImageDraw, ImageFilter

    width, height = size
    rnd = random.Random(seed)
    base = Image.merge("RGB", (Image.linear_gradient("L").resize(size),
                               Image.linear_gradient("L").rotate(90).resize(size),
                               Image.effect_noise(size, 30).point(lambda v: v // 2 + 64)))
    draw = ImageDraw.Draw(base)
    for _ in range(40):
        x, y = rnd.randrange(width), rnd.randrange(height)
        r = rnd.randrange(width // 40 + 4, width // 6 + 8)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(rnd.randrange(256) for _ in range(3)))
    base = base.filter(ImageFilter.GaussianBlur(2))
    grain = Image.effect_noise(size, 18).convert("RGB")
    image = Image.blend(base, grain, 0.12)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def floor_pillow(data: bytes, widths: tuple[int, ...]) -> float:
    """The bare Pillow calls for the set; wall seconds."""
    from PIL import Image

    started = time.perf_counter()
    image = Image.open(io.BytesIO(data))
    image.load()
    image = image.convert("RGB")
    for width in widths:
        height = round(width * image.height / image.width)
        resized = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        resized.save(io.BytesIO(), "AVIF", quality=60, speed=6, max_threads=1)
        resized.save(io.BytesIO(), "WEBP", quality=80, method=4)
    return time.perf_counter() - started


def floor_pyvips(data: bytes, widths: tuple[int, ...], *, matched: bool) -> float:
    """The same set with libvips: thumbnail (shrink-on-load + lanczos3) then save per format."""
    import pyvips

    pyvips.cache_set_max(0)  # no help from libvips' operation cache between repeats
    started = time.perf_counter()
    for width in widths:
        resized = pyvips.Image.thumbnail_buffer(data, width).copy_memory()  # both formats from one resize
        if matched:
            resized.write_to_buffer(".avif", Q=60, effort=3)
            resized.write_to_buffer(".webp", Q=80, effort=4)
        else:
            resized.write_to_buffer(".avif")
            resized.write_to_buffer(".webp")
    return time.perf_counter() - started


def floor_in_processes(sources: list[bytes], widths: tuple[int, ...], workers: int) -> float:
    """The bare calls for every source, one image per task in ``workers`` processes; wall seconds."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(floor_pillow, [make_source(99, (64, 36))] * workers, [(32,)] * workers))  # start-up
        started = time.perf_counter()
        list(pool.map(floor_pillow, sources, [widths] * len(sources)))
        return time.perf_counter() - started


class LoopWatch:
    """The event loop's longest stall: a ticker that notes how late it wakes up."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.period)
            self.worst = max(self.worst, time.perf_counter() - started - self.period)

    def __enter__(self) -> LoopWatch:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def tool(sources: list[bytes], widths: tuple[int, ...], *, kind: str, workers: int) -> tuple[float, float]:
    """Publish ``sources`` (one section) into a fresh local store; (wall seconds, worst loop stall)."""
    from blog_images_tui.encoderpool import EncoderPool
    from blog_images_tui.ids import SectionRef
    from blog_images_tui.publish import Publisher
    from blog_images_tui.storage import open_store
    from blog_images_tui.webplan import PublishSettings

    store = open_store(tempfile.mkdtemp(prefix="bench-publish-"))
    section = SectionRef(1, 1)
    names = [f"img{i:03d}" for i in range(len(sources))]
    for name, data in zip(names, sources, strict=True):
        store.save(section, name, "png", data, {"post_id": 1, "section_id": 1, "prompt": "a bench image",
                                                "output_format": "png"})
    settings = PublishSettings(widths=widths)

    async def go() -> tuple[float, float]:
        pool = EncoderPool(workers, kind)
        if kind == "process":  # the workers' start-up is paid once per run, not per image: keep it out
            await asyncio.gather(*(pool.inspect(sources[0]) for _ in range(workers)))
        try:
            with LoopWatch() as watch:
                started = time.perf_counter()
                publisher = Publisher(store, pool=pool)
                if len(names) == 1:
                    await publisher.publish(section, names[0], settings)
                else:
                    results = await publisher.publish_many([(section, name) for name in names], settings)
                    failed = [r for r in results if isinstance(r, Exception)]
                    if failed:
                        raise failed[0]
                elapsed = time.perf_counter() - started
            return elapsed, watch.worst
        finally:
            pool.close()

    return asyncio.run(go())


def run(scale: dict[str, Any]) -> list[Row]:
    sizes = SIZES[scale["scale"]]
    widths, repeats = sizes["widths"], sizes["repeats"]
    source = make_source(0, sizes["source"])
    bench = "6 publish"
    rows: list[Row] = []
    set_note = (f"{sizes['source'][0]}x{sizes['source'][1]} PNG ({len(source) / 1e6:.1f} MB) to "
                f"{'/'.join(map(str, widths))} wide in AVIF + WebP")
    warm = make_source(99, (64, 36))  # imports and encoder set-up are not what is measured
    floor_pillow(warm, (32,))
    floor = median([floor_pillow(source, widths) for _ in range(repeats)])
    rows.append(Row(bench, "floor: bare Pillow calls, one after the other", floor, "s",
                    note=f"{set_note}; median of {repeats}"))
    try:
        import pyvips  # noqa: F401  (the bench extra)
    except ImportError:
        rows.append(Row(bench, "pyvips", None, "s", note="not installed: pip install -e '.[bench]'"))
    else:
        floor_pyvips(warm, (32,), matched=True)
        for matched, label in ((False, "at its defaults"), (True, "effort matched to Pillow's")):
            value = median([floor_pyvips(source, widths, matched=matched) for _ in range(repeats)])
            rows.append(Row(bench, f"pyvips-binary {label}", value, "s", reference=f"Pillow floor {floor:.2f} s",
                            ratio=value / floor, note="bare calls, libvips' own threads"))
    cores = os.cpu_count() or 1
    for kind, workers in (("thread", cores), ("process", cores), ("thread", 1)):
        runs = [tool([source], widths, kind=kind, workers=workers) for _ in range(repeats)]
        value = median([wall for wall, _ in runs])
        rows.append(Row(bench, f"tool, one image: {kind} pool, {workers} worker{'s' if workers > 1 else ''}", value,
                        "s", reference=f"floor {floor:.2f} s", ratio=value / floor, target=f"<= {ONE_IMAGE_TARGET}",
                        ok=check(value / floor, ONE_IMAGE_TARGET),
                        note=f"median of {repeats}; longest event-loop stall {max(s for _, s in runs) * 1000:.0f} ms"))
    n = sizes["section_n"]
    sources = [make_source(seed, sizes["source"]) for seed in range(n)]
    ideal = n * floor / cores
    # What the cores give right now (the machine is shared): the bare calls, one image per process.
    parallel = floor_in_processes(sources, widths, cores)
    rows.append(Row(bench, f"floor, a section of {n} images: bare Pillow calls in {cores} processes", parallel, "s",
                    reference=f"({n} x floor) / {cores} cores = {ideal:.1f} s", ratio=parallel / ideal,
                    note="no tool: what the cores allowed during this run"))
    for kind in ("thread", "process"):
        wall, stall = tool(sources, widths, kind=kind, workers=cores)
        rows.append(Row(bench, f"tool, a section of {n} images: {kind} pool, {cores} workers", wall, "s",
                        reference=f"({n} x floor) / {cores} cores = {ideal:.1f} s", ratio=wall / ideal,
                        target=f"<= {SECTION_TARGET}", ok=check(wall / ideal, SECTION_TARGET),
                        note=f"{wall / n:.2f} s per image; x{wall / parallel:.2f} the parallel floor; "
                             f"longest event-loop stall {stall * 1000:.0f} ms"))
    return rows


if __name__ == "__main__":
    worker_main(run)
