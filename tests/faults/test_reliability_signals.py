"""Issue 10, item 4: SIGTERM and SIGHUP end a run as carefully as SIGINT does.

systemd, ``docker stop``, ``timeout`` and a dropped SSH session send these.
During a request: exit 143 / 129, nothing written. During the write: within
about 2 s the write finishes, or the paid-for image is left in the recovery
folder (never only in a hidden temp file); a re-run finishes it without
paying again. Real ``blog-images`` processes and real signals.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from blog_images_tui.testing.fake_images_api import Reply
from tests.support import wait_until
from tests.support.faults import FAULT_ENV, Cli, generate_args, pending_folders, raw_files

pytestmark = pytest.mark.usefixtures("api_env")

RAW = "content/posts/1/sections/2/raw"
CODES = {signal.SIGTERM: 143, signal.SIGHUP: 129, signal.SIGINT: 130}
SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGHUP, id="SIGHUP")]


@pytest.mark.parametrize("number", SIGNALS)
def test_a_signal_during_the_request_exits_with_its_code_and_writes_nothing(cli: Cli, fake_api, local_store_url,
                                                                           number):
    fake_api.enqueue(Reply.delay(30, Reply.ok()))
    running = cli.start(*generate_args(local_store_url, extra=("--filename", "hero")))
    assert fake_api.wait_for_requests(1, timeout=30)
    sent_at = time.monotonic()
    running.proc.send_signal(number)
    run = running.wait(timeout=20)
    assert run.code == CODES[number], run
    assert time.monotonic() - sent_at < 10
    assert signal.Signals(number).name in run.stderr and "Traceback" not in run.stderr
    assert raw_files(local_store_url) == []


@pytest.mark.parametrize("number", SIGNALS)
def test_a_signal_during_a_short_write_lets_it_finish(cli: Cli, fake_api, faulty_backend, local_store_url, number):
    url = faulty_backend + local_store_url
    running = cli.start(*generate_args(url, extra=("--filename", "hero")), env={FAULT_ENV: "image:slow=1"})
    assert fake_api.wait_for_requests(1, timeout=30)
    wait_until(lambda: fake_api.in_flight == 0, what="the answer")
    time.sleep(0.5)  # decoded, verified, journaled: the (slow) write has begun
    running.proc.send_signal(number)
    run = running.wait(timeout=30)
    assert run.code == CODES[number], run
    assert raw_files(local_store_url) == ["hero.png", "hero_metadata.json"]
    assert "interrupted after storing the image" in run.stderr
    assert pending_folders(cli.workdir / "recovery") == []


@pytest.mark.parametrize("number", SIGNALS)
def test_a_signal_during_a_write_that_hangs_keeps_the_image_and_a_rerun_finishes(cli: Cli, fake_api, faulty_backend,
                                                                                local_store_url, number):
    url = faulty_backend + local_store_url
    running = cli.start(*generate_args(url, extra=("--filename", "hero")), env={FAULT_ENV: "image:slow=60"})
    assert fake_api.wait_for_requests(1, timeout=30)
    wait_until(lambda: fake_api.in_flight == 0, what="the answer")
    wait_until(lambda: pending_folders(cli.workdir / "recovery"), what="the journal entry")
    sent_at = time.monotonic()
    running.proc.send_signal(number)
    run = running.wait(timeout=30)
    assert run.code == CODES[number], run
    assert time.monotonic() - sent_at < 8, "the write grace is about 2 s"
    assert "blog-images recover" in run.stderr
    [kept] = pending_folders(cli.workdir / "recovery")
    assert sorted(p.name for p in kept.iterdir()) == ["hero.png", "hero_metadata.json", "target.json"]
    assert raw_files(local_store_url) == []
    # The same command again finishes the pair from the journal: no second request.
    run = cli.run(*generate_args(url, extra=("--filename", "hero")))
    assert run.code == 0, run
    assert raw_files(local_store_url) == ["hero.png", "hero_metadata.json"]
    metadata = json.loads((Path(local_store_url) / RAW / "hero_metadata.json").read_text())
    assert metadata["bytes"] == (Path(local_store_url) / RAW / "hero.png").stat().st_size
    assert len(fake_api.requests) == 1
    assert pending_folders(cli.workdir / "recovery") == []


def test_sighup_ignored_by_nohup_stays_ignored(cli: Cli, fake_api, local_store_url):
    import subprocess

    from tests.support.faults import BLOG_IMAGES

    fake_api.enqueue(Reply.delay(2, Reply.ok()))
    proc = subprocess.Popen([BLOG_IMAGES, *generate_args(local_store_url, extra=("--filename", "hero"))],
                            cwd=cli.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert fake_api.wait_for_requests(1, timeout=30)
    proc.send_signal(signal.SIGHUP)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert raw_files(local_store_url) == ["hero.png", "hero_metadata.json"]
