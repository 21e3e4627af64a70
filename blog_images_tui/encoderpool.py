"""Encoding off the event loop, in parallel up to the cores.

Two kinds of pool, the same interface: ``thread`` (the default) shares one
decoded source between threads, which works because Pillow releases the GIL
while it resizes and encodes; ``process`` sends the source's bytes to worker
processes, each decoding it again. ``python -m bench --only publish``
measures both (BENCHMARKS.md).

Work is cut per width (every format of one width from one resize), widest
first, so one image uses every core and many images keep every core busy.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from blog_images_tui import encoding

POOL_KINDS = ("thread", "process")


def available_cores() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class EncoderPool:
    """Encodes derivatives for :mod:`blog_images_tui.publish`; one per publishing run."""

    def __init__(self, workers: int | None = None, kind: str = "thread") -> None:
        if kind not in POOL_KINDS:
            raise ValueError(f"unknown pool kind {kind!r}: use {', '.join(POOL_KINDS)}")
        self.workers = max(1, workers or available_cores())
        self.kind = kind
        self._executor: Executor | None = None

    def _pool(self) -> Executor:
        if self._executor is None:
            if self.kind == "thread":
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="blog-images-encode")
            else:
                import multiprocessing

                # spawn, not fork: the parent has threads (s3fs's loop, asyncio's), and a
                # forked child would inherit their locks mid-flight.
                self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    async def inspect(self, data: bytes) -> tuple[encoding.SourceFacts, encoding.Decoded | None]:
        """Size, transparency and colour profile of a source (decoding is CPU work too).

        With threads the decoded source comes back too, for :meth:`encode` to
        use instead of decoding it again.
        """
        loop = asyncio.get_running_loop()
        if self.kind == "thread":
            decoded = await loop.run_in_executor(self._pool(), encoding.decode, data)
            return decoded.facts, decoded
        return await loop.run_in_executor(self._pool(), encoding.inspect_source, data), None

    async def encode(self, data: bytes, jobs: list[encoding.EncodeJob], keep_alpha: bool,
                     decoded: encoding.Decoded | None = None) -> list[bytes]:
        """The bytes of every job, in order; decoding and encoding run in the pool."""
        loop = asyncio.get_running_loop()
        pool = self._pool()
        by_size: dict[tuple[int, int], list[int]] = {}
        for index, (_fmt, width, height, _q) in enumerate(jobs):
            by_size.setdefault((width, height), []).append(index)
        groups = sorted(by_size.values(), key=lambda indexes: -jobs[indexes[0]][1])
        if self.kind == "thread":
            image, icc = await loop.run_in_executor(pool, encoding.prepare, decoded or data, keep_alpha)
            futures = [loop.run_in_executor(pool, encoding.encode_prepared, image, icc,
                                            [jobs[i] for i in group]) for group in groups]
        else:
            futures = [loop.run_in_executor(pool, encoding.encode, data, [jobs[i] for i in group], keep_alpha)
                       for group in groups]
        results = await asyncio.gather(*futures)
        out: list[bytes] = [b""] * len(jobs)
        for group, files in zip(groups, results, strict=True):
            for index, data_out in zip(group, files, strict=True):
                out[index] = data_out
        return out

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
