"""The job ledger and the stats over it (in process, real SDK against the fake API, real stores).

A batch is run on the real job engine with faults scripted at the fake API;
the stats must then match what the fake served and what the store holds.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backends.local import LocalBackend
from blog_images_tui import api, layout, ledger, pricing
from blog_images_tui.api import client_settings
from blog_images_tui.errors import ApiRejected
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.jobs import JobEngine, JobState
from blog_images_tui.stats import StatsQuery, collect, parse_date, percentile
from blog_images_tui.storage import Store, open_store
from blog_images_tui.testing.fake_images_api import Reply, make_png
from tests.support import TEST_KEY, settle

SECTION = SectionRef(53, 1)
OTHER = SectionRef(54, 2)


def requests_for(count: int, section: SectionRef = SECTION, prefix: str = "picture") -> list[ImageRequest]:
    return [ImageRequest(prompt=f"{prefix} number {i}", section=section, size="1024x1024", quality="low")
            for i in range(count)]


def run_engine(store, requests, *, max_retries: int = 0, concurrency: int = 1, **engine_kw):
    """Run the requests on a fresh engine (one at a time: the fake's script is consumed in order)."""
    async def go():
        engine = JobEngine(store, client_settings(max_retries=max_retries), concurrency=concurrency, **engine_kw)
        try:
            return await engine.run(requests)
        finally:
            await engine.aclose()

    return asyncio.run(go())


def ledger_lines(store) -> list[dict]:
    return [json.loads(line) for path in ledger.ledger_files(ledger.store_id(store))
            for line in path.read_text(encoding="utf-8").splitlines()]


def stored_metadata(store, sections=(SECTION,)) -> list[dict]:
    found = []
    for section in sections:
        for name in store.list_raw_names(section):
            if name.endswith(layout.METADATA_SUFFIX):
                found.append(store.read_metadata(section, name[: -len(layout.METADATA_SUFFIX)]))
    return found


class RefusingMetadata(LocalBackend):
    """The real local backend, refusing metadata writes under ``refused`` (after the image is paid for)."""

    def __init__(self, refused: str, **options) -> None:
        super().__init__(**options)
        self.refused = refused

    def write_new(self, fs, path: str, data: bytes, content_type: str) -> None:
        if self.refused and f"/{self.refused}/" in path and path.endswith(layout.METADATA_SUFFIX):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        super().write_new(fs, path, data, content_type)


def refusing_store(url: str, section: SectionRef) -> Store:
    return Store(url, RefusingMetadata(layout.raw_dir(section)))


def test_a_batch_with_faults_is_counted_as_the_fake_served(api_env, local_store_url, tmp_path):
    # Section OTHER refuses metadata: its image is paid for, then cannot be stored (kept for recovery).
    store = refusing_store(local_store_url, OTHER)
    api_env.enqueue(Reply.ok(), Reply.error(400, code="moderation_blocked", message="Your request was rejected"),
                    Reply.ok(), Reply.server_error(500), Reply.ok(), Reply.ok(), Reply.ok())
    requests = requests_for(6) + requests_for(1, OTHER, prefix="kept")
    jobs = run_engine(store, requests)
    assert [job.state for job in jobs] == [JobState.STORED, JobState.FAILED, JobState.STORED, JobState.FAILED,
                                           JobState.STORED, JobState.STORED, JobState.FAILED]
    assert [job.exit_code for job in jobs] == [0, 4, 0, 5, 0, 0, 7]
    served = settle(api_env)
    assert served == 7

    # The same batch again: the four stored are skipped without a request, the rest run again and land.
    store = open_store(local_store_url)
    again = run_engine(store, requests)
    assert sorted(job.state.value for job in again) == ["skipped"] * 4 + ["stored"] * 3
    assert settle(api_env) == served + 3

    report = collect(store, StatsQuery())
    data = report.to_json()
    metadata = stored_metadata(store, (SECTION, OTHER))
    assert len(metadata) == 7  # 4 + 3 images in the store
    assert data["jobs"] == 14
    assert (data["stored"], data["skipped"], data["failed"], data["cancelled"], data["kept"]) == (7, 4, 2, 0, 1)
    assert data["success_rate"] == round(7 / 10, 4)
    # Every request the fake served is one stored, failed or kept job: skipped ones sent nothing.
    assert data["stored"] + data["failed"] + data["kept"] == len(api_env.requests)
    # Spend: each stored image's actual cost (from the usage the fake served) and the kept one's estimate.
    kept_estimate = pricing.estimate(jobs[6].request).usd
    actual = sum(m["cost_usd"] for m in metadata)
    assert actual > 0 and kept_estimate > 0
    assert data["cost_usd"] == pytest.approx(actual + kept_estimate, abs=1e-5)
    assert data["cost_estimated_usd"] == pytest.approx(kept_estimate, abs=1e-5)
    # Durations are those of the jobs that produced an image; p95 of 8 values is the largest.
    produced = [job.elapsed_s for job in jobs + again if job.state is JobState.STORED or job.exit_code == 7]
    assert data["duration_s"]["median"] == pytest.approx(statistics.median(produced), abs=2e-3)
    assert data["duration_s"]["p95"] == pytest.approx(max(produced), abs=2e-3)
    assert report.from_store == 0  # every image in the store is one of the ledger's
    assert report.damaged == [] and report.unreadable == []

    lines = ledger_lines(store)
    failed = [line for line in lines if line["outcome"] == "failed"]
    assert sorted((line["error"]["exit_code"], line["error"]["code"]) for line in failed) == [
        (4, "api_rejected"), (5, "temporary")]
    assert all(line["billed"] is False and line["cost_usd"] is None for line in failed)
    kept = [line for line in lines if line["outcome"] == "kept"]
    assert len(kept) == 1 and kept[0]["billed"] is True
    assert (kept[0]["error"]["exit_code"], kept[0]["error"]["code"]) == (7, "not_stored")
    assert {line["operation"] for line in lines} == {"generate"}
    assert all(line["n"] == 1 and line["model"] == "gpt-image-2" and line["size"] == "1024x1024" for line in lines)

    by_outcome = {group["key"]: group for group in collect(store, StatsQuery(by="outcome")).to_json()["groups"]}
    assert {key: group["jobs"] for key, group in by_outcome.items()} == {
        "stored": 7, "skipped": 4, "failed": 2, "kept": 1}
    by_post = collect(store, StatsQuery(by="post")).to_json()["groups"]
    assert [group["key"] for group in by_post] == [53, 54]
    assert sum(group["jobs"] for group in by_post) == 14
    assert sum(group["cost_usd"] for group in by_post) == pytest.approx(data["cost_usd"], abs=1e-5)
    only_53 = collect(store, StatsQuery(post_id=53)).to_json()
    assert (only_53["jobs"], only_53["stored"], only_53["kept"]) == (12, 6, 0)
    section = collect(store, StatsQuery(post_id=54, section_id=2)).to_json()
    assert (section["jobs"], section["stored"], section["kept"], section["skipped"]) == (2, 1, 1, 0)


def test_a_cancelled_request_counts_as_maybe_billed_at_its_estimate(api_env, memory_store_url):
    store = open_store(memory_store_url)
    api_env.enqueue(Reply.hang(30))
    request = requests_for(1)[0]

    async def go():
        engine = JobEngine(store, client_settings(max_retries=0))
        job = engine.submit(request)
        while not api_env.requests:
            await asyncio.sleep(0.02)
        engine.cancel(job.id)
        await engine.aclose()
        return job

    job = asyncio.run(go())
    assert job.state is JobState.CANCELLED
    data = collect(store, StatsQuery()).to_json()
    assert (data["jobs"], data["cancelled"], data["success_rate"]) == (1, 1, None)
    assert data["cost_usd"] == data["cost_estimated_usd"] == pytest.approx(pricing.estimate(job.request).usd)
    assert data["duration_s"] == {"median": None, "p95": None}


@pytest.mark.parametrize("backend", ["memory", "local", "s3"])
def test_images_made_elsewhere_are_counted_once_from_the_store(api_env, backend, request, tmp_path, monkeypatch):
    url = request.getfixturevalue(f"{backend}_store_url")
    store = open_store(url)
    run_engine(store, requests_for(3))  # in this machine's ledger
    # "Another machine": its own ledger folder, so ours knows nothing of these two images.
    monkeypatch.setenv(ledger.LEDGER_ENV, str(tmp_path / "elsewhere"))
    elsewhere = run_engine(store, requests_for(2, OTHER, prefix="elsewhere"))
    monkeypatch.delenv(ledger.LEDGER_ENV)
    # ...and an old image from before costs were recorded: estimated from its model, size and quality.
    old = stored_metadata(store, (OTHER,))[0]
    old_meta_path = layout.metadata_path(OTHER, "old-image")
    store.write_new(layout.image_path(OTHER, "old-image", "png"), b"\x89PNG old", "image/png")
    legacy = {key: old[key] for key in ("post_id", "section_id", "prompt", "model", "size", "generated_at")}
    store.write_new(old_meta_path, json.dumps({**legacy, "quality": "low"}).encode(), "application/json")

    # ...and an imported picture, which no API job made: not a job at all.
    picture = tmp_path / "photo.png"
    picture.write_bytes(make_png(64, 64))
    api.import_image(str(picture), OTHER.post_id, OTHER.section_id, store=store, filename="photo")

    report = collect(store, StatsQuery())
    data = report.to_json()
    assert (data["jobs"], data["stored"], report.from_store) == (6, 6, 3)
    in_store = [m for m in stored_metadata(store, (SECTION, OTHER)) if m.get("cost_usd") is not None]
    old_estimate = pricing.estimate(ImageRequest(prompt=old["prompt"], section=OTHER, model=old["model"],
                                                 size=old["size"], quality="low")).usd
    assert data["cost_usd"] == pytest.approx(sum(m["cost_usd"] for m in in_store) + old_estimate, abs=1e-5)
    assert data["cost_estimated_usd"] == pytest.approx(old_estimate, abs=1e-5)
    assert [job.state for job in elsewhere] == [JobState.STORED] * 2
    # A time window applies to images found in the store too (by generated_at).
    future = collect(store, StatsQuery(since=parse_date("2999-01-01"))).to_json()
    assert future["jobs"] == 0


def test_a_kept_image_recovered_later_is_not_counted_twice(api_env, local_store_url, monkeypatch):
    from blog_images_tui.recovery import finish_recovery, list_pending

    [job] = run_engine(refusing_store(local_store_url, SECTION),
                       [ImageRequest(prompt="a kept one", section=SECTION, size="1024x1024", quality="low",
                                     filename="hero")])
    assert job.exit_code == 7
    store = open_store(local_store_url)
    [pending] = list_pending()
    finish_recovery(pending, store)
    data = collect(store, StatsQuery()).to_json()
    assert (data["jobs"], data["kept"], data["stored"]) == (1, 1, 0)
    assert len(stored_metadata(store)) == 1


def test_a_single_generate_leaves_its_line_with_the_job_id_in_the_metadata(api_env, memory_store_url):
    stored = api.generate("a lighthouse", 7, 1, store=memory_store_url, size="1024x1024", quality="low")
    [line] = ledger_lines(open_store(memory_store_url))
    assert line["outcome"] == "stored" and line["job_id"] == stored.metadata["job_id"]
    assert line["image_path"] == stored.image_path
    assert line["cost_usd"] == stored.metadata["cost_usd"]
    api_env.enqueue(Reply.error(400, message="rejected"))
    with pytest.raises(ApiRejected):
        api.generate("a second one", 7, 1, store=memory_store_url, size="1024x1024", quality="low")
    data = collect(open_store(memory_store_url), StatsQuery()).to_json()
    assert (data["jobs"], data["stored"], data["failed"]) == (2, 1, 1)


def test_a_damaged_ledger_line_is_skipped_and_reported_with_its_number(api_env, memory_store_url):
    store = open_store(memory_store_url)
    run_engine(store, requests_for(3))
    [path] = ledger.ledger_files(ledger.store_id(store))
    good = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([good[0], "{not json", good[1], "[1, 2]", json.dumps({"outcome": "exploded"}),
                               good[2]]) + "\n" + '{"half a line', encoding="utf-8")
    report = collect(store, StatsQuery())
    assert report.to_json()["stored"] == 3
    assert [(line.line, line.reason) for line in report.damaged] == [
        (2, "not valid JSON"), (4, "not a JSON object"), (5, "unknown outcome 'exploded'"),
        (7, "incomplete line")]
    assert all(str(path) in warning and "(skipped)" in warning for warning in report.warnings())


def test_the_key_is_never_in_the_ledger(api_env, memory_store_url):
    store = open_store(memory_store_url)
    # A 401 whose message echoes the key, a 400 that quotes it, and successes.
    api_env.enqueue(Reply.ok(), Reply.error(400, message=f"bad request from {TEST_KEY}"))
    jobs = run_engine(store, requests_for(2))
    assert [job.state for job in jobs] == [JobState.STORED, JobState.FAILED]
    bad = client_settings(api_key="sk-wrong-WRONGKEY-9876543210")

    async def go():
        engine = JobEngine(store, bad)
        try:
            return await engine.run(requests_for(1, prefix="wrong key"))
        finally:
            await engine.aclose()

    [refused] = asyncio.run(go())
    assert refused.exit_code == 3
    text = b"".join(path.read_bytes() for path in ledger.ledger_files(ledger.store_id(store)))
    assert text.count(b"\n") == 3
    assert TEST_KEY.encode() not in text and b"WRONGKEY" not in text
    assert b"picture number" not in text  # nor the prompt: the metadata has it


def test_a_ledger_that_cannot_be_written_never_fails_the_job(api_env, memory_store_url, tmp_path, monkeypatch,
                                                             caplog):
    not_a_folder = tmp_path / "ledger-file"
    not_a_folder.write_text("in the way")
    monkeypatch.setenv(ledger.LEDGER_ENV, str(not_a_folder))
    jobs = run_engine(open_store(memory_store_url), requests_for(2))
    assert [job.state for job in jobs] == [JobState.STORED] * 2
    assert "could not write the job ledger" in caplog.text
    assert not_a_folder.read_text() == "in the way"


def test_lines_are_rotated_by_month_and_kept_per_store(memory_store_url, tmp_path):
    store, other = open_store(memory_store_url), open_store(str(tmp_path / "other"))
    request = requests_for(1)[0]
    for when in ("2026-10-31T23:59:59+00:00", "2026-11-01T00:00:00+00:00", "2026-11-30T12:00:00+00:00"):
        assert ledger.append(ledger.store_id(store), {"time": when, "outcome": "failed", "post_id": 53, "section_id": 1,
                                              "billed": False})
    ledger.record(other, request, outcome="stored", error=None, duration_s=1.0, billed=True, actual_usd=0.01)
    names = [path.name.rsplit(".", 2)[1] for path in ledger.ledger_files(ledger.store_id(store))]
    assert names == ["2026-10", "2026-11"]
    assert len(ledger.ledger_files(ledger.store_id(other))) == 1
    november = collect(store, StatsQuery(since=parse_date("2026-11-01"),
                                         until=parse_date("2026-11-30", end=True))).to_json()
    assert november["jobs"] == 2
    assert collect(store, StatsQuery(until=parse_date("2026-10-31", end=True))).to_json()["jobs"] == 1
    by_day = collect(store, StatsQuery(by="day")).to_json()["groups"]
    assert [(group["key"], group["jobs"]) for group in by_day] == [("2026-10-31", 1), ("2026-11-01", 1),
                                                                  ("2026-11-30", 1)]
    assert collect(other, StatsQuery()).to_json()["stored"] == 1


def test_appends_from_concurrent_processes_never_interleave(memory_store_url, tmp_path):
    location = ledger.store_id(open_store(memory_store_url))
    writer = ("import sys\nfrom blog_images_tui import ledger\n"
              "for i in range(300):\n"
              "    ledger.append(sys.argv[1], {'outcome': 'stored', 'post_id': int(sys.argv[2]), 'section_id': i,"
              " 'billed': True, 'cost_usd': 0.001, 'padding': 'x' * 3000})\n")
    procs = [subprocess.Popen([sys.executable, "-c", writer, location, str(n)], env=dict(os.environ))
             for n in range(4)]
    assert [proc.wait(timeout=120) for proc in procs] == [0] * 4
    damaged: list = []
    entries = list(ledger.read(location, damaged=damaged))
    assert damaged == []
    assert sorted((entry["post_id"], entry["section_id"]) for entry in entries) == sorted(
        (n, i) for n in range(4) for i in range(300))


def test_stats_queries_refuse_bad_input():
    from blog_images_tui.errors import BadInput

    with pytest.raises(BadInput, match="--since"):
        parse_date("yesterday")
    with pytest.raises(BadInput, match="before"):
        StatsQuery(since=parse_date("2026-12-02"), until=parse_date("2026-12-01", end=True))
    with pytest.raises(BadInput, match="--by"):
        StatsQuery(by="colour")
    assert parse_date("2026-12-01", end=True) == datetime(2026, 12, 2, tzinfo=UTC)
    assert parse_date("2026-12-01T09:30") == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 95) == 5.0 and percentile(range(1, 101), 95) == 95
    assert percentile([], 50) is None


def test_publish_jobs_leave_their_lines_and_are_not_counted_as_image_jobs(api_env, local_store_url):
    from blog_images_tui.errors import BlogImagesError

    store = open_store(local_store_url)
    [job] = run_engine(store, [ImageRequest(prompt="to publish", section=SECTION, size="256x256", quality="low",
                                            filename="hero")])
    assert job.state is JobState.STORED
    first = api.publish(53, 1, "hero", store=local_store_url, widths=(64,), formats=("webp",))
    api.publish(53, 1, "hero", store=local_store_url, widths=(64,), formats=("webp",))  # unchanged
    with pytest.raises(BlogImagesError):
        api.publish(53, 1, "missing", store=local_store_url, widths=(64,), formats=("webp",))
    published = [line for line in ledger_lines(store) if line["operation"] == "publish"]
    assert [line["outcome"] for line in published] == ["stored", "skipped", "failed"]
    assert published[0]["image_path"] == first.manifest_path and published[0]["name"] == "hero"
    assert all(line["billed"] is False for line in published)
    data = collect(store, StatsQuery()).to_json()
    assert (data["jobs"], data["stored"], data["failed"]) == (1, 1, 0)  # the generation alone


def test_variants_of_one_request_are_one_job_in_the_ledger_and_in_the_store(api_env, memory_store_url, tmp_path,
                                                                         monkeypatch):
    store = open_store(memory_store_url)
    [job] = run_engine(store, [ImageRequest(prompt="three foxes", section=SECTION, size="1024x1024", quality="low",
                                            n=3)])
    assert job.state is JobState.STORED and len(job.results) == 3
    [line] = ledger_lines(store)
    assert line["n"] == 3 and sorted(line["image_paths"]) == sorted(item.image_path for item in job.results)
    monkeypatch.setenv(ledger.LEDGER_ENV, str(tmp_path / "elsewhere"))
    run_engine(store, [ImageRequest(prompt="two owls", section=OTHER, size="1024x1024", quality="low", n=2)])
    monkeypatch.delenv(ledger.LEDGER_ENV)
    assert len(stored_metadata(store, (SECTION, OTHER))) == 5
    report = collect(store, StatsQuery())
    data = report.to_json()
    assert (data["jobs"], data["stored"], report.from_store) == (2, 2, 1)  # two requests, five images
    assert data["cost_usd"] == pytest.approx(sum(m["cost_usd"] for m in stored_metadata(store, (SECTION, OTHER))),
                                             abs=1e-5)


def test_an_edit_is_a_job_of_its_own_with_operation_edit(api_env, memory_store_url):
    from blog_images_tui.editing import EditOptions, plan_edit

    store = open_store(memory_store_url)
    [source] = run_engine(store, [ImageRequest(prompt="a lighthouse", section=SECTION, size="1024x1024",
                                               quality="low", filename="hero")])
    edit = plan_edit(store, "53/1/hero", EditOptions(prompt="the same, at night", filename="night"))
    [edited] = run_engine(store, [edit])
    assert (source.state, edited.state) == (JobState.STORED, JobState.STORED)
    assert [line["operation"] for line in ledger_lines(store)] == ["generate", "edit"]
    data = collect(store, StatsQuery(by="model")).to_json()
    assert (data["jobs"], data["stored"], collect(store, StatsQuery()).from_store) == (2, 2, 0)
    assert sorted(group["key"] for group in data["groups"]) == sorted({"gpt-image-2", edit.model})


def test_every_spelling_of_a_store_shares_its_ledger(api_env, local_store_url, monkeypatch, tmp_path):
    run_engine(open_store(f"file://{local_store_url}"), requests_for(1))
    monkeypatch.chdir(Path(local_store_url).parent)
    for spelling in (local_store_url + "/", "./static", local_store_url):
        report = collect(open_store(spelling), StatsQuery())
        assert (report.to_json()["stored"], report.from_store) == (1, 0), spelling
    assert len(list(ledger.ledger_root().iterdir())) == 1
    assert ledger.store_id(open_store("s3://bucket/blog/")) == ledger.store_id(open_store("s3://bucket/blog"))
