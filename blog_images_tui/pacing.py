"""Pacing of API requests: one engine for rate limits, back-off and bounded retries.

One :class:`Pacing` is shared by every worker of a run: a batch, the TUI's jobs
and the web server use the same engine. It decides when the next request may
start; the strictest of these wins:

* **What the server says.** OpenAI's answers may carry
  ``x-ratelimit-{limit,remaining,reset}-{kind}`` headers (no document promises
  them on the image endpoints, and compatible servers may send none); they are
  parsed generically (:func:`parse_rate_limits`, reset values like ``1s``,
  ``6m0s``, ``250ms``). The ``requests`` limit is modelled as the bucket it
  is: when the request released at ``t`` arrived, ``remaining`` were left,
  refilling at ``(limit - remaining) / reset`` per second; every request
  released since (answered or still in flight) counts against that. Another
  kind (tokens, images) that says ``remaining: 0`` holds everyone until its
  reset.
* **What 429s teach**, when no headers come: a 429 drops the rate to 0.9x
  what the server admitted in the second before it (slow down), and the rate
  grows 5% a second while no 429 comes (speed up slowly). A 429 with nothing
  admitted before it teaches nothing (one job alone is not a rate).
* **``--rpm``**: a cap, requests evenly spaced.
* **Retry-After**: a 429 seen by any worker pauses all of them until it has
  passed (no thundering herd of retries).

Before the first answer of a run, requests leave at least
``STARTUP_GAP_S`` apart, so that a quick 429 (and its headers) stops a burst
the server cannot take before all of it is sent.

Retries are bounded and only for failures that cannot have been billed (the
error's ``retryable``, set by :func:`generation.translate_api_error`): a
connection that never sent the request, 429, 500 and 503. Timeouts, resets
after sending, 502 and 504 may have been billed and are never retried.
"""

from __future__ import annotations

import asyncio
import collections
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from blog_images_tui.errors import TemporaryFailure

#: Like the openai SDK: a Retry-After longer than this is not waited for.
MAX_RETRY_AFTER_S = 120.0
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
#: spacing of the requests sent before the server has answered any
STARTUP_GAP_S = 0.02
#: after a 429 without headers: this share of the rate the server admitted just before
SLOW_DOWN = 0.9
#: the window the admitted rate is measured over (OpenAI enforces per-minute limits per second or finer)
ADMITTED_WINDOW_S = 1.0
#: growth of the learned rate per second without a 429
SPEED_UP_PER_S = 0.05
MIN_RATE_PER_S = 1 / 60
#: a request waiting for the bucket to refill leaves this much later than the model says: the
#: observed request and the next may take different times to reach the server. Doubled by
#: every 429 that comes despite the headers (up to MAX_ARRIVAL_MARGIN_S); a margin costs no
#: throughput, it only shifts every release by the same amount.
ARRIVAL_MARGIN_S = 0.025
MAX_ARRIVAL_MARGIN_S = 0.4
#: headers older than this describe a bucket long refilled: forgotten (a long TUI session)
HEADERS_FORGOTTEN_AFTER_S = 300.0

_HEADER = re.compile(r"^x-ratelimit-(limit|remaining|reset)-([a-z0-9_-]+)$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float | None:
    """Seconds in a reset value: a Go-style duration (``250ms``, ``1s``, ``6m0s``, ``1h2m3.5s``)
    or a plain number of seconds. None if it is neither."""
    value = text.strip().lower()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pos, seconds = 0, 0.0
        for match in _DURATION_PART.finditer(value):
            if match.start() != pos:
                return None
            seconds += float(match.group(1)) * _UNIT_S[match.group(2)]
            pos = match.end()
        if pos != len(value):
            return None
    return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None


@dataclass(frozen=True)
class RateLimit:
    """One limit as one answer described it."""

    kind: str  # "requests", "tokens", ...
    limit: float | None
    remaining: float | None
    reset_s: float | None


def parse_rate_limits(headers: Mapping[str, str] | None) -> dict[str, RateLimit]:
    """Every ``x-ratelimit-*-{kind}`` limit in ``headers``, by kind; values that do not parse are left out."""
    found: dict[str, dict[str, float]] = {}
    for name, value in (headers or {}).items():
        match = _HEADER.match(str(name).strip().lower())
        if not match:
            continue
        field, kind = match.groups()
        number = parse_duration(str(value)) if field == "reset" else _number(str(value))
        if number is not None:
            found.setdefault(kind, {})[field] = number
    return {kind: RateLimit(kind, f.get("limit"), f.get("remaining"), f.get("reset"))
            for kind, f in found.items()}


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value >= 0 and value != float("inf") else None


@dataclass
class PacingStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0
    #: answers that carried x-ratelimit headers
    limit_headers: int = 0


class _RequestBucket:
    """The server's request bucket as the latest answer with headers described it."""

    def __init__(self) -> None:
        self.at = float("-inf")  # release time of the request the observation belongs to
        self.limit = 0.0
        self.remaining = 0.0
        self.full_at: float | None = None  # when the bucket is full again (no refill rate known)
        self.rate_lo = 0.0  # refill rate bounds (requests per second), narrowed by every answer
        self.rate_hi = float("inf")

    def observe(self, at: float, limit: RateLimit) -> None:
        if limit.limit is None or limit.remaining is None:
            return
        if limit.limit != self.limit:
            self.rate_lo, self.rate_hi = 0.0, float("inf")  # another limit: learn its rate afresh
        if limit.reset_s is not None and limit.reset_s > 0:
            # remaining is rounded down and reset to the millisecond: the true deficit lies
            # in (limit - remaining - 1, limit - remaining].
            deficit = limit.limit - limit.remaining
            lo = max(0.0, deficit - 1) / (limit.reset_s + 0.0005)
            hi = deficit / max(limit.reset_s - 0.0005, 1e-6)
            if lo > self.rate_hi or hi < self.rate_lo:
                self.rate_lo, self.rate_hi = lo, hi  # the limit changed under us
            else:
                self.rate_lo, self.rate_hi = max(self.rate_lo, lo), min(self.rate_hi, hi)
        if at >= self.at:
            self.at, self.limit, self.remaining = at, limit.limit, limit.remaining
            self.full_at = at + limit.reset_s if limit.reset_s is not None else None

    def next_start(self, releases_since: list[float], margin_s: float = ARRIVAL_MARGIN_S) -> float:
        """The earliest time one more request finds a token, all ``releases_since`` counted."""
        rate = self.rate_lo if self.rate_lo > 0 else None
        tokens, t = self.remaining, self.at
        for released in releases_since:
            if rate is not None:
                tokens = min(self.limit, tokens + rate * (released - t))
            t = released
            tokens -= 1
        if tokens >= 1:
            return t
        if rate is not None:
            return t + (1 - tokens) / rate + margin_s
        # No rate known (a full bucket, or one request short of it): wait for the reset.
        return self.full_at if self.full_at is not None else t + 1.0


class Pacing:
    """Decides when the next request may start and whether a failure is retried."""

    def __init__(self, *, max_retries: int = 2, rpm: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rpm is not None and rpm <= 0:
            raise ValueError("rpm must be positive")
        self.max_retries = max_retries
        self.interval_s = 60.0 / rpm if rpm else 0.0
        self._clock = clock
        self._paused_until = 0.0
        self._releases: collections.deque[float] = collections.deque()
        self._rejected: collections.deque[float] = collections.deque()
        self._answered = False
        self._bucket: _RequestBucket | None = None
        self._learned_rate: float | None = None  # from 429s, when no headers come
        self._learned_at = 0.0
        self._changed: asyncio.Event | None = None
        self.arrival_margin_s = ARRIVAL_MARGIN_S
        self.stats = PacingStats()

    # -- when may the next request start -------------------------------------------
    def next_start(self, now: float) -> float:
        """The earliest time the next request may leave, by everything known at ``now``."""
        last = self._releases[-1] if self._releases else float("-inf")
        start = max(now, self._paused_until, last + self.interval_s)
        if not self._answered:
            start = max(start, last + STARTUP_GAP_S)
        rate = self.learned_rate(now)
        if rate is not None:
            start = max(start, last + 1 / rate)
        if self._bucket is not None and now - self._bucket.at > HEADERS_FORGOTTEN_AFTER_S:
            self._bucket = None
        if self._bucket is not None:
            since = [t for t in self._releases if t > self._bucket.at]
            start = max(start, self._bucket.next_start(since, self.arrival_margin_s))
        return start

    def learned_rate(self, now: float) -> float | None:
        """Requests per second learned from 429s (None: no 429 without headers yet)."""
        if self._learned_rate is None:
            return None
        return self._learned_rate * (1 + SPEED_UP_PER_S) ** max(0.0, now - self._learned_at)

    async def before_request(self) -> float:
        """Wait until this request may start; returns its release time (pass it to
        :meth:`observe` and :meth:`retry_delay`)."""
        began = self._clock()
        while True:
            now = self._clock()
            start = self.next_start(now)
            if start <= now:
                break
            # Woken early by an answer (new headers, a 429): the plan may have changed.
            changed = self._changed = self._changed or asyncio.Event()
            try:
                await asyncio.wait_for(changed.wait(), start - now)
            except TimeoutError:
                pass
        self._releases.append(now)
        self._prune(now)
        self.stats.requests += 1
        self.stats.waited_s += now - began
        return now

    def _prune(self, now: float) -> None:
        keep_from = now - 2 * ADMITTED_WINDOW_S
        if self._bucket is not None:
            keep_from = min(keep_from, self._bucket.at)
        while len(self._releases) > 1 and self._releases[0] < keep_from:
            self._releases.popleft()
        while self._rejected and self._rejected[0] < now - 2 * ADMITTED_WINDOW_S:
            self._rejected.popleft()

    def _wake(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    # -- what answers say -------------------------------------------------------------
    def observe(self, headers: Mapping[str, str] | None, released_at: float | None = None) -> None:
        """Learn from an answer's headers (success or error) to the request released at ``released_at``."""
        self._answered = True
        limits = parse_rate_limits(headers)
        at = self._clock() if released_at is None else released_at
        if limits:
            self.stats.limit_headers += 1
        for kind, limit in limits.items():
            if kind == "requests":
                self._bucket = self._bucket or _RequestBucket()
                self._bucket.observe(at, limit)
            elif limit.remaining is not None and limit.remaining <= 0 and limit.reset_s:
                self._paused_until = max(self._paused_until, at + limit.reset_s)
        self._wake()

    def _rate_limited(self, released_at: float | None) -> None:
        self.stats.rate_limited += 1
        self._answered = True
        if self._bucket is not None:
            # The headers tell the server's state; a 429 despite them means requests reach the
            # server less evenly than they leave: leave more room.
            self.arrival_margin_s = min(MAX_ARRIVAL_MARGIN_S, self.arrival_margin_s * 2)
            return
        if released_at is None:
            return
        self._rejected.append(released_at)
        window_start = released_at - ADMITTED_WINDOW_S
        admitted = (sum(1 for t in self._releases if window_start < t < released_at)
                    - sum(1 for t in self._rejected if window_start < t < released_at))
        if admitted <= 0:
            # Nothing got through in the second before: no rate to learn (a lone job's 429 would
            # otherwise teach "one a minute"). Retry-After and the back-off pace what follows.
            return
        rate = max(MIN_RATE_PER_S, SLOW_DOWN * admitted / ADMITTED_WINDOW_S)
        now = self._clock()
        current = self.learned_rate(now)
        if current is None or rate < current:
            self._learned_rate, self._learned_at = rate, now

    def retry_delay(self, error: TemporaryFailure, attempt: int, released_at: float | None = None) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or None to give up.

        A 429's Retry-After pauses every worker sharing this pacing; a 429 also
        slows the pace when the server sends no rate-limit headers.
        """
        if error.rate_limited:
            self._rate_limited(released_at)
        if not error.retryable or attempt >= self.max_retries:
            self._wake()
            return None
        if error.retry_after is not None:
            if error.retry_after > MAX_RETRY_AFTER_S:
                return None
            delay = error.retry_after
        else:
            delay = min(INITIAL_RETRY_DELAY_S * 2 ** attempt, MAX_RETRY_DELAY_S)
            delay *= 1 - 0.25 * random.random()  # jitter, so workers do not retry in lockstep
        if error.rate_limited:
            self._paused_until = max(self._paused_until, self._clock() + delay)
        self.stats.retries += 1
        self._wake()
        return delay
