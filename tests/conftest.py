"""Shared fixtures: the fake Images API, moto's S3 server, and stores on every backend.

Nothing here touches the internet: the fake API and moto both listen on
127.0.0.1 on ports the OS picks.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from blog_images_tui.testing.fake_images_api import FakeImagesAPI
from blog_images_tui.testing.moto_s3 import MotoS3

TEST_KEY = "sk-test-SECRETKEY-0123456789abcdef"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No test sees the developer's real keys, store, recovery folder or AWS profile."""
    for name in ("OPENAI_AUTH_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL", "BLOG_IMAGES_STORE",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BLOG_IMAGES_RECOVERY_DIR", str(tmp_path / "recovery"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def fake_api():
    """The fake Images API server, checking for :data:`TEST_KEY`."""
    with FakeImagesAPI(api_key=TEST_KEY) as server:
        yield server


@pytest.fixture
def api_env(monkeypatch, fake_api):
    """Environment pointing the real openai SDK at the fake server."""
    monkeypatch.setenv("OPENAI_AUTH_TOKEN", TEST_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_api.base_url)
    return fake_api


@pytest.fixture(scope="session")
def moto_s3():
    server = MotoS3().start()
    yield server
    server.stop()


@pytest.fixture
def s3_store_url(moto_s3, monkeypatch):
    """``s3://<fresh bucket>/blog`` on the moto server, with the endpoint in the environment."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3.endpoint_url)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    return f"s3://{moto_s3.new_bucket()}/blog"


@pytest.fixture
def memory_store_url():
    return f"memory://test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def local_store_url(tmp_path) -> str:
    root = tmp_path / "static"
    root.mkdir()
    return str(root)


@pytest.fixture(params=["memory", "local", "s3"])
def store_url(request) -> str:
    """One store per backend: the storage suite runs against each."""
    return request.getfixturevalue(f"{request.param}_store_url")


def files_under(root: str | Path) -> list[str]:
    """Every file below a local folder, relative, sorted (to prove nothing else was written)."""
    root = Path(root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def settle(fake, quiet_s: float = 0.3, limit_s: float = 10.0) -> int:
    """Wait until the fake has no request in flight and no new one for ``quiet_s``; return the count.

    Abandoned requests can reach the server's handler threads late on a loaded machine;
    counting before they are recorded would blame the next run for them.
    """
    import time

    deadline = time.monotonic() + limit_s
    count, since = len(fake.requests), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if len(fake.requests) != count or fake.in_flight:
            count, since = len(fake.requests), time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return count
