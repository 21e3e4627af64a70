"""Fixtures of the web tests: the server on a local store and on moto S3 (helpers in tests/support/web.py)."""

from __future__ import annotations

import pytest

from tests.support.web import start_server


@pytest.fixture(params=["local", "s3"])
def web_store_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_store_url")


@pytest.fixture
def web(web_store_url, fake_api, tmp_path):
    """The server on a local store and on moto S3, against the fake Images API."""
    running = start_server(web_store_url, base_url=fake_api.base_url, tmp_path=tmp_path)
    yield running
    running.stop()


@pytest.fixture
def web_local(local_store_url, fake_api, tmp_path):
    """The server on a local store only (for tests about the server, not the backend)."""
    running = start_server(local_store_url, base_url=fake_api.base_url, tmp_path=tmp_path)
    yield running
    running.stop()
