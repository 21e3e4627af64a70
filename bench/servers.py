"""The fake Images API and moto S3, each in its own process on 127.0.0.1.

Both servers are Python and busy (the fake base64-encodes and sends megabytes,
moto parses and lists thousands of keys). In the benchmark's own process they
would take the GIL from the code being measured, so every number would carry
some of the server's cost. In a child process they behave like a remote
service: the bench process's CPU time is the tool's alone.

A child is driven over a pipe with small commands (``call(name, *args)``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import Any

_CTX = mp.get_context("spawn")  # no fork of a process that has threads


# --------------------------------------------------------------------------- children


def _api_child(conn, latency: float, noise_bytes: int | None, limit: tuple | None = None) -> None:
    from blog_images_tui.testing.fake_images_api import FakeImagesAPI, RequestLimit, make_png

    factory = None
    if noise_bytes:
        # One precomputed image served every time (the fake caches its base64 too).
        image = make_png(1792, 1024, noise=True, target_bytes=noise_bytes)
        factory = lambda _w, _h, _fmt: image  # noqa: E731
    request_limit = RequestLimit(limit[0], limit[1], headers=limit[2]) if limit else None
    fake = FakeImagesAPI(latency=latency, image_bytes_factory=factory, request_limit=request_limit)
    fake.start()
    conn.send({"base_url": fake.base_url, "root_url": fake.root_url, "image_bytes": len(image) if factory else None})
    try:
        while True:
            name, args = conn.recv()
            if name == "stop":
                break
            if name == "set_latency":
                fake.set_latency(args[0])
                conn.send(None)
            elif name == "reset":
                fake.reset()
                conn.send(None)
            elif name == "stats":
                conn.send({"requests": len(fake.requests), "file_requests": len(fake.file_requests),
                           "max_concurrent": fake.max_concurrent,
                           "rate_limited": request_limit.rejected if request_limit else 0})
            else:
                conn.send(ValueError(f"unknown command {name!r}"))
    finally:
        fake.stop()
        conn.send("stopped")


def _s3_child(conn) -> None:
    import logging

    from blog_images_tui.testing.moto_s3 import MotoS3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    server = MotoS3().start()
    conn.send({"endpoint_url": server.endpoint_url})
    while True:
        name, args = conn.recv()
        if name == "stop":
            break
        if name == "new_bucket":
            conn.send(server.new_bucket(*args))
        elif name == "inject":
            conn.send(_inject(*args))
        else:
            conn.send(ValueError(f"unknown command {name!r}"))
    # Everything is in memory: no graceful shutdown (werkzeug's takes 0.5 s of polling).
    conn.send("stopped")
    os._exit(0)


def _inject(bucket: str, keys: list[str], body: bytes) -> float:
    """Put objects straight into moto's in-memory backend (no HTTP); returns seconds taken.

    The server thread serves from the same backend, so the objects are listed
    like any others. ~50x faster than PUTs through HTTP for thousands of keys.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    started = time.perf_counter()
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(bucket, key, body)
    return time.perf_counter() - started


# --------------------------------------------------------------------------- parent side


class ChildServer:
    """A server running in a child process, driven over a pipe."""

    def __init__(self, target, *args: Any) -> None:
        self._conn, child_conn = _CTX.Pipe()
        self._process = _CTX.Process(target=target, args=(child_conn, *args), daemon=True)
        self._process.start()
        if not self._conn.poll(60):
            self._process.kill()
            raise RuntimeError("the server child did not start in 60 s")
        self.info: dict[str, Any] = self._conn.recv()

    def call(self, name: str, *args: Any, timeout: float = 600) -> Any:
        self._conn.send((name, args))
        if not self._conn.poll(timeout):
            raise TimeoutError(f"server child did not answer {name!r} in {timeout} s")
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def stop(self) -> None:
        if self._process.is_alive():
            try:
                self._conn.send(("stop", ()))
                self._conn.poll(10)
            except (BrokenPipeError, EOFError, OSError):
                pass
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
        self._conn.close()

    def __enter__(self) -> ChildServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class FakeAPIProcess(ChildServer):
    """``FakeImagesAPI(latency=...)`` in a child; ``noise_bytes`` serves one ~that-size noise PNG;
    ``limit=(requests, window_s, send_headers)`` enforces a request limit (``RequestLimit``)."""

    def __init__(self, latency: float = 0.0, noise_bytes: int | None = None,
                 limit: tuple[int, float, bool] | None = None) -> None:
        super().__init__(_api_child, latency, noise_bytes, limit)
        self.base_url: str = self.info["base_url"]
        self.root_url: str = self.info["root_url"]
        self.image_bytes: int | None = self.info["image_bytes"]

    def set_latency(self, seconds: float) -> None:
        self.call("set_latency", seconds)

    def reset(self) -> None:
        self.call("reset")

    def stats(self) -> dict[str, int]:
        return self.call("stats")


class MotoProcess(ChildServer):
    """``MotoS3`` in a child; sets the fake AWS credentials in this process's environment."""

    def __init__(self) -> None:
        from blog_images_tui.testing.moto_s3 import FAKE_AWS_ENV

        for key, value in FAKE_AWS_ENV.items():
            os.environ.setdefault(key, value)
        super().__init__(_s3_child)
        self.endpoint_url: str = self.info["endpoint_url"]

    def new_bucket(self, prefix: str = "bench") -> str:
        return self.call("new_bucket", prefix)

    def inject(self, bucket: str, keys: list[str], body: bytes = b"x") -> float:
        return self.call("inject", bucket, keys, body)

    def store_options(self) -> dict[str, str]:
        return {"endpoint_url": self.endpoint_url}
