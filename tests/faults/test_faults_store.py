"""Store-side faults: the moto S3 server and the local disk refusing, failing or racing.

S3 faults are real S3 behaviour on moto (a missing bucket, bucket policies
that deny writes, a connection cut in the middle of an upload by a proxy);
local faults go through the real local backend with one OS call failing
(``tests/support/faulty_backend.py``, loaded as a plugin by the subprocess).
Every case lists the whole store afterwards: no partial object or file, no
temp file, nothing overwritten, and a paid-for image is never lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path

import pytest

from blog_images_tui.errors import NotStored
from blog_images_tui.generation import ClientSettings, ImageGenerator, ImageRequest
from blog_images_tui.ids import SectionRef
from blog_images_tui.recovery import finish_recovery, list_pending
from blog_images_tui.secrets import ApiKey
from blog_images_tui.service import generate_into_store
from blog_images_tui.storage import open_store
from blog_images_tui.testing.fake_images_api import Reply, make_png
from tests.support import TEST_KEY
from tests.support.faults import (
    FAULT_ENV,
    Cli,
    CuttingProxy,
    deny_put_policy,
    generate_args,
    pending_folders,
    raw_files,
    s3_keys,
    s3_objects,
    tree,
)

pytestmark = pytest.mark.usefixtures("api_env")

RAW = "content/posts/1/sections/2/raw"


def bucket_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def only_pending(recovery: Path) -> Path:
    folders = pending_folders(recovery)
    assert len(folders) == 1, folders
    return folders[0]


# ---------------------------------------------------------------------------------- S3: before paying


def test_s3_missing_bucket_exits_6_before_any_request(cli: Cli, fake_api, moto_s3, s3_store_url):
    missing = f"missing-{bucket_of(s3_store_url)}"
    run = cli.run(*generate_args(f"s3://{missing}/blog"))
    assert run.code == 6, run
    assert "does not exist" in run.stderr and "create the bucket" in run.stderr
    assert fake_api.requests == []
    buckets = [b["Name"] for b in moto_s3.client().list_buckets()["Buckets"]]
    assert missing not in buckets  # nothing created it on the way


def test_s3_access_denied_exits_6_before_any_request(cli: Cli, fake_api, moto_s3, s3_store_url):
    bucket = bucket_of(s3_store_url)
    cli.watch_bucket(moto_s3, bucket)
    moto_s3.client().put_bucket_policy(Bucket=bucket, Policy=deny_put_policy(bucket))
    run = cli.run(*generate_args(s3_store_url))
    assert run.code == 6, run
    assert "no permission to write" in run.stderr and "bucket policy" in run.stderr
    assert fake_api.requests == []
    assert s3_keys(moto_s3, bucket) == []


def test_local_store_that_is_a_file_exits_6_before_any_request(cli: Cli, fake_api, tmp_path):
    not_a_folder = tmp_path / "static"
    not_a_folder.write_bytes(b"I am a file")
    run = cli.run(*generate_args(str(not_a_folder)))
    assert run.code == 6, run
    assert fake_api.requests == []
    assert not_a_folder.read_bytes() == b"I am a file"


# ---------------------------------------------------------------------------------- S3: after paying


def test_s3_metadata_write_denied_keeps_the_image_and_recover_finishes(cli: Cli, fake_api, moto_s3, s3_store_url):
    bucket = bucket_of(s3_store_url)
    cli.watch_bucket(moto_s3, bucket)
    s3 = moto_s3.client()
    s3.put_bucket_policy(Bucket=bucket, Policy=deny_put_policy(bucket, "*_metadata.json"))

    run = cli.run(*generate_args(s3_store_url, extra=("--filename", "hero")))
    assert run.code == 7, run
    assert "image generated but not stored" in run.stderr and "metadata" in run.stderr
    assert f"blog-images recover --store {s3_store_url}" in run.stderr
    assert len(fake_api.requests) == 1
    # The image object landed, its metadata did not; both wait locally.
    objects = s3_objects(moto_s3, bucket)
    assert list(objects) == [f"blog/{RAW}/hero.png"]
    kept = only_pending(cli.workdir / "recovery")
    assert str(kept) in run.stderr
    assert sorted(p.name for p in kept.iterdir()) == ["hero.png", "hero_metadata.json", "target.json"]
    assert sha256((kept / "hero.png").read_bytes()) == sha256(objects[f"blog/{RAW}/hero.png"])
    note = json.loads((kept / "target.json").read_text())
    assert note["store_url"] == s3_store_url and "metadata" in note["reason"]

    s3.delete_bucket_policy(Bucket=bucket)
    run = cli.run("recover")
    assert run.code == 0, run
    objects = s3_objects(moto_s3, bucket)
    assert sorted(objects) == [f"blog/{RAW}/hero.png", f"blog/{RAW}/hero_metadata.json"]
    metadata = json.loads(objects[f"blog/{RAW}/hero_metadata.json"])
    assert metadata["sha256"] == sha256(objects[f"blog/{RAW}/hero.png"])
    assert metadata["image_path"] == f"{s3_store_url}/{RAW}/hero.png"
    assert pending_folders(cli.workdir / "recovery") == []
    assert len(fake_api.requests) == 1  # recovering never pays again


def test_s3_upload_cut_mid_body_leaves_no_partial_object(cli: Cli, fake_api, moto_s3, s3_store_url):
    bucket = bucket_of(s3_store_url)
    cli.watch_bucket(moto_s3, bucket)
    with CuttingProxy(moto_s3.endpoint_url, cut=lambda method, path: method == "PUT" and ".png" in path) as proxy:
        run = cli.run(*generate_args(s3_store_url, extra=(
            "--filename", "hero", "--store-option", f"endpoint_url={proxy.url}",
            "--store-option", "retries=2")))
    assert run.code == 7, run
    assert proxy.cuts >= 1
    assert len(fake_api.requests) == 1
    assert s3_keys(moto_s3, bucket) == []  # no partial object, no probe
    assert moto_s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    kept = only_pending(cli.workdir / "recovery")

    run = cli.run("recover", "--store-option", f"endpoint_url={moto_s3.endpoint_url}")
    assert run.code == 0, run
    objects = s3_objects(moto_s3, bucket)
    assert sorted(objects) == [f"blog/{RAW}/hero.png", f"blog/{RAW}/hero_metadata.json"]
    assert not kept.exists()


# ---------------------------------------------------------------------------------- existing names


@pytest.mark.parametrize("existing", [("hero.png", "hero_metadata.json"), ("hero.png",), ("hero_metadata.json",)],
                         ids=["pair", "image-only", "metadata-only"])
@pytest.mark.parametrize("backend", ["local", "s3"])
def test_an_existing_name_is_never_overwritten(cli: Cli, fake_api, request, backend, existing):
    url = request.getfixturevalue(f"{backend}_store_url")
    if backend == "s3":
        cli.watch_bucket(request.getfixturevalue("moto_s3"), bucket_of(url))
    store = open_store(url)
    section = SectionRef(1, 2)
    before = {}
    for name in existing:
        data = make_png(32, 32) if name.endswith(".png") else b'{"prompt": "the original"}\n'
        store.write_new(f"{RAW}/{name}", data, "application/octet-stream")
        before[name] = data
    run = cli.run(*generate_args(url, extra=("--filename", "hero")))
    assert run.code == 2, run
    assert "already exists" in run.stderr and "nothing is overwritten" in run.stderr
    assert fake_api.requests == []
    assert store.list_raw_names(section) == sorted(existing)
    for name, data in before.items():
        assert store.read_bytes(f"{RAW}/{name}") == data


def _generate_in_process(fake_api, store, request: ImageRequest):
    settings = ClientSettings(api_key=ApiKey(TEST_KEY, "test"), base_url=fake_api.base_url, max_retries=0)

    async def go():
        async with ImageGenerator(settings) as generator:
            return await generate_into_store(request, store, generator)

    return asyncio.run(go())


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_name_taken_while_generating_is_not_overwritten(debug_log, fake_api, request, backend, tmp_path):
    """Another writer takes the name between the check and the write: the
    store's exclusive create (hard link / If-None-Match) refuses, the paid
    image goes to the recovery folder and recovering gives it a new name."""
    url = request.getfixturevalue(f"{backend}_store_url")
    store = open_store(url)
    theirs = make_png(48, 48)
    fake_api.enqueue(Reply.delay(1.0, Reply.ok()))

    async def race():
        task = asyncio.create_task(asyncio.to_thread(
            _generate_in_process, fake_api, store, ImageRequest("ours", SectionRef(1, 2), filename="hero",
                                                                size="64x64")))
        await asyncio.to_thread(fake_api.wait_for_requests, 1, 10)
        await asyncio.to_thread(store.write_new, f"{RAW}/hero.png", theirs, "image/png")
        return await task

    with pytest.raises(NotStored, match="was taken meanwhile") as caught:
        asyncio.run(race())
    assert caught.value.exit_code == 7
    assert store.read_bytes(f"{RAW}/hero.png") == theirs
    assert store.list_raw_names(SectionRef(1, 2)) == ["hero.png"]
    [pending] = list_pending()
    ours = pending.image_file.read_bytes()
    assert ours != theirs

    stored = finish_recovery(pending, open_store(pending.store_url))
    assert stored.filename.startswith("hero-r")
    assert store.read_bytes(f"{RAW}/hero.png") == theirs
    assert store.read_bytes(f"{RAW}/{stored.filename}.png") == ours
    assert json.loads(store.read_bytes(f"{RAW}/{stored.filename}_metadata.json"))["sha256"] == sha256(ours)
    assert list_pending() == []


# ---------------------------------------------------------------------------------- local disk


def test_local_metadata_write_failing_keeps_the_image_and_recover_finishes(cli: Cli, fake_api, faulty_backend,
                                                                          local_store_url):
    url = faulty_backend + local_store_url
    run = cli.run(*generate_args(url, extra=("--filename", "hero")), env={FAULT_ENV: "metadata:enospc-mid"})
    assert run.code == 7, run
    assert "image generated but not stored" in run.stderr and "No space left on device" in run.stderr
    assert raw_files(local_store_url) == ["hero.png"]
    kept = only_pending(cli.workdir / "recovery")
    stored_bytes = (Path(local_store_url) / RAW / "hero.png").read_bytes()
    assert (kept / "hero.png").read_bytes() == stored_bytes

    run = cli.run("recover")
    assert run.code == 0, run
    assert raw_files(local_store_url) == ["hero.png", "hero_metadata.json"]
    assert (Path(local_store_url) / RAW / "hero.png").read_bytes() == stored_bytes  # not written twice
    metadata = json.loads((Path(local_store_url) / RAW / "hero_metadata.json").read_text())
    assert metadata["sha256"] == sha256(stored_bytes)
    assert metadata["image_path"] == str(Path(local_store_url) / RAW / "hero.png")
    assert pending_folders(cli.workdir / "recovery") == []


@pytest.mark.parametrize("fault, words", [
    ("image:enospc-mid", "No space left on device"),
    ("image:eacces-link", "Permission denied"),
    ("image:eacces-open", "Permission denied"),
], ids=["disk-full-mid-write", "permission-denied-publishing", "permission-denied-creating"])
def test_local_image_write_failing_leaves_no_temp_file_and_keeps_the_image(cli: Cli, fake_api, faulty_backend,
                                                                           local_store_url, fault, words):
    url = faulty_backend + local_store_url
    run = cli.run(*generate_args(url, extra=("--filename", "hero")), env={FAULT_ENV: fault})
    assert run.code == 7, run
    assert words in run.stderr
    # No target, no temp file: the section's folder holds nothing at all.
    assert raw_files(local_store_url) == []
    assert [entry for entry in tree(local_store_url) if not entry.endswith("/")] == []
    kept = only_pending(cli.workdir / "recovery")
    assert (kept / "hero.png").stat().st_size > 0

    run = cli.run("recover")
    assert run.code == 0, run
    assert raw_files(local_store_url) == ["hero.png", "hero_metadata.json"]
    assert len(fake_api.requests) == 1


def test_recover_from_another_folder_finishes_into_the_original_relative_store(cli: Cli, fake_api, faulty_backend,
                                                                               tmp_path):
    """``--store static`` means the ``static`` folder of where it ran: the kept image must go back
    there, not to a ``static`` folder of wherever ``recover`` is run later."""
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    site.mkdir()
    elsewhere.mkdir()
    run = cli.run(*generate_args(faulty_backend + "static", extra=("--filename", "hero")),
                  env={FAULT_ENV: "metadata:enospc-mid"}, cwd=site)
    assert run.code == 7, run
    run = cli.run("recover", cwd=elsewhere)
    assert run.code == 0, run
    assert raw_files(site / "static") == ["hero.png", "hero_metadata.json"]
    assert list(elsewhere.iterdir()) == []
    metadata = json.loads((site / "static" / RAW / "hero_metadata.json").read_text())
    assert metadata["image_path"] == str(site / "static" / RAW / "hero.png")


def test_recover_store_filter_accepts_the_path_as_typed(cli: Cli, fake_api, faulty_backend, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    run = cli.run(*generate_args(faulty_backend + "static", extra=("--filename", "hero")),
                  env={FAULT_ENV: "metadata:enospc-mid"}, cwd=site)
    assert run.code == 7, run
    hint = run.stderr.split("finish with: ", 1)[1].split(")")[0]
    run = cli.run(*hint.split()[1:], cwd=site)  # the hint's command, as printed
    assert run.code == 0, run
    assert raw_files(site / "static") == ["hero.png", "hero_metadata.json"]


def test_an_unusable_recovery_folder_falls_back_to_the_temp_folder_and_the_hint_finds_it(
        cli: Cli, fake_api, faulty_backend, local_store_url, tmp_path):
    import shlex

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the recovery folder's parent should be")
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {FAULT_ENV: "image:enospc-mid", "BLOG_IMAGES_RECOVERY_DIR": str(blocker / "recovery"), "TMPDIR": str(temp)}
    run = cli.run(*generate_args(faulty_backend + local_store_url, extra=("--filename", "hero")), env=env)
    assert run.code == 7, run
    kept = only_pending(temp / f"blog-images-recovery-{os.getuid()}")  # per user (issue 10, item 13)
    assert str(kept) in run.stderr
    # The printed command works as printed: it points `recover` at where the image really is.
    hint = run.stderr.split("finish with: ", 1)[1].rsplit(")", 1)[0]
    assignment, program, *arguments = shlex.split(hint)
    name, value = assignment.split("=", 1)
    assert (program, name) == ("blog-images", "BLOG_IMAGES_RECOVERY_DIR")
    run = cli.run(*arguments, env={name: value})
    assert run.code == 0, run
    assert raw_files(local_store_url) == ["hero.png", "hero_metadata.json"]
    assert not kept.exists()
