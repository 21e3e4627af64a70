"""Process side: Ctrl-C (SIGINT) and kills reaching a real ``blog-images`` process.

Interrupted while the request is in flight: exit 130, nothing written, and
running the same command again completes. Interrupted while a paid-for image
is being written: the write is let finish (never half a pair), then exit 130.
Killed outright in the middle of a write: no partial file is visible under the
image's name (the leftover temp file is what ``blog-images doctor`` cleans).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from blog_images_tui.testing.fake_images_api import Reply
from tests.support import wait_until
from tests.support.faults import (
    FAULT_ENV,
    FAULT_MARK_ENV,
    Cli,
    generate_args,
    kill_mid_image_write,
    pending_folders,
    raw_files,
    tree,
)

pytestmark = pytest.mark.usefixtures("api_env")

RAW = "content/posts/1/sections/2/raw"


def test_sigint_during_a_generation_exits_130_and_a_rerun_completes(cli: Cli, fake_api, local_store_url):
    fake_api.enqueue(Reply.delay(30, Reply.ok()))
    running = cli.start(*generate_args(local_store_url, extra=("--filename", "hero")))
    assert fake_api.wait_for_requests(1, timeout=30), "the request never reached the server"
    interrupted_at = time.monotonic()
    running.interrupt()
    run = running.wait(timeout=20)
    assert run.code == 130, run
    assert time.monotonic() - interrupted_at < 10
    assert "interrupted" in run.stderr
    assert "Traceback" not in run.stderr
    assert [entry for entry in tree(local_store_url) if not entry.endswith("/")] == []
    assert pending_folders(cli.workdir / "recovery") == []
    # The server saw the client go away: no answer was delivered, nothing was paid for twice.
    wait_until(lambda: fake_api.in_flight == 0, what="the server to drop the request")

    run = cli.run(*generate_args(local_store_url, extra=("--filename", "hero")))
    assert run.code == 0, run
    assert raw_files(local_store_url) == ["hero.png", "hero_metadata.json"]
    assert len(fake_api.requests) == 2


def test_sigint_while_the_image_is_being_stored_lets_the_write_finish(cli: Cli, fake_api, faulty_backend,
                                                                      local_store_url):
    url = faulty_backend + local_store_url
    # A write that needs less than the ~2 s grace a signal gives it (issue 10, item 4).
    began = cli.workdir / "image-write-began"
    running = cli.start(*generate_args(url, extra=("--filename", "hero")),
                        env={FAULT_ENV: "image:slow=1.5", FAULT_MARK_ENV: str(began)})
    assert fake_api.wait_for_requests(1, timeout=30)
    wait_until(began.exists, what="the (slow) image write to begin")
    running.interrupt()
    run = running.wait(timeout=30)
    assert run.code == 130, run
    # Never half a pair: the image and its metadata both landed, complete, and the user is told.
    assert raw_files(local_store_url) == ["hero.png", "hero_metadata.json"]
    assert f"interrupted after storing the image: {Path(local_store_url) / RAW / 'hero.png'}" in run.stderr
    metadata = json.loads((Path(local_store_url) / RAW / "hero_metadata.json").read_text())
    assert metadata["bytes"] == (Path(local_store_url) / RAW / "hero.png").stat().st_size
    assert pending_folders(cli.workdir / "recovery") == []
    assert len(fake_api.requests) == 1


def test_a_process_killed_mid_write_leaves_no_partial_file_under_the_name(cli: Cli, fake_api, faulty_backend,
                                                                          local_store_url):
    kill_mid_image_write(cli, faulty_backend + local_store_url, Path(local_store_url) / RAW)
    names = raw_files(local_store_url)
    assert "hero.png" not in names and "hero_metadata.json" not in names
    [temp] = names
    assert temp.startswith(".blog-images-tmp-hero.png.")
