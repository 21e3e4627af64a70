"""``blog-images serve`` as a user runs it: a real process, its printed URL, its refusals, its signals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from blog_images_tui.testing.fake_images_api import Reply
from tests.support import TEST_KEY, wait_until
from tests.support.web import URL, Serve, read_events


@pytest.fixture
def serve_env(api_env, local_store_url):
    env = {**os.environ, "BLOG_IMAGES_STORE": local_store_url}
    env.pop("BLOG_IMAGES_SERVE_TOKEN", None)
    env.pop("SSH_CONNECTION", None)
    return env


@pytest.fixture
def launch():
    started: list[Serve] = []

    def start(*args: str, env: dict[str, str]) -> Serve:
        serve = Serve(*args, env=env)
        started.append(serve)
        return serve

    yield start
    for serve in started:
        serve.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_a_url_with_the_token_and_stops_in_time_with_a_stream_open(serve_env, launch, fake_api, sig):
    serve = launch("--port", "0", env=serve_env)
    url, port, token = serve.wait_for(URL).groups()
    assert len(token) >= 16 and f"#token={token}" in "\n".join(serve.lines)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        assert client.get("/").status_code == 200
        assert client.get("/api/v1/posts").json() == {"posts": []}
        assert httpx.get(f"{url}api/v1/posts").status_code == 401
        fake_api.enqueue(Reply.hang(60))
        job = client.post("/api/v1/jobs", json={"post_id": 1, "section_id": 1, "prompt": "a cat",
                                                "size": "1024x1024"}).json()
        assert fake_api.wait_for_requests(1, timeout=30)
        events: list = []
        listener = threading.Thread(target=lambda: read_events(client, job["job_id"], into=events), daemon=True)
        listener.start()
        wait_until(lambda: any(data.get("stage") == "generating" for _, _, data in events), timeout=20,
                   what="the stream to show the job generating")
        started = time.monotonic()
        serve.process.send_signal(sig)
        code = serve.process.wait(15)
        took = time.monotonic() - started
        listener.join(5)
    assert took < 10, f"took {took:.1f} s to stop"
    assert code == 0, serve.stderr()
    assert not listener.is_alive()
    assert TEST_KEY not in "\n".join(serve.lines) + serve.stderr()


def test_an_explicit_token_is_not_printed(serve_env, launch):
    token = "my-own-serve-token-123456"
    serve = launch("--port", "0", env={**serve_env, "BLOG_IMAGES_SERVE_TOKEN": token})
    match = serve.wait_for(re.compile(r"open: (http://127\.0\.0\.1:\d+/)#token=<your token>"))
    assert token not in "\n".join(serve.lines)
    with httpx.Client(base_url=match[1], headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get("/api/v1/posts").status_code == 200


def test_started_over_ssh_it_prints_the_tunnel(serve_env, launch):
    env = {**serve_env, "SSH_CONNECTION": "192.0.2.7 50022 192.0.2.10 22", "USER": "writer"}
    serve = launch("--port", "0", env=env)
    port = serve.wait_for(URL)[2]
    line = serve.wait_for(re.compile(r"ssh -N -L (\d+):127\.0\.0\.1:(\d+) (\S+)"))
    assert line.groups() == (port, port, "writer@192.0.2.10")


@pytest.mark.parametrize("args, words", [
    (["--host", "0.0.0.0"], "give a --token or set BLOG_IMAGES_SERVE_TOKEN"),
    (["--host", "192.0.2.10"], "give a --token"),
    (["--token", "short"], "at least 16 characters"),
    (["--port", "70000"], "--port must be between 0 and 65535"),
    (["--jobs", "0"], "--jobs must be between 1 and 8"),
])
def test_refusals_before_listening(serve_env, args, words):
    result = subprocess.run([sys.executable, "-m", "blog_images_tui", "serve", *args, "--json"],
                            capture_output=True, text=True, env=serve_env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr
    assert result.stdout.count("\n") == 1 and '"code": "bad_input"' in result.stdout


def test_help_does_not_import_the_web_stack():
    code = ("import sys; from blog_images_tui.cli import build_parser; build_parser().format_help(); "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'pydantic') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
    help_text = subprocess.run([sys.executable, "-m", "blog_images_tui", "serve", "--help"], capture_output=True,
                               text=True, timeout=60).stdout
    assert "--token" in help_text and "--host" in help_text


def test_serve_on_the_default_store_names_it(serve_env, launch):
    # No --store: the store comes from $BLOG_IMAGES_STORE (else ./static); the user is told which.
    store = serve_env["BLOG_IMAGES_STORE"]
    serve = launch("--port", "0", env=serve_env)
    serve.wait_for(URL)
    assert f"blog-images serving {store} on " in serve.lines[0], serve.lines
    quiet = launch("--port", "0", "--json", env=serve_env)
    first = quiet.wait_for(re.compile(r"^\{.*\}$"))[0]
    assert json.loads(first)["store"] == store
