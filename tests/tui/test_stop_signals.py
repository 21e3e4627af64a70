"""SIGTERM and SIGHUP end the app as quitting does: a paid-for image being stored still lands,
then the exit code says which signal (143, 129). Issue 10, item 4 (the app's part)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from blog_images_tui.jobs import JobState
from blog_images_tui.tui.app import make_app
from tests.support import await_until, default_sigint, wait_until
from tests.support.tui import fill_form, jobs_of, record_notifications


@pytest.mark.asyncio
async def test_a_stop_signal_lets_a_paid_image_being_stored_land_then_exits_143(memory_store_url, api_env):


    app = make_app(memory_store_url, preview="text")
    record_notifications(app)
    writing, release = threading.Event(), threading.Event()
    async with app.run_test(size=(100, 30)) as pilot:
        await await_until(lambda: app.screen.store is not None, what="the store open")
        store = app.screen.store
        original = store.backend.write_new

        def slow_write(fs, path, data, content_type):
            if "/raw/" in path and not path.endswith("_metadata.json"):
                writing.set()
                release.wait(5)  # the image is paid for and being written when the signal comes
            return original(fs, path, data, content_type)

        store.backend.write_new = slow_write
        await fill_form(pilot, post="3", section="1", prompt="a lighthouse", filename="hero")
        await pilot.press("ctrl+s")
        job = (await await_until(lambda: jobs_of(app), what="the job"))[0]
        await await_until(writing.is_set, what="the image write to begin")
        app.stop_signalled(signal.SIGTERM)
        release.set()
        await await_until(lambda: not app.is_running, what="the app to exit")
    assert app.return_code == 143
    assert job.state is JobState.STORED
    assert [i.image_name for i in store.list_images(job.request.section)] == ["hero.png"]
    assert len(api_env.requests) == 1


def _read_until_drawn(fd: int, proc: subprocess.Popen, timeout: float = 60) -> bytes:
    """Read the app's terminal output until it has drawn its footer (or it exits)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunks.append(os.read(fd, 65536))
            except OSError:
                break
            if b"Quit" in b"".join(chunks):
                return b"".join(chunks)
    raise AssertionError(f"the app did not draw: {b''.join(chunks)[-500:]!r}")


@pytest.mark.parametrize("number, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["SIGTERM", "SIGHUP"])
def test_the_real_app_exits_with_the_signals_code_not_killed(tmp_path: Path, number, code):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a real terminal's size
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="80", LINES="24")
    proc = subprocess.Popen([sys.executable, "-m", "blog_images_tui", "--store", str(tmp_path / "static"),
                             "tui", "--preview", "text"], stdin=slave, stdout=slave, stderr=slave, env=env,
                            cwd=tmp_path, preexec_fn=default_sigint, start_new_session=True)
    os.close(slave)
    try:
        _read_until_drawn(master, proc)
        proc.send_signal(number)
        wait_until(lambda: proc.poll() is not None, timeout=30, what="the app to exit")
        assert proc.returncode == code  # handled: a default death would be -number
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
