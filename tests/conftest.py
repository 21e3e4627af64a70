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
from tests.support import TEST_KEY
from tests.support.faults import Cli


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


@pytest.fixture
def cli(tmp_path) -> Cli:
    """A :class:`Cli` working in ``tmp_path`` (its recovery folder is ``tmp_path/recovery``)."""
    return Cli(workdir=tmp_path)


@pytest.fixture
def debug_log(tmp_path):
    """In-process cases: the CLI's own logging set-up at ``-vv`` with a log file; afterwards
    neither the stderr stream nor the file may contain the key."""
    import io
    import logging

    from blog_images_tui.logs import configure_logging

    path = tmp_path / "logs" / "in-process.log"
    path.parent.mkdir(exist_ok=True)
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    configure_logging(2, str(path), stream=stream)
    try:
        yield path
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_blog_images", False):
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)
    text = path.read_text(encoding="utf-8")
    assert text, "nothing was logged"
    assert TEST_KEY not in text and TEST_KEY not in stream.getvalue(), "key leaked to the debug log"


@pytest.fixture
def faulty_backend(cli, tmp_path) -> str:
    """Register the ``faulty`` backend (tests/support/faulty_backend.py) through a real entry point.

    A ``.dist-info`` folder on the subprocess's PYTHONPATH is how any
    installed plugin package announces itself to ``importlib.metadata``.
    Returns the URL prefix, ``faulty://``.
    """
    plugins = tmp_path / "plugins"
    dist = plugins / "blog_images_faulty_backend-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: blog-images-faulty-backend\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[blog_images.backends]\nfaulty = tests.support.faulty_backend:FaultyLocalBackend\n")
    cli.env["PYTHONPATH"] = os.pathsep.join([str(plugins), str(Path(__file__).resolve().parents[1])])
    return "faulty://"
