"""``GET /api/v1/stats`` on a real uvicorn: the CLI's ``stats --json`` fields, for jobs the server ran."""

from __future__ import annotations

import json

from blog_images_tui.cli import main as cli_main
from blog_images_tui.stats import StatsQuery, collect
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import Reply
from tests.support import TEST_KEY
from tests.support.web import TOKEN, wait_for_job

JOB = {"post_id": 53, "section_id": 1, "prompt": "A lighthouse at dawn", "size": "1024x1024", "partial_images": 0}
FIELDS = {"jobs", "stored", "skipped", "failed", "cancelled", "kept", "success_rate", "cost_usd",
          "cost_estimated_usd", "duration_s", "groups"}


def test_stats_of_the_servers_jobs_are_the_clis(web_local, fake_api, capsys):
    fake_api.enqueue(Reply.ok(), Reply.error(400, code="moderation_blocked", message="rejected by the fake"))
    with web_local.client() as client:
        for prompt in ("first", "second"):
            posted = client.post("/api/v1/jobs", json={**JOB, "prompt": prompt})
            assert posted.status_code == 202, posted.text
            wait_for_job(client, posted.json()["job_id"])
        stats = client.get("/api/v1/stats")
        assert stats.status_code == 200, stats.text
        data = stats.json()
        assert set(data) == FIELDS
        assert (data["jobs"], data["stored"], data["failed"], data["success_rate"]) == (2, 1, 1, 0.5)
        assert data["cost_usd"] > 0 and data["duration_s"]["median"] is not None
        assert data == collect(open_store(web_local.store_url), StatsQuery()).to_json()

        by_outcome = client.get("/api/v1/stats", params={"by": "outcome"}).json()
        assert [(group["key"], group["jobs"]) for group in by_outcome["groups"]] == [("failed", 1), ("stored", 1)]
        assert all(set(group) == FIELDS - {"groups"} | {"key"} for group in by_outcome["groups"])
        assert client.get("/api/v1/stats", params={"post": "54"}).json()["jobs"] == 0
        assert client.get("/api/v1/stats", params={"post": "53", "section": "1"}).json()["jobs"] == 2
        assert client.get("/api/v1/stats", params={"since": "2999-01-01"}).json()["jobs"] == 0
        assert TEST_KEY not in stats.text

    # The same numbers as the command line's, field for field.
    assert cli_main(["stats", "--store", web_local.store_url, "--by", "outcome", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == by_outcome


def test_stats_refuses_bad_queries_and_strangers(web_local):
    with web_local.client() as client:
        for params, status, code in (({"post": "../etc"}, 400, "bad_input"), ({"section": "1"}, 400, "bad_input"),
                                     ({"since": "last week"}, 400, "bad_input"),
                                     ({"since": "2026-12-02", "until": "2026-12-01"}, 400, "bad_input"),
                                     ({"by": "colour"}, 422, "invalid_request")):
            response = client.get("/api/v1/stats", params=params)
            assert response.status_code == status, (params, response.text)
            body = response.json()
            assert body["ok"] is False and body["error"]["code"] == code and body["error"]["exit_code"] == 2
    with web_local.client(token=None) as anonymous, web_local.client(token=TOKEN + "x") as wrong:
        for stranger in (anonymous, wrong):
            response = stranger.get("/api/v1/stats")
            assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
