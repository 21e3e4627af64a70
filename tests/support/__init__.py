"""Helpers shared by the test folders (no tests, no fixtures: those live in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The one API key every test uses; the fake API checks it and the suites grep for it.
TEST_KEY = "sk-test-SECRETKEY-0123456789abcdef"

#: How long a wait may take before it fails: generous, because a loaded 2-core machine can stall
#: for seconds; a passing wait returns as soon as its condition holds, so this costs nothing.
WAIT_TIMEOUT_S = 30.0


class Deadline:
    """A point in time a wait must not pass."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.at = time.monotonic() + timeout

    @property
    def passed(self) -> bool:
        return time.monotonic() > self.at

    def check(self, condition: Callable[[], Any], what: str) -> Any:
        """``condition()`` if truthy, else a falsy value to wait on; fails once the deadline has passed."""
        value = condition()
        if not value and self.passed:
            raise AssertionError(f"timed out after {self.timeout}s waiting for {what}")
        return value


def wait_until(condition: Callable[[], Any], *, timeout: float = WAIT_TIMEOUT_S, what: str = "condition",
               interval: float = 0.02) -> Any:
    """Poll ``condition`` until it is truthy and return its value; fail after ``timeout`` seconds."""
    deadline = Deadline(timeout)
    while not (value := deadline.check(condition, what)):
        time.sleep(interval)
    return value


async def await_until(condition: Callable[[], Any], *, timeout: float = WAIT_TIMEOUT_S, what: str = "condition",
                      interval: float = 0.03) -> Any:
    """:func:`wait_until` for coroutines: sleeps on the event loop so its tasks (and an app's handlers) run."""
    deadline = Deadline(timeout)
    while not (value := deadline.check(condition, what)):
        await asyncio.sleep(interval)
    return value


def settle(fake, quiet_s: float = 0.3, limit_s: float = 10.0) -> int:
    """Wait until the fake has no request in flight and no new one for ``quiet_s``; return the count.

    Abandoned requests can reach the server's handler threads late on a loaded machine;
    counting before they are recorded would blame the next run for them. Reaching
    ``limit_s`` is not a failure: the caller's own assertions decide.
    """
    deadline = Deadline(limit_s)
    count, since = len(fake.requests), time.monotonic()
    while not deadline.passed:
        time.sleep(0.05)
        if len(fake.requests) != count or fake.in_flight:
            count, since = len(fake.requests), time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return count


def default_sigint() -> None:
    """``preexec_fn`` for children the tests signal: SIGINT back to its default.

    A suite started in the background from a script (``python3 dev.py test &``) runs with
    SIGINT ignored, and an ignored signal is inherited across exec: Python would then never
    install its KeyboardInterrupt handler and a test's Ctrl-C would do nothing. The product
    is not changed for this; only the harness restores what a terminal would give.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def files_under(root: str | Path) -> list[str]:
    """Every file below a local folder, relative, sorted (to prove nothing else was written)."""
    root = Path(root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
