"""A fault-injecting local backend for the fault suite (this module holds no tests).

It is the real :class:`backends.local.LocalBackend` (same atomic temp file +
hard link write) with one OS call made to fail, chosen by the environment
variable ``BLOG_IMAGES_TEST_FAULT`` = ``TARGET:FAULT``:

- TARGET: ``image`` or ``metadata`` (which write of a pair fails);
- FAULT: ``enospc-mid`` (the disk fills up after half the bytes),
  ``eacces-link`` (the bytes are written, then publishing the name is
  denied), ``eacces-open`` (no file can be created at all), ``slow=SECONDS``
  (the write is let through after a pause: for interrupting a write),
  ``stall-mid=SECONDS`` (half the bytes are in the temp file, then a pause:
  for killing the process in the middle of a write), ``raise-key`` (an error
  whose message carries the API key from the environment: redaction tests).

TARGET ``open`` with ``raise-key`` makes opening the store itself fail with a
``RuntimeError`` (not an ``OSError``): an internal error.

The failure happens inside the real ``write_new_file``, so its clean-up is
what is tested. The subprocess finds the backend as a plugin: the
``faulty_backend`` fixture puts a ``.dist-info`` with an entry point in the
``blog_images.backends`` group on its PYTHONPATH. Store URLs are
``faulty:///absolute/path``.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from unittest import mock

import backends.local as local_backend
from backends.local import LocalBackend, write_new_file

FAULT_ENV = "BLOG_IMAGES_TEST_FAULT"
FAULT_MARK_ENV = "BLOG_IMAGES_TEST_FAULT_MARK"


class _FaultyOs:
    """``os`` as ``backends.local`` sees it, with one call failing."""

    def __init__(self, fault: str) -> None:
        self._fault = fault
        self._written = 0

    def __getattr__(self, name: str):
        return getattr(os, name)

    def open(self, path, flags, mode=0o777, *args, **kwargs):
        if self._fault == "eacces-open":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return os.open(path, flags, mode, *args, **kwargs)

    def write(self, fd, data):
        if self._fault.startswith("stall-mid="):
            half = max(1, len(data) // 2)
            written = os.write(fd, bytes(data[:half]))
            os.fsync(fd)
            time.sleep(float(self._fault.split("=", 1)[1]))
            return written
        if self._fault == "enospc-mid":
            if self._written:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            half = max(1, len(data) // 2)
            self._written = os.write(fd, bytes(data[:half]))
            return self._written
        return os.write(fd, data)

    def link(self, src, dst, *args, **kwargs):
        if self._fault == "eacces-link":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dst))
        return os.link(src, dst, *args, **kwargs)


def _target_of(path: str) -> str:
    return "metadata" if path.endswith("_metadata.json") else "image"


class FaultyLocalBackend(LocalBackend):
    name = "faulty"
    protocols = ("faulty",)

    def filesystem(self, url: str):
        if os.environ.get(FAULT_ENV) == "open:raise-key":
            raise RuntimeError(f"backend exploded with token={os.environ.get('OPENAI_AUTH_TOKEN')}")
        return super().filesystem(url)

    def write_new(self, fs, path: str, data: bytes, content_type: str) -> None:
        target, _, fault = os.environ.get(FAULT_ENV, "").partition(":")
        if target != _target_of(path) or not fault:
            return write_new_file(Path(path), data)
        mark = os.environ.get(FAULT_MARK_ENV)
        if mark:
            Path(mark).touch()
        if fault == "raise-key":
            raise OSError(errno.EIO, f"write refused for Bearer {os.environ.get('OPENAI_AUTH_TOKEN')}")
        if fault.startswith("slow="):
            time.sleep(float(fault.split("=", 1)[1]))
            return write_new_file(Path(path), data)
        with mock.patch.object(local_backend, "os", _FaultyOs(fault)):
            return write_new_file(Path(path), data)
