"""A real S3 API on 127.0.0.1 for tests and benchmarks: moto's threaded server.

s3fs talks real HTTP to it (moto's in-process ``mock_aws`` does not work with
s3fs's aiobotocore). Credentials are fake and set in the environment; no
region is put in ``client_kwargs`` (that breaks bucket creation on moto).

Test tooling, not part of the runtime: it needs moto, from the ``test`` extra.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from typing import TYPE_CHECKING, Any

if importlib.util.find_spec("moto") is None:  # checked at import; moto itself loads only when a server starts
    raise ImportError("blog_images_tui.testing.moto_s3 needs moto, a test dependency: "
                      "pip install 'blog-images[test]' (python3 dev.py test installs it)", name="moto")

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class MotoS3:
    """Start moto on 127.0.0.1 (a free port) and make buckets on it."""

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self.endpoint_url = ""

    def start(self) -> MotoS3:
        from moto.server import ThreadedMotoServer

        for key, value in FAKE_AWS_ENV.items():
            os.environ.setdefault(key, value)
        server = self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        _make_conditional_writes_atomic(server._server)
        host, port = server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> MotoS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self) -> Any:
        """A boto3 S3 client for this server (boto3 is untyped: Any)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")

    def new_bucket(self, prefix: str = "blog") -> str:
        """Create a uniquely named bucket and return its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def store_options(self) -> dict[str, str]:
        return {"endpoint_url": self.endpoint_url}


def _make_conditional_writes_atomic(server: Any) -> None:  # moto's werkzeug server (untyped here)
    """Serialise conditional requests (If-None-Match / If-Match), as S3 makes them atomic.

    moto checks the condition, then acts, on threads of its own: two concurrent
    creates of one key could both succeed, which S3 never allows (the claims of
    many runners rely on it). Unconditional requests still run in parallel.
    """
    import threading

    inner, lock = server.app, threading.Lock()

    def app(environ, start_response):
        if environ.get("HTTP_IF_NONE_MATCH") or environ.get("HTTP_IF_MATCH"):
            with lock:
                return list(inner(environ, start_response))
        return inner(environ, start_response)

    server.app = app
