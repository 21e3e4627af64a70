"""API key lookup and redaction.

The key is looked up through a chain (explicit, ``OPENAI_AUTH_TOKEN`` as in the
original design, then ``OPENAI_API_KEY``). Every key the process learns is
registered here, and :func:`redact` replaces it wherever text leaves the
process: messages, log records, tracebacks, the TUI's screen.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from blog_images_tui.errors import AuthConfigError

KEY_ENV_VARS = ("OPENAI_AUTH_TOKEN", "OPENAI_API_KEY")
REDACTED = "[REDACTED]"

_lock = threading.Lock()
_secrets: set[str] = set()
# Anything that looks like an OpenAI key, even one we never saw (a server may echo another).
_KEY_SHAPE = re.compile(r"sk-[A-Za-z0-9_\-]{8,}")
# AWS session tokens travel in a header (and in signed URLs) that botocore logs at DEBUG.
_AWS_TOKEN = re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[A-Za-z0-9/+=%_\-]{8,}")


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` removes it from all output."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and key-shaped token removed."""
    if not text:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _AWS_TOKEN.sub(lambda match: match[1] + REDACTED, text)
    return _KEY_SHAPE.sub(REDACTED, text)


@dataclass(frozen=True)
class ApiKey:
    value: str
    source: str  # "--api-key", "OPENAI_AUTH_TOKEN", ...

    def __repr__(self) -> str:  # never show the key, even in a debugger or traceback
        return f"ApiKey(source={self.source!r})"

    __str__ = __repr__


def resolve_api_key(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> ApiKey | None:
    """The key from ``explicit``, else the first of :data:`KEY_ENV_VARS` set."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    if explicit:
        key = ApiKey(explicit.strip(), "--api-key")
    else:
        key = None
        for name in KEY_ENV_VARS:
            if env.get(name, "").strip():
                key = ApiKey(env[name].strip(), name)
                break
    if key:
        register_secret(key.value)
    return key


class RedactingFilter(logging.Filter):
    """Rewrites every log record so no secret reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
            record.exc_info = None
        return True


def require_api_key(key: ApiKey | None, *, remedy: str = "or pass --api-key") -> ApiKey:
    """``key``, or :class:`AuthConfigError` saying how to give one; checked before anything is sent.

    ``remedy`` ends the message with what this face offers besides the
    environment variables (the CLI's flag; the app: start it again).
    """
    if key is None:
        raise AuthConfigError(f"OpenAI API key required: set OPENAI_AUTH_TOKEN (or OPENAI_API_KEY), {remedy}")
    return key
