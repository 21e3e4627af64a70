"""Helpers of the web tests: a real uvicorn on 127.0.0.1 serving ``create_app`` in a thread of the test process,
a real ``blog-images serve`` process, job and event readers.

The server is the one ``blog-images serve`` runs (:func:`build_server`), against
the fake Images API through the real openai SDK, on a local or a moto S3 store.
Tests talk to it over HTTP with httpx, as any client would.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from blog_images_tui.generation import ClientSettings
from blog_images_tui.secrets import ApiKey
from tests.support import TEST_KEY, default_sigint, wait_until

TOKEN = "web-test-token-0123456789"


@dataclass
class RunningServer:
    server: object
    thread: threading.Thread
    base_url: str
    token: str
    store_url: str

    def client(self, *, token: str | None = TOKEN, **kw) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kw)

    def stop(self, timeout_s: float = 15) -> float:
        """Ask the server to stop as SIGTERM does; the seconds it took."""
        started = time.monotonic()
        self.server.stop()
        self.thread.join(timeout_s)
        return time.monotonic() - started

    @property
    def state(self):
        return self.server.state


def start_server(store_url: str, *, base_url: str | None, tmp_path: Path, api_key: str | None = TEST_KEY,
                 token: str = TOKEN, **settings) -> RunningServer:
    from blog_images_tui.web.server import build_server
    from blog_images_tui.web.settings import ServeSettings

    client = ClientSettings(api_key=ApiKey(api_key, "test") if api_key else None, base_url=base_url,
                            max_retries=0, timeout_s=30)
    serve = ServeSettings(token=token, client=client, store_url=store_url, port=0,
                          thumbnail_dir=tmp_path / "thumbs", **settings)
    server = build_server(serve)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    wait_until(lambda: server.bound or not thread.is_alive(), timeout=30, what="the web server to start")
    if server.bound is None:
        raise RuntimeError("the web server did not start")
    host, port = server.bound
    return RunningServer(server, thread, f"http://127.0.0.1:{port}", token, store_url)


def wait_for_job(client: httpx.Client, job_id: str, timeout_s: float = 30) -> dict:
    """The job once it has finished (stored, skipped, failed or cancelled)."""
    def finished():
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["status"] not in ("queued", "running") else None

    return wait_until(finished, timeout=timeout_s, what=f"job {job_id} to finish")


def read_events(client: httpx.Client, job_id: str, *, into: list | None = None, **kw) -> list[tuple[str, str, dict]]:
    """Every (id, event, data) of a job's event stream, until the server ends it.

    ``into`` gets each event as it arrives (for a test that acts while the stream is open).
    """
    import json

    events, current = ([] if into is None else into), {}
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events", **kw) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                if "data" in current:
                    events.append((current.get("id"), current.get("event"), json.loads(current["data"])))
                current = {}
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            current[field] = value.lstrip(" ")
    return events


URL = re.compile(r"open: (http://127\.0\.0\.1:(\d+)/)#token=(\S+)")


class Serve:
    """One ``blog-images serve`` process and the lines it printed."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "blog_images_tui", "serve", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                        preexec_fn=default_sigint)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: re.Pattern, timeout_s: float = 60) -> re.Match:
        def found():
            match = next((m for line in list(self.lines) if (m := pattern.search(line))), None)
            return match or (self.process.poll() is not None and "exited")

        match = wait_until(found, timeout=timeout_s, what=f"{pattern.pattern!r} in the output")
        if match == "exited":
            raise AssertionError(f"no {pattern.pattern!r} in {self.lines}; stderr: {self.stderr()}")
        return match

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stderr.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


JOB = {"post_id": 53, "section_id": "intro", "prompt": "A lighthouse at dawn, watercolour", "size": "1024x1024",
       "partial_images": 0}


def generate(client: httpx.Client, **fields) -> dict:
    response = client.post("/api/v1/jobs", json={**JOB, **fields})
    assert response.status_code == 202, response.text
    return wait_for_job(client, response.json()["job_id"])


def assert_error(response: httpx.Response, status: int, code: str, exit_code: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False
    error = body["error"]
    assert set(error) >= {"type", "code", "message", "hint", "exit_code"}
    assert (error["code"], error["exit_code"]) == (code, exit_code), error
    assert "Traceback" not in response.text and TEST_KEY not in response.text
    return error


# -- browsing, on both backends --------------------------------------------------------------
