"""The harness of the fault-injection suite (this module holds no tests).

Every CLI case runs the real ``blog-images`` executable of this venv in a
subprocess, against the fake Images API (real openai SDK, real HTTP on
127.0.0.1), moto's S3 server or the local disk, always with the known key
:data:`conftest.TEST_KEY`, ``-vv`` and ``--log-file``. After each run
:meth:`Cli.check` proves the key appears nowhere: not in stdout, stderr or the
log file, not in any file under the test's folder (local stores, the recovery
folder), not in any object of the S3 buckets the test watches. It also proves
no temp file or write probe was left behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import TEST_KEY, default_sigint, files_under, wait_until

BLOG_IMAGES = str(Path(sys.executable).with_name("blog-images"))
#: small images keep every case fast; gpt-image-2 takes any multiple of 16
SMALL = ("--size", "64x64")
LEFTOVER_MARKERS = (".blog-images-tmp-", ".blog-images-write-check-")
FAULT_ENV = "BLOG_IMAGES_TEST_FAULT"
#: a file the faulty backend creates when a faulted write begins (so a test can wait for it)
FAULT_MARK_ENV = "BLOG_IMAGES_TEST_FAULT_MARK"


@dataclass
class CliRun:
    args: list[str]
    code: int
    stdout: str
    stderr: str
    log: str
    elapsed: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __repr__(self) -> str:  # what pytest shows when an assertion on a run fails
        return (f"CliRun(code={self.code}, elapsed={self.elapsed:.2f}s, args={self.args!r},\n"
                f"stdout={self.stdout[-2000:]!r},\nstderr={self.stderr[-3000:]!r})")


@dataclass
class Cli:
    """Runs ``blog-images`` in subprocesses and checks what each run left behind."""

    workdir: Path
    secrets: list[str] = field(default_factory=lambda: [TEST_KEY])
    buckets: list[tuple[object, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    runs: int = 0

    def watch_bucket(self, moto_s3, bucket: str) -> None:
        """Also scan every object of ``bucket`` for the key after each run."""
        self.buckets.append((moto_s3, bucket))

    def _command(self, args: tuple[str, ...], debug: bool) -> tuple[list[str], Path]:
        self.runs += 1
        log_file = self.workdir / "logs" / f"run-{self.runs}.log"
        log_file.parent.mkdir(exist_ok=True)
        argv = [BLOG_IMAGES, *args]
        if debug:
            argv += ["-vv", "--log-file", str(log_file)]
        return argv, log_file

    def _environ(self, extra: dict[str, str] | None) -> dict[str, str]:
        environ = dict(os.environ)
        environ.update(self.env)
        environ.update(extra or {})
        environ["PYTHONUNBUFFERED"] = "1"
        return environ

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60,
            debug: bool = True, check: bool = True, cwd: Path | None = None,
            leftovers_allowed: bool = False) -> CliRun:
        argv, log_file = self._command(args, debug)
        started = time.monotonic()
        proc = subprocess.run(argv, env=self._environ(env), cwd=cwd or self.workdir, capture_output=True,
                              text=True, timeout=timeout)
        run = CliRun(argv, proc.returncode, proc.stdout, proc.stderr,
                     log_file.read_text(encoding="utf-8") if log_file.exists() else "",
                     time.monotonic() - started)
        if check:
            self.check(run, leftovers_allowed=leftovers_allowed)
        return run

    def start(self, *args: str, env: dict[str, str] | None = None) -> RunningCli:
        """Start a run in the background (to signal it)."""
        argv, log_file = self._command(args, True)
        proc = subprocess.Popen(argv, env=self._environ(env), cwd=self.workdir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
        return RunningCli(self, argv, log_file, proc, time.monotonic())

    def check(self, run: CliRun, *, leftovers_allowed: bool = False) -> None:
        """The key is nowhere; no temp file or probe is left (unless allowed)."""
        for secret in self.secrets:
            assert secret not in run.stdout, f"key leaked to stdout: {run!r}"
            assert secret not in run.stderr, f"key leaked to stderr: {run!r}"
            assert secret not in run.log, "key leaked to the log file"
        for path in self.workdir.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for secret in self.secrets:
                    assert secret.encode() not in data, f"key leaked to {path}"
                if not leftovers_allowed:
                    assert not path.name.startswith(LEFTOVER_MARKERS), f"leftover temp file {path}"
        for moto_s3, bucket in self.buckets:
            for key, data in s3_objects(moto_s3, bucket).items():
                for secret in self.secrets:
                    assert secret.encode() not in data, f"key leaked to s3://{bucket}/{key}"
                if not leftovers_allowed:
                    assert not key.rsplit("/", 1)[-1].startswith(LEFTOVER_MARKERS), f"leftover probe {key}"


@dataclass
class RunningCli:
    cli: Cli
    argv: list[str]
    log_file: Path
    proc: subprocess.Popen
    started: float

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout: float = 30) -> CliRun:
        try:
            stdout, stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            stdout, stderr = self.proc.communicate()
            pytest.fail(f"blog-images did not end in {timeout} s: {stderr[-2000:]}")
        run = CliRun(self.argv, self.proc.returncode, stdout, stderr,
                     self.log_file.read_text(encoding="utf-8") if self.log_file.exists() else "",
                     time.monotonic() - self.started)
        self.cli.check(run)
        return run


def generate_args(store: str, *, post: str = "1", section: str = "2", prompt: str = "a lighthouse at dawn",
                  extra: tuple[str, ...] = ()) -> list[str]:
    return ["generate", "--prompt", prompt, "--post-id", post, "--section-id", section, *SMALL,
            "--store", store, *extra]


def raw_files(root: str | Path, post: str = "1", section: str = "2") -> list[str]:
    folder = Path(root) / "content" / "posts" / post / "sections" / section / "raw"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def tree(root: str | Path) -> list[str]:
    """Every file and folder below ``root`` (hidden ones too), relative and sorted."""
    root = Path(root)
    return sorted(str(p.relative_to(root)) + ("/" if p.is_dir() else "") for p in root.rglob("*"))


def only_files(root: str | Path) -> list[str]:
    return files_under(root)


def s3_objects(moto_s3, bucket: str) -> dict[str, bytes]:
    """Every object in ``bucket`` (key -> bytes): the whole store tree on S3."""
    client = moto_s3.client()
    objects: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            objects[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return objects


def s3_keys(moto_s3, bucket: str) -> list[str]:
    client = moto_s3.client()
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return sorted(keys)


def deny_put_policy(bucket: str, resource_suffix: str = "*") -> str:
    """A bucket policy denying PutObject on ``bucket/<resource_suffix>`` to everyone."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/{resource_suffix}"}]})


def pending_folders(recovery: Path) -> list[Path]:
    return sorted(p for p in recovery.iterdir() if p.is_dir()) if recovery.is_dir() else []


class CuttingProxy:
    """A TCP proxy in front of an HTTP server that cuts chosen requests mid-body.

    Each forwarded request gets ``Connection: close`` so one connection carries
    one request. A request for which ``cut(method, path)`` is true has its
    head and half of its body forwarded, then both sides are closed: the
    server sees an upload that stops in the middle, the client a dropped
    connection. ``cuts`` counts them.
    """

    def __init__(self, target: str, cut) -> None:
        host_port = target.split("://", 1)[1].rstrip("/")
        host, port = host_port.rsplit(":", 1)
        self.target = (host, int(port))
        self.cut = cut
        self.cuts = 0
        self.forwarded = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        client.settimeout(10)
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            head, _, body = head.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, path, _ = lines[0].decode("latin-1").split(" ", 2)
            headers = [line for line in lines[1:]
                       if not line.lower().startswith((b"connection:", b"expect:"))]
            if any(line.lower().replace(b" ", b"") == b"expect:100-continue" for line in lines[1:]):
                client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # botocore waits for it before the body
            length = next((int(line.split(b":", 1)[1]) for line in headers
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                chunk = client.recv(65536)
                if not chunk:
                    return
                body += chunk
            upstream = socket.create_connection(self.target, timeout=10)
            request = b"\r\n".join([lines[0], *headers, b"Connection: close"]) + b"\r\n\r\n"
            if self.cut(method, path):
                self.cuts += 1
                upstream.sendall(request + body[: len(body) // 2])
                upstream.close()
                return
            self.forwarded += 1
            upstream.sendall(request + body)
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                client.sendall(chunk)
            upstream.close()
        except OSError:
            pass
        finally:
            client.close()


def write_batch(path: Path, count: int, *, posts: int = 3) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for index in range(count):
            out.write(json.dumps({"post_id": 1 + index % posts, "section_id": 1 + index // posts % 4,
                                  "prompt": f"image number {index}: a lighthouse", "size": "64x64"}) + "\n")
    return path


def stored_pairs(root: str) -> tuple[list[dict], list[str]]:
    """(every metadata in the store, every file that breaks a pair: image without metadata or the reverse)."""
    metadata, broken = [], []
    for raw in Path(root).glob("content/posts/*/sections/*/raw"):
        names = {p.name for p in raw.iterdir()}
        for name in names:
            if name.startswith("."):
                broken.append(str(raw / name))  # a temp file
            elif name.endswith("_metadata.json"):
                stem = name[: -len("_metadata.json")]
                if f"{stem}.png" not in names:
                    broken.append(str(raw / name))
                metadata.append(json.loads((raw / name).read_text()))
            elif f"{name.rsplit('.', 1)[0]}_metadata.json" not in names:
                broken.append(str(raw / name))
    return metadata, broken


def json_results(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def kill_mid_image_write(cli: Cli, url: str, raw: Path, filename: str = "hero") -> None:
    """Start a generate whose image write stalls halfway (the faulty backend), then SIGKILL it there."""
    running = cli.start(*generate_args(url, extra=("--filename", filename)), env={FAULT_ENV: "image:stall-mid=30"})
    wait_until(lambda: raw.is_dir() and any(p.name.startswith(".blog-images-tmp-") for p in raw.iterdir()),
               what="the temp file")
    running.proc.send_signal(signal.SIGKILL)
    running.proc.wait(timeout=10)
