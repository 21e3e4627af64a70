"""Logging set-up for ``-v``/``--verbose`` and ``--log-file``, always redacted."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from blog_images_tui.secrets import RedactingFilter, redact

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
    stderr = logging.StreamHandler(stream or sys.stderr)
    if verbosity <= 0:  # warnings still show, as the CLI's one `warning: ...` line (not Python's raw last-resort print)
        stderr.setFormatter(OneLineWarning())
    handlers: list[logging.Handler] = [stderr]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler._blog_images = True  # type: ignore[attr-defined]
        if handler.formatter is None:
            handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())
        handler.setLevel(logging.DEBUG if log_file and isinstance(handler, logging.FileHandler) else level)
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if log_file else level)
    # The SDK and botocore are chatty; show them only at -vv or in the log file.
    for noisy in ("openai", "httpx", "httpx2", "httpcore", "botocore", "s3fs", "aiobotocore", "urllib3", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if (verbosity >= 2 or log_file) else logging.WARNING)


class OneLineWarning(logging.Formatter):
    """``warning: MESSAGE`` (with the exception's type and text, never its traceback) for stderr without -v."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text = f"{text}: {type(error).__name__}: {error}"
        return redact(f"warning: {text}")


def reset_logging() -> None:
    """Remove the handlers :func:`configure_logging` added (in-process callers, tests)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_blog_images", False):
            root.removeHandler(handler)
            handler.close()
