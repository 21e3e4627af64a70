"""Logging set-up for ``-v``/``--verbose`` and ``--log-file``, always redacted."""

from __future__ import annotations

import logging
from typing import TextIO

from blog_images_tui.secrets import RedactingFilter

LOGGER_NAME = "blog_images"
log = logging.getLogger(LOGGER_NAME)


def configure_logging(verbosity: int = 0, log_file: str | None = None, *, stream: TextIO | None = None) -> None:
    """Send our logs (and the SDK's, at -vv) to stderr and/or a file, with secrets redacted."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_blog_images", False):
            root.removeHandler(handler)
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = []
    if verbosity > 0:
        import sys

        handlers.append(logging.StreamHandler(stream or sys.stderr))
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler._blog_images = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())
        handler.setLevel(logging.DEBUG if log_file and isinstance(handler, logging.FileHandler) else level)
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if log_file else level)
    # The SDK and botocore are chatty; show them only at -vv or in the log file.
    for noisy in ("openai", "httpx", "httpx2", "httpcore", "botocore", "s3fs", "aiobotocore", "urllib3", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if (verbosity >= 2 or log_file) else logging.WARNING)


def reset_logging() -> None:
    """Remove the handlers :func:`configure_logging` added (in-process callers, tests)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_blog_images", False):
            root.removeHandler(handler)
            handler.close()
