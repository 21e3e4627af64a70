"""Counting the S3 requests an s3fs filesystem sends (tests and benchmarks only)."""

from __future__ import annotations

from typing import Any

#: a key of the counts that is not a request: entries the listings returned
ENTRIES_RETURNED = "entries returned"


def count_s3_requests(fs: Any) -> dict[str, int]:
    """Count every S3 call s3fs makes on this filesystem instance, by operation name.

    The dict fills as requests are sent; ``ENTRIES_RETURNED`` adds up what the
    listings returned.
    """
    counts: dict[str, int] = {}
    original = fs._call_s3

    async def call(method: Any, *args: Any, **kwargs: Any) -> Any:
        name = method if isinstance(method, str) else getattr(method, "__name__", str(method))
        counts[name] = counts.get(name, 0) + 1
        answer = await original(method, *args, **kwargs)
        if isinstance(answer, dict) and name.startswith("list_objects"):
            returned = len(answer.get("Contents") or []) + len(answer.get("CommonPrefixes") or [])
            counts[ENTRIES_RETURNED] = counts.get(ENTRIES_RETURNED, 0) + returned
        return answer

    fs._call_s3 = call
    return counts


def requests_sent(counts: dict[str, int]) -> int:
    """All requests in ``counts`` (what :func:`count_s3_requests` filled)."""
    return sum(count for name, count in counts.items() if name != ENTRIES_RETURNED)
