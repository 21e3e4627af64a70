"""Pacing of API requests: a shared rate limit, shared back-off, bounded retries.

One :class:`Pacing` is shared by every worker of a run. A 429 seen by any
worker pauses all of them until its Retry-After has passed (no thundering
herd of retries), and the images-per-minute limit spaces request starts
evenly. Retries are bounded and only for failures where asking again cannot
pay twice for an image we already received (429, 5xx, timeouts, resets).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from blog_images_tui.errors import TemporaryFailure

#: Like the openai SDK: a Retry-After longer than this is not waited for.
MAX_RETRY_AFTER_S = 120.0
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0


@dataclass
class PacingStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0


class Pacing:
    """Decides when the next request may start and whether a failure is retried."""

    def __init__(self, *, max_retries: int = 2, rpm: float | None = None,
                 clock=time.monotonic, sleep=asyncio.sleep) -> None:
        if rpm is not None and rpm <= 0:
            raise ValueError("rpm must be positive")
        self.max_retries = max_retries
        self.interval_s = 60.0 / rpm if rpm else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next_start = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.stats = PacingStats()

    async def before_request(self) -> None:
        """Wait for any shared back-off, then for this request's rate-limit slot."""
        async with self._lock:
            # Slots are handed out in order under the lock; the waiting happens outside it.
            now = self._clock()
            start = max(now, self._paused_until, self._next_start)
            self._next_start = start + self.interval_s
        while True:
            delay = max(start, self._paused_until) - self._clock()
            if delay <= 0:
                break
            self.stats.waited_s += delay
            await self._sleep(delay)
            start = self._clock()
        self.stats.requests += 1

    def retry_delay(self, error: TemporaryFailure, attempt: int) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or None to give up.

        A 429's Retry-After pauses every worker sharing this pacing.
        """
        if not error.retryable or attempt >= self.max_retries:
            return None
        if error.retry_after is not None:
            if error.retry_after > MAX_RETRY_AFTER_S:
                return None
            delay = error.retry_after
        else:
            delay = min(INITIAL_RETRY_DELAY_S * 2 ** attempt, MAX_RETRY_DELAY_S)
            delay *= 1 - 0.25 * random.random()  # jitter, so workers do not retry in lockstep
        if error.rate_limited:
            self.stats.rate_limited += 1
            self._paused_until = max(self._paused_until, self._clock() + delay)
        self.stats.retries += 1
        return delay
