"""``blog-images doctor``: finds what failed or interrupted runs leave behind; ``--fix`` repairs what is safe.

The damage is made the way it happens: a metadata write refused by the store
(a bucket policy on moto, a failing disk through the faulty plugin backend), a
process killed in the middle of a write, a write probe left by a killed
process, files edited by hand. Doctor runs as a real subprocess.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from blog_images_tui.doctor import Problem, examine, repair
from blog_images_tui.ids import SectionRef
from blog_images_tui.storage import encode_metadata, open_store
from blog_images_tui.testing.fake_images_api import make_png
from tests.support.faults import (
    FAULT_ENV,
    Cli,
    deny_put_policy,
    generate_args,
    kill_mid_image_write,
    pending_folders,
    raw_files,
    s3_keys,
)

RAW = "content/posts/1/sections/2/raw"


def doctor(cli: Cli, store: str, *extra: str, leftovers_allowed: bool = False):
    run = cli.run("doctor", "--store", store, "--json", *extra, leftovers_allowed=leftovers_allowed)
    return run, json.loads(run.stdout)


def problems(report: dict) -> list[tuple[str, str]]:
    return sorted((item["problem"], Path(item["path"]).name) for item in report["findings"])


def test_a_healthy_store_exits_0(cli: Cli, api_env, local_store_url):
    assert cli.run(*generate_args(local_store_url, extra=("--filename", "hero"))).code == 0
    run = cli.run("doctor", "--store", local_store_url)
    assert run.code == 0, run
    assert "1 post(s), 1 section(s), 1 image(s)" in run.stdout and "no problems found" in run.stdout
    run, report = doctor(cli, local_store_url)
    assert report["ok"] is True and report["findings"] == [] and report["images"] == 1


def test_metadata_refused_locally_then_doctor_fix_finishes_it(cli: Cli, api_env, faulty_backend, local_store_url):
    url = faulty_backend + local_store_url
    run = cli.run(*generate_args(url, extra=("--filename", "hero")), env={FAULT_ENV: "metadata:enospc-mid"})
    assert run.code == 7, run

    run = cli.run("doctor", "--store", url)
    assert run.code == 7, run
    assert "image without metadata" in run.stdout and "its metadata waits in the recovery folder" in run.stdout
    assert "waiting in the recovery folder" in run.stdout and "doctor --fix" in run.stdout
    run, report = doctor(cli, url)
    assert problems(report) == [("image without metadata", "hero.png"),
                                ("waiting in the recovery folder", pending_folders(cli.workdir / "recovery")[0].name)]

    run = cli.run("doctor", "--store", url, "--fix")
    assert run.code == 0, run
    assert run.stdout.count("fixed: ") == 2 and "2 fixed, 0 left" in run.stdout
    assert raw_files(local_store_url) == ["hero.png", "hero_metadata.json"]
    assert pending_folders(cli.workdir / "recovery") == []
    assert doctor(cli, url)[1]["ok"] is True
    assert len(api_env.requests) == 1  # repairing never pays again


@pytest.mark.s3
def test_metadata_denied_on_s3_then_doctor_fix_finishes_it(cli: Cli, api_env, moto_s3, s3_store_url):
    bucket = s3_store_url.split("/")[2]
    cli.watch_bucket(moto_s3, bucket)
    s3 = moto_s3.client()
    s3.put_bucket_policy(Bucket=bucket, Policy=deny_put_policy(bucket, "*_metadata.json"))
    assert cli.run(*generate_args(s3_store_url, extra=("--filename", "hero"))).code == 7

    # Still denied: --fix tries, says why it could not, keeps the image waiting.
    run, report = doctor(cli, s3_store_url, "--fix")
    assert run.code == 7, run
    waiting = next(item for item in report["findings"] if item["problem"] == "waiting in the recovery folder")
    assert waiting["fixed"] is False and "could not finish" in waiting["note"]
    assert len(pending_folders(cli.workdir / "recovery")) == 1

    s3.delete_bucket_policy(Bucket=bucket)
    run, report = doctor(cli, s3_store_url, "--fix")
    assert run.code == 0, run
    assert report["fixed"] == 2 and report["remaining"] == 0
    assert s3_keys(moto_s3, bucket) == [f"blog/{RAW}/hero.png", f"blog/{RAW}/hero_metadata.json"]
    assert pending_folders(cli.workdir / "recovery") == []


def test_temp_file_of_a_killed_write_is_found_and_removed_only_when_old(cli: Cli, api_env, faulty_backend,
                                                                        local_store_url):
    raw = Path(local_store_url) / RAW
    kill_mid_image_write(cli, faulty_backend + local_store_url, raw)
    [temp] = raw_files(local_store_url)

    run, report = doctor(cli, local_store_url, "--fix", leftovers_allowed=True)  # may be a write in progress
    assert run.code == 7, run
    [finding] = report["findings"]
    assert (finding["problem"], finding["fixed"]) == ("leftover temp file", False)
    assert "write in progress" in finding["note"]
    assert raw_files(local_store_url) == [temp]

    two_hours_ago = time.time() - 7200
    os.utime(raw / temp, (two_hours_ago, two_hours_ago))
    run = cli.run("doctor", "--store", local_store_url, leftovers_allowed=True)
    assert run.code == 7 and "leftover temp file" in run.stdout and "h old" in run.stdout, run
    run = cli.run("doctor", "--store", local_store_url, "--fix")
    assert run.code == 0, run
    assert raw_files(local_store_url) == []


@pytest.mark.s3
def test_a_write_probe_left_on_s3_is_removed(cli: Cli, moto_s3, s3_store_url):
    bucket = s3_store_url.split("/")[2]
    probe = "blog/content/posts/.blog-images-write-check-0123456789abcdef"
    moto_s3.client().put_object(Bucket=bucket, Key=probe, Body=b"")
    run = cli.run("doctor", "--store", s3_store_url, leftovers_allowed=True)
    assert run.code == 7 and "leftover temp file" in run.stdout and "a write probe" in run.stdout, run
    run = cli.run("doctor", "--store", s3_store_url, "--fix", "--min-temp-age", "0")
    assert run.code == 0, run
    assert s3_keys(moto_s3, bucket) == []


def test_hand_made_damage_is_reported_and_never_deleted(cli: Cli, local_store_url, tmp_path):
    store = open_store(local_store_url)
    damage = {
        f"{RAW}/orphan_metadata.json": encode_metadata({"prompt": "its image was deleted"}),
        f"{RAW}/broken.png": make_png(8, 8),
        f"{RAW}/broken_metadata.json": b'{"prompt": "cut off',
        f"{RAW}/listed.png": make_png(8, 8),
        f"{RAW}/listed_metadata.json": b'["a", "list"]\n',
        f"{RAW}/lonely.webp": b"RIFF....WEBP",
        f"{RAW}/notes.txt": b"not ours: ignored",
    }
    for relative, data in damage.items():
        store.write_new(relative, data, "application/octet-stream")
    (tmp_path / "recovery" / "20261124T000000Z-lost-abcdef").mkdir(parents=True)
    (tmp_path / "recovery" / "20261124T000000Z-lost-abcdef" / "lost.png").write_bytes(make_png(8, 8))

    run, report = doctor(cli, local_store_url, "--fix", "--min-temp-age", "0")
    assert run.code == 7, run
    assert problems(report) == [
        ("empty or undecodable image", "lonely.webp"),  # garbage is never the copy to keep (issue 10)
        ("metadata without image", "orphan_metadata.json"),
        ("unreadable metadata", "broken_metadata.json"),
        ("unreadable metadata", "listed_metadata.json"),
        ("unusable recovery folder", "20261124T000000Z-lost-abcdef"),
    ]
    assert all(item["fixed"] is False and item["note"] for item in report["findings"])
    notes = {Path(item["path"]).name: item for item in report["findings"]}
    assert "not valid JSON" in notes["broken_metadata.json"]["detail"]
    assert "not an object" in notes["listed_metadata.json"]["detail"]
    assert "no note" in notes["20261124T000000Z-lost-abcdef"]["detail"]
    # Nothing was deleted or changed.
    assert sorted(raw_files(local_store_url)) == sorted(Path(relative).name for relative in damage)
    for relative, data in damage.items():
        assert store.read_bytes(relative) == data


def test_recoveries_for_other_stores_are_counted_not_touched(cli: Cli, api_env, faulty_backend, tmp_path,
                                                             local_store_url):
    other = tmp_path / "other-static"
    other.mkdir()
    run = cli.run(*generate_args(faulty_backend + str(other), extra=("--filename", "hero")),
                  env={FAULT_ENV: "metadata:enospc-mid"})
    assert run.code == 7
    run, report = doctor(cli, local_store_url, "--fix")
    assert run.code == 0, run
    assert report["other_pending"] == 1 and report["findings"] == []
    assert len(pending_folders(cli.workdir / "recovery")) == 1
    assert "1 more image(s) wait" in cli.run("doctor", "--store", local_store_url).stdout


@pytest.mark.s3
def test_a_missing_bucket_or_folder_exits_6_instead_of_looking_healthy(cli: Cli, moto_s3, s3_store_url, tmp_path):
    bucket = s3_store_url.split("/")[2]
    for store in (f"s3://missing-{bucket}/blog", str(tmp_path / "no-such-folder")):
        run = cli.run("doctor", "--store", store)
        assert run.code == 6, run
        assert "does not exist" in run.stderr
    # An existing bucket whose prefix holds nothing yet is an empty store, not a missing one.
    run = cli.run("doctor", "--store", f"s3://{bucket}/not-used-yet")
    assert run.code == 0 and "0 post(s)" in run.stdout, run


@pytest.mark.s3
def test_an_unreachable_store_exits_6(cli: Cli, s3_store_url):
    run = cli.run("doctor", "--store", s3_store_url, "--store-option", "endpoint_url=http://127.0.0.1:9",
                  "--store-option", "retries=1")
    assert run.code == 6, run


def test_doctor_walks_one_level_at_a_time(memory_store_url, monkeypatch):
    store = open_store(memory_store_url)
    for post, section in ((1, 1), (1, 2), (2, 1)):
        store.save(SectionRef(post, section), "hero", "png", make_png(8, 8), {"prompt": "x"})
    listed: list[str] = []
    real_ls = store.fs.ls

    def ls(path, detail=True, **kwargs):
        listed.append(path)
        return real_ls(path, detail=detail, **kwargs)

    # monkeypatch: the memory filesystem is one cached instance that later tests use too.
    monkeypatch.setattr(store.fs, "ls", ls)
    for name in ("find", "walk", "glob", "du", "expand_path"):
        monkeypatch.setattr(store.fs, name,
                            lambda *a, _name=name, **k: pytest.fail(f"doctor used fs.{_name}: a tree walk"))
    seen: list[SectionRef] = []
    checkup = examine(store, on_section=seen.append)
    assert checkup.healthy and (checkup.posts, checkup.sections, checkup.images) == (2, 3, 3)
    assert seen == [SectionRef(1, 1), SectionRef(1, 2), SectionRef(2, 1)]
    # posts dir (probes), posts, 2 posts' sections, 3 raw and 3 web folders: one listing each
    assert len(listed) == 1 + 1 + 2 + 3 + 3


def test_repair_leaves_young_temp_files_and_reports_why(memory_store_url):
    store = open_store(memory_store_url)
    store.write_new(f"{RAW}/.blog-images-tmp-hero.png.abc123", b"half", "application/octet-stream")
    checkup = repair(store, examine(store), min_temp_age_s=3600)
    [finding] = checkup.findings
    assert finding.problem is Problem.LEFTOVER_TEMP_FILE and not finding.fixed
    assert "left alone" in finding.note
    checkup = repair(store, examine(store), min_temp_age_s=0)
    assert checkup.healthy and store.list_raw_names(SectionRef(1, 2)) == []
