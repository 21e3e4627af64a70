"""The job engine against the fake Images API (real openai SDK, real stores).

Timing is only asserted where it is the behaviour (rate limit, shared
back-off), on the fake server's ``received_at`` clock and with slack.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from blog_images_tui import layout
from blog_images_tui.api import client_settings
from blog_images_tui.budget import BudgetRefused
from blog_images_tui.errors import AuthConfigError, ExitCode
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.jobs import JobEngine, JobState, compute_job_id
from blog_images_tui.pricing import actual_cost, estimate
from blog_images_tui.secrets import ApiKey
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import Reply
from tests.support import await_until, settle

SECTION = SectionRef(53, 1)


def requests_for(count: int, section: SectionRef = SECTION, **kw) -> list[ImageRequest]:
    return [ImageRequest(prompt=f"picture number {i}", section=section, size="1024x1024", quality="low", **kw)
            for i in range(count)]


def run_engine(store_url: str, requests, **engine_kw):
    """Run requests on a fresh engine; return (engine, jobs, events)."""
    events = []

    async def go():
        engine = JobEngine(open_store(store_url), client_settings(max_retries=engine_kw.pop("max_retries", 2)),
                           on_event=events.append, **engine_kw)
        try:
            jobs = await engine.run(requests)
        finally:
            await engine.aclose()
        return engine, jobs

    engine, jobs = asyncio.run(go())
    return engine, jobs, events


def stored_metadata(store_url: str, section: SectionRef = SECTION) -> list[dict]:
    store = open_store(store_url)
    names = [n for n in store.list_raw_names(section) if n.endswith(layout.METADATA_SUFFIX)]
    return [store.read_metadata(section, n[: -len(layout.METADATA_SUFFIX)]) for n in names]


def assert_complete_pairs(store_url: str, section: SectionRef = SECTION) -> None:
    """Every image has its metadata and every metadata its image: nothing partial."""
    names = set(open_store(store_url).list_raw_names(section))
    images = {n.rsplit(".", 1)[0] for n in names if not n.endswith(layout.METADATA_SUFFIX)}
    metas = {n[: -len(layout.METADATA_SUFFIX)] for n in names if n.endswith(layout.METADATA_SUFFIX)}
    assert images == metas


def test_concurrency_limit_is_what_the_server_sees(api_env, memory_store_url):
    api_env.set_latency(0.3)
    _, jobs, _ = run_engine(memory_store_url, requests_for(7), concurrency=3)
    assert [job.state for job in jobs] == [JobState.STORED] * 7
    assert api_env.max_concurrent == 3  # never more, and the limit is actually used
    assert len(api_env.requests) == 7


def test_rate_limit_spaces_request_starts(api_env, memory_store_url):
    _, jobs, _ = run_engine(memory_store_url, requests_for(5), concurrency=5, rpm=300)  # one per 0.2 s
    assert all(job.state is JobState.STORED for job in jobs)
    starts = sorted(r.received_at for r in api_env.requests)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.2 - 0.05, gaps


def test_a_429_pauses_every_worker_for_its_retry_after(api_env, memory_store_url):
    # Errors answer at once, images after 0.3 s: the first request gets a 429 asking
    # for 1 s; the second's worker is free at ~0.3 s and must still wait for the pause.
    api_env.set_latency(0.3)
    api_env.enqueue(Reply.rate_limited(1))
    _, jobs, _ = run_engine(memory_store_url, requests_for(4), concurrency=2)
    assert all(job.state is JobState.STORED for job in jobs)
    received = sorted(r.received_at for r in api_env.requests)
    assert len(received) == 5  # 4 images + 1 retry
    first = received[0]
    later = received[2:]  # everything after the two requests that were in flight together
    assert min(later) - first >= 1.0 - 0.1, [t - first for t in received]


def test_retries_stay_bounded(api_env, memory_store_url):
    api_env.enqueue(*[Reply.server_error()] * 3)
    _, jobs, _ = run_engine(memory_store_url, requests_for(1), concurrency=1, max_retries=2)
    assert jobs[0].state is JobState.FAILED and jobs[0].exit_code == ExitCode.TEMPORARY
    assert len(api_env.requests) == 3  # one try + two retries, then give up


def test_rerun_makes_no_api_call_for_stored_jobs(api_env, store_url):
    requests = requests_for(3) + [ImageRequest(prompt="named", section=SECTION, filename="hero", size="1024x1024")]
    _, first, _ = run_engine(store_url, requests, concurrency=2)
    assert [job.state for job in first] == [JobState.STORED] * 4
    sent = len(api_env.requests)
    _, second, events = run_engine(store_url, requests, concurrency=2)
    assert [job.state for job in second] == [JobState.SKIPPED] * 4
    assert len(api_env.requests) == sent  # not one more request
    assert {job.id for job in second} == {job.id for job in first}
    assert sorted(m["job_id"] for m in stored_metadata(store_url)) == sorted(job.id for job in first)
    assert {e.kind for e in events} >= {"queued", "started", "skipped"}


def test_force_generates_again(api_env, memory_store_url):
    run_engine(memory_store_url, requests_for(2))
    _, again, _ = run_engine(memory_store_url, requests_for(2), force=True)
    assert [job.state for job in again] == [JobState.STORED] * 2
    assert len(api_env.requests) == 4
    assert len(stored_metadata(memory_store_url)) == 4


def test_job_id_is_stable_and_depends_on_what_is_asked():
    a, b = requests_for(2)
    assert compute_job_id(a.validated()) == compute_job_id(a.validated())
    assert compute_job_id(a.validated()) != compute_job_id(b.validated())
    other_section = ImageRequest(prompt=a.prompt, section=SectionRef(53, 2), size="1024x1024", quality="low")
    assert compute_job_id(other_section.validated()) != compute_job_id(a.validated())


def test_explicit_ids_sharing_a_prefix_are_not_mistaken_for_each_other(api_env, memory_store_url):
    # Auto filenames end with the first 12 characters of the job id: "hero-image-1"
    # and "hero-image-10" share them. The metadata's job_id must decide.
    first = ImageRequest(prompt="one", section=SECTION, size="1024x1024")
    second = ImageRequest(prompt="ten", section=SECTION, size="1024x1024")

    async def go():
        engine = JobEngine(open_store(memory_store_url), client_settings())
        try:
            one = engine.submit(first, job_id="hero-image-1")
            await engine.join()
            ten = engine.submit(second, job_id="hero-image-10")
            await engine.join()
            again = engine.submit(first, job_id="hero-image-1")
            await engine.join()
            return one, ten, again
        finally:
            await engine.aclose()

    one, ten, again = asyncio.run(go())
    assert (one.state, ten.state, again.state) == (JobState.STORED, JobState.STORED, JobState.SKIPPED)
    assert len(api_env.requests) == 2
    assert sorted(m["job_id"] for m in stored_metadata(memory_store_url)) == ["hero-image-1", "hero-image-10"]


def test_interrupted_run_resumes_with_only_what_is_missing(api_env, local_store_url):
    api_env.set_latency(0.4)
    requests = requests_for(6)

    async def interrupted():
        engine = JobEngine(open_store(local_store_url), client_settings(), concurrency=2)
        task = asyncio.create_task(engine.run(requests))
        await await_until(lambda: len(api_env.requests) >= 3, what="two stored, one or two in flight")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await engine.aclose()
        return engine.jobs

    jobs = asyncio.run(interrupted())
    stored = [job for job in jobs if job.state is JobState.STORED]
    assert 1 <= len(stored) < 6
    assert all(job.state in (JobState.STORED, JobState.CANCELLED) for job in jobs)
    assert_complete_pairs(local_store_url)
    sent_before = settle(api_env)

    _, resumed, _ = run_engine(local_store_url, requests, concurrency=2)
    assert sorted(job.state.value for job in resumed) == sorted(["skipped"] * len(stored) +
                                                                ["stored"] * (6 - len(stored)))
    assert len(api_env.requests) - sent_before == 6 - len(stored)
    ids = [m["job_id"] for m in stored_metadata(local_store_url)]
    assert sorted(ids) == sorted({job.id for job in resumed})  # each job exactly once: nothing twice, nothing lost
    assert_complete_pairs(local_store_url)


def test_budget_refuses_jobs_that_would_exceed_it(api_env, memory_store_url):
    requests = requests_for(4)
    each = estimate(requests[0].validated()).usd
    assert each and each > 0
    engine, jobs, _ = run_engine(memory_store_url, requests, concurrency=1, budget_usd=each * 2.5)
    assert [job.state for job in jobs] == [JobState.STORED] * 2 + [JobState.FAILED] * 2
    assert all(isinstance(job.error, BudgetRefused) for job in jobs[2:])
    assert jobs[2].exit_code == ExitCode.BAD_INPUT
    assert len(api_env.requests) == 2
    assert engine.spent_usd == pytest.approx(sum(job.cost_usd for job in jobs[:2]))


def test_budget_counts_running_jobs_before_they_finish(api_env, memory_store_url):
    # Four at once with room for two: the other two must be refused up front,
    # not discovered over budget after they were paid for.
    api_env.set_latency(0.3)
    requests = requests_for(4)
    each = estimate(requests[0].validated()).usd
    _, jobs, _ = run_engine(memory_store_url, requests, concurrency=4, budget_usd=each * 2.5)
    assert sorted(job.state.value for job in jobs) == ["failed", "failed", "stored", "stored"]
    assert len(api_env.requests) == 2


def test_budget_refuses_a_model_of_unknown_cost(api_env, memory_store_url):
    request = ImageRequest(prompt="x", section=SECTION, model="my-local-model", size="1024x1024")
    _, jobs, _ = run_engine(memory_store_url, [request], budget_usd=100.0)
    assert jobs[0].state is JobState.FAILED and isinstance(jobs[0].error, BudgetRefused)
    assert "unknown" in jobs[0].error.message
    assert api_env.requests == []


def test_skipped_jobs_cost_nothing_against_the_budget(api_env, memory_store_url):
    requests = requests_for(3)
    run_engine(memory_store_url, requests)
    each = estimate(requests[0].validated()).usd
    engine, jobs, _ = run_engine(memory_store_url, requests + requests_for(4)[3:], budget_usd=each * 1.5)
    assert [job.state for job in jobs] == [JobState.SKIPPED] * 3 + [JobState.STORED]


def test_actual_cost_from_usage_is_stored_in_metadata(api_env, memory_store_url):
    _, jobs, _ = run_engine(memory_store_url, requests_for(1))
    metadata = jobs[0].result.metadata
    assert metadata["usage"]["output_tokens"] > 0
    expected = actual_cost(jobs[0].request, metadata["usage"]).usd
    assert metadata["cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert metadata["cost_basis"].startswith("estimate")  # gpt-image-2's rates are not OpenAI-published to us
    assert jobs[0].cost_usd == metadata["cost_usd"]
    assert stored_metadata(memory_store_url)[0]["cost_usd"] == metadata["cost_usd"]


def test_an_auth_failure_stops_sending_the_rest(api_env, memory_store_url, monkeypatch):
    wrong = "sk-wrong-key-0123456789abcdef"
    monkeypatch.setenv("OPENAI_AUTH_TOKEN", wrong)
    _, jobs, _ = run_engine(memory_store_url, requests_for(5), concurrency=1)
    assert all(job.state is JobState.FAILED and isinstance(job.error, AuthConfigError) for job in jobs)
    assert len(api_env.requests) == 1  # the other four were not sent to be refused
    assert all(wrong not in str(job.error) for job in jobs)


def test_cancel_one_queued_job(api_env, memory_store_url):
    api_env.set_latency(0.3)

    async def go():
        engine = JobEngine(open_store(memory_store_url), client_settings(), concurrency=1)
        try:
            first, second = (engine.submit(r) for r in requests_for(2))
            assert engine.cancel(second.id)
            await engine.join()
            return first, second
        finally:
            await engine.aclose()

    first, second = asyncio.run(go())
    assert (first.state, second.state) == (JobState.STORED, JobState.CANCELLED)
    assert len(api_env.requests) == 1


def test_missing_key_fails_jobs_with_exit_3_and_sends_nothing(fake_api, memory_store_url, monkeypatch):
    from blog_images_tui.generation import ClientSettings

    async def go():
        engine = JobEngine(open_store(memory_store_url), ClientSettings(api_key=None, base_url=fake_api.base_url))
        try:
            return await engine.run(requests_for(3))
        finally:
            await engine.aclose()

    jobs = asyncio.run(go())
    assert [job.exit_code for job in jobs] == [ExitCode.AUTH_CONFIG] * 3
    assert fake_api.requests == []


def test_engine_with_explicit_wrong_key_never_shows_it(fake_api, memory_store_url):
    from blog_images_tui.generation import ClientSettings

    secret = "sk-other-SECRET-abcdef0123456789"

    async def go():
        settings = ClientSettings(api_key=ApiKey(secret, "test"), base_url=fake_api.base_url)
        engine = JobEngine(open_store(memory_store_url), settings)
        try:
            return await engine.run(requests_for(1))
        finally:
            await engine.aclose()

    job = asyncio.run(go())[0]
    assert job.exit_code == ExitCode.AUTH_CONFIG
    assert "incorrect api key" in job.error.message.lower()
    assert secret not in job.error.message  # the fake echoes it; we must not


def test_a_long_lived_engine_sees_images_deleted_while_idle(api_env, memory_store_url):
    # The TUI keeps one engine: a listing cached for one wave of jobs must not
    # make it skip a job whose image was deleted after the wave ended.
    request = requests_for(1)[0]

    async def go():
        store = open_store(memory_store_url)
        engine = JobEngine(store, client_settings())
        try:
            first = engine.submit(request)
            await engine.join()
            store.delete_image(SECTION, first.result.image_path.rsplit("/", 1)[-1])
            second = engine.submit(request)
            await engine.join()
            third = engine.submit(request)
            await engine.join()
            return first, second, third
        finally:
            await engine.aclose()

    first, second, third = asyncio.run(go())
    assert [job.state for job in (first, second, third)] == [JobState.STORED, JobState.STORED, JobState.SKIPPED]
    assert len(api_env.requests) == 2


def test_events_follow_a_job_from_queued_to_stored(api_env, memory_store_url):
    _, jobs, events = run_engine(memory_store_url, requests_for(1))
    kinds = [event.kind for event in events if event.job is jobs[0]]
    assert kinds[0] == "queued" and kinds[1] == "started" and kinds[-1] == "stored"
    assert "stage" in kinds
    assert jobs[0].started_at <= jobs[0].finished_at and jobs[0].elapsed_s > 0


def test_after_an_auth_failure_the_next_wave_tries_again(api_env, memory_store_url):
    # The TUI's engine lives long: a quota topped up or a key fixed on the server
    # side must not leave it refusing everything forever.
    api_env.enqueue(Reply.error(401, code="invalid_api_key"))

    async def go():
        engine = JobEngine(open_store(memory_store_url), client_settings(), concurrency=1)
        try:
            first = [engine.submit(r) for r in requests_for(2)]
            await engine.join()
            later = engine.submit(requests_for(3)[2])
            await engine.join()
            return first, later
        finally:
            await engine.aclose()

    first, later = asyncio.run(go())
    assert [job.exit_code for job in first] == [ExitCode.AUTH_CONFIG] * 2
    assert later.state is JobState.STORED
    assert len(api_env.requests) == 2  # the refused one, then the later one; not the second of the first wave
