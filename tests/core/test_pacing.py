"""Pacing by what the server says (x-ratelimit-* headers) and, without them, by its 429s.

The model is driven with a fake clock (no timing in assertions); the end-to-end
tests run the real engine and SDK against the fake API enforcing a request
limit, and count 429s and stored images.
"""

from __future__ import annotations

import asyncio

import pytest

from blog_images_tui.errors import TemporaryFailure
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.jobs import JobEngine, JobState
from blog_images_tui.pacing import ARRIVAL_MARGIN_S, STARTUP_GAP_S, Pacing, RateLimit, parse_duration, parse_rate_limits
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import FakeImagesAPI, RequestLimit, go_duration


@pytest.mark.parametrize("text, seconds", [
    ("1s", 1.0), ("6m0s", 360.0), ("250ms", 0.25), ("1h2m3.5s", 3723.5), ("20ms", 0.02), ("0s", 0.0),
    ("1.5", 1.5), ("7", 7.0), ("2m", 120.0), ("100us", 1e-4), ("1.25S", 1.25), (" 3s ", 3.0),
])
def test_reset_durations_parse(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5x", "1s2", "s", "-1s", "inf", "nan", "1s 2s"])
def test_reset_values_that_are_not_durations_are_refused(text):
    assert parse_duration(text) is None


def test_the_fake_writes_durations_the_parser_reads():
    for seconds in (0.0, 0.004, 0.25, 1.0, 1.5, 59.9, 360.0, 3723.5):
        assert parse_duration(go_duration(seconds)) == pytest.approx(seconds, abs=0.0006)


def test_rate_limit_headers_are_parsed_generically_by_kind():
    limits = parse_rate_limits({
        "X-RateLimit-Limit-Requests": "600", "x-ratelimit-remaining-requests": "599",
        "x-ratelimit-reset-requests": "100ms", "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-tokens": "not a number", "x-ratelimit-reset-tokens": "6m0s",
        "x-ratelimit-limit-images": "5", "content-type": "application/json", "x-request-id": "req_1",
    })
    assert limits == {
        "requests": RateLimit("requests", 600, 599, 0.1),
        "tokens": RateLimit("tokens", 150000, None, 360.0),
        "images": RateLimit("images", 5, None, None),
    }
    assert parse_rate_limits({"retry-after": "3"}) == {} and parse_rate_limits(None) == {}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def release(pacing: Pacing, clock: Clock) -> float:
    """One request let go now (the model must allow it: no waiting in these tests)."""
    assert pacing.next_start(clock.now) <= clock.now
    return asyncio.run(pacing.before_request())


def requests_headers(limit: int, remaining: int, reset: str) -> dict[str, str]:
    return {"x-ratelimit-limit-requests": str(limit), "x-ratelimit-remaining-requests": str(remaining),
            "x-ratelimit-reset-requests": reset}


def test_requests_in_flight_count_against_what_remains():
    clock = Clock()
    pacing = Pacing(clock=clock)
    first = release(pacing, clock)
    # The first request's answer: 4 left when it arrived, one refilled every 100 ms.
    clock.now += 0.5
    pacing.observe(requests_headers(10, 4, "600ms"), first)
    # One answer bounds the refill rate from below: "4 of 10, full in 600 ms" means at
    # least 5 per 600 ms (remaining is rounded down), so 0.5 s later at least 4 + 4.16 are there.
    for _ in range(8):
        release(pacing, clock)
    assert pacing.next_start(clock.now) > clock.now  # the 9th would be over the limit
    wait = pacing.next_start(clock.now) - clock.now
    assert wait == pytest.approx((1 - 0.16) / (5 / 0.6005) + ARRIVAL_MARGIN_S, rel=0.05)


def test_a_later_answer_about_an_earlier_request_does_not_roll_the_model_back():
    clock = Clock()
    pacing = Pacing(clock=clock)
    early = release(pacing, clock)
    clock.now += 0.1
    late = release(pacing, clock)
    pacing.observe(requests_headers(10, 0, "1s"), late)
    blocked_until = pacing.next_start(clock.now)
    pacing.observe(requests_headers(10, 9, "100ms"), early)  # arrives out of order: older news
    assert pacing.next_start(clock.now) == pytest.approx(blocked_until, rel=0.05)


def test_an_exhausted_other_kind_holds_everyone_until_its_reset():
    clock = Clock()
    pacing = Pacing(clock=clock)
    first = release(pacing, clock)
    pacing.observe({"x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "0",
                    "x-ratelimit-reset-tokens": "6m0s"}, first)
    assert pacing.next_start(clock.now) == pytest.approx(first + 360.0)


def test_before_any_answer_requests_leave_spaced_so_a_quick_429_stops_the_burst():
    clock = Clock()
    pacing = Pacing(clock=clock)
    first = release(pacing, clock)
    assert pacing.next_start(clock.now) == pytest.approx(first + STARTUP_GAP_S)
    pacing.observe({}, first)  # an answer without headers: no limit known, no spacing
    assert pacing.next_start(clock.now) == clock.now


def test_rpm_stays_a_cap_over_generous_headers():
    clock = Clock()
    pacing = Pacing(rpm=60, clock=clock)
    first = release(pacing, clock)
    pacing.observe(requests_headers(10000, 9999, "6ms"), first)
    assert pacing.next_start(clock.now) == pytest.approx(first + 1.0)


def rate_limited(retry_after: float | None = 0.05) -> TemporaryFailure:
    return TemporaryFailure("rate limited", retryable=True, retry_after=retry_after, rate_limited=True)


def test_without_headers_a_429_slows_to_what_the_server_admitted_then_speeds_up_slowly():
    clock = Clock()
    pacing = Pacing(max_retries=3, clock=clock)
    released = []
    for _ in range(12):  # 12 requests in 0.55 s, the 11th and 12th refused
        pacing.observe({}, clock.now)
        released.append(release(pacing, clock))
        clock.now += 0.05
    assert pacing.learned_rate(clock.now) is None
    pacing.observe({}, released[10])
    assert pacing.retry_delay(rate_limited(), 0, released[10]) == pytest.approx(0.05)
    slowed = pacing.learned_rate(clock.now)
    assert slowed == pytest.approx(0.9 * 10, rel=0.01)  # 10 admitted in the second before it
    pacing.retry_delay(rate_limited(), 0, released[11])
    assert pacing.learned_rate(clock.now) <= slowed  # the same overshoot: never faster
    clock.now += 1.0
    assert pacing.next_start(clock.now) >= released[-1] + 1 / pacing.learned_rate(clock.now) - 1e-9
    clock.now += 9.0
    faster = pacing.learned_rate(clock.now)
    assert slowed * 1.3 < faster < slowed * 2  # ~5% a second, no jump back to full speed
    assert pacing.stats.rate_limited == 2


def test_a_lone_requests_429_teaches_no_rate_its_retry_waits_only_for_retry_after():
    clock = Clock()
    pacing = Pacing(max_retries=2, clock=clock)
    first = release(pacing, clock)
    pacing.observe({}, first)
    assert pacing.retry_delay(rate_limited(), 0, first) == pytest.approx(0.05)
    assert pacing.learned_rate(clock.now) is None  # nothing was admitted before it: no "one a minute"
    clock.now += 0.05
    assert pacing.next_start(clock.now) <= clock.now  # the retry leaves once Retry-After has passed


def test_a_429_with_headers_leaves_the_pace_to_the_headers_with_more_room():
    clock = Clock()
    pacing = Pacing(clock=clock)
    first = release(pacing, clock)
    pacing.observe(requests_headers(10, 0, "1s"), first)
    before = pacing.next_start(clock.now)
    pacing.retry_delay(rate_limited(retry_after=0), 0, first)
    assert pacing.learned_rate(clock.now) is None
    assert pacing.arrival_margin_s == pytest.approx(2 * ARRIVAL_MARGIN_S)
    assert pacing.next_start(clock.now) == pytest.approx(before + ARRIVAL_MARGIN_S)


def run_limited(limit: RequestLimit, tmp_path, n: int, concurrency: int):
    with FakeImagesAPI(latency=0.05, request_limit=limit) as fake:
        async def go():
            engine = JobEngine(open_store(str(tmp_path / "static")), _settings(fake.base_url),
                               concurrency=concurrency)
            try:
                return await engine.run([ImageRequest(prompt=f"picture {i}", section=SectionRef(1, 1),
                                                      size="1024x1024", quality="low") for i in range(n)])
            finally:
                await engine.aclose()
        (tmp_path / "static").mkdir(exist_ok=True)
        jobs = asyncio.run(go())
    return jobs, list(fake.requests)


def _settings(base_url: str):
    from blog_images_tui.generation import ClientSettings
    from blog_images_tui.secrets import ApiKey

    return ClientSettings(api_key=ApiKey("sk-test-pacing-0123456789", "test"), base_url=base_url, max_retries=2)


def test_at_the_limit_with_headers_a_batch_gets_at_most_one_429(tmp_path):
    limit = RequestLimit(4, 1.0, headers=True)  # 4 at once, one more every 250 ms
    jobs, requests = run_limited(limit, tmp_path, n=14, concurrency=8)
    assert [job.state for job in jobs] == [JobState.STORED] * 14
    assert limit.rejected <= 1
    assert len(requests) == 14 + limit.rejected


def test_at_the_limit_without_headers_a_batch_adapts_and_stores_everything(tmp_path):
    limit = RequestLimit(4, 1.0, headers=False)
    jobs, requests = run_limited(limit, tmp_path, n=14, concurrency=8)
    assert [job.state for job in jobs] == [JobState.STORED] * 14
    # Without a model of the server, 429s teach the pace: fewer than one per image (how many
    # depends on this machine's speed; the engine before pacing got ~2 per image and lost jobs).
    assert limit.rejected < 14


def test_the_fake_sends_or_omits_the_headers():
    import httpx

    for headers in (True, False):
        with FakeImagesAPI(request_limit=RequestLimit(1, 60.0, headers=headers)) as fake:
            body = {"model": "gpt-image-1", "prompt": "x", "size": "1024x1024"}
            first = httpx.post(fake.base_url + "/images/generations", json=body)
            second = httpx.post(fake.base_url + "/images/generations", json=body)
        assert first.status_code == 200 and second.status_code == 429
        assert "retry-after" in second.headers
        limits = parse_rate_limits(first.headers)
        if headers:
            assert limits["requests"].limit == 1 and limits["requests"].remaining == 0
            assert 59 < limits["requests"].reset_s <= 60
        else:
            assert limits == {}
