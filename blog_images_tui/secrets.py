"""API key lookup and redaction.

The key is looked up through a chain (explicit, ``OPENAI_AUTH_TOKEN`` as in the
original design, then ``OPENAI_API_KEY``). Every key the process learns is
registered here, and :func:`redact` replaces it wherever text leaves the
process: messages, log records, tracebacks, the TUI's screen.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from blog_images_tui.errors import AuthConfigError

KEY_ENV_VARS = ("OPENAI_AUTH_TOKEN", "OPENAI_API_KEY")
REDACTED = "[REDACTED]"

_lock = threading.Lock()
_secrets: set[str] = set()
#: one case-insensitive pattern over every registered secret and its transformed spellings
_pattern: re.Pattern[str] | None = None
#: a spelling of a secret shorter than this is not redacted (it could be an ordinary word)
MIN_VARIANT_LENGTH = 8
# Anything that looks like an OpenAI key, even one we never saw (a server may echo another).
_KEY_SHAPE = re.compile(r"sk-[A-Za-z0-9_\-]{8,}")
# AWS session tokens travel in a header (and in signed URLs) that botocore logs at DEBUG.
_AWS_TOKEN = re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[A-Za-z0-9/+=%_\-]{8,}")


def spellings(secret: str) -> set[str]:
    """The forms a server or a library may echo a secret in.

    As is, without an ``sk-``-style prefix, URL-encoded, and base64 (alone,
    as ``Basic`` credentials, and at each of the three alignments it can take
    inside a longer base64 text). Letter case is handled by the pattern.
    """
    forms = {secret, quote(secret, safe="")}
    head, dash, tail = secret.partition("-")
    if dash and len(head) <= 4 and head.isalpha():
        forms.add(tail)  # "sk-abc..." echoed as "abc..."
        if tail.startswith("proj-"):
            forms.add(tail[5:])
    raw = secret.encode("utf-8", "replace")
    for prefix in (b"", b":", b"Bearer "):
        forms.add(base64.b64encode(prefix + raw).decode().rstrip("="))
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        # drop the characters that mix in the neighbours' bits on either side
        start = (offset * 8 + 5) // 6 + (1 if offset else 0)
        end = (offset + len(raw)) * 8 // 6 - 1
        if end - start >= MIN_VARIANT_LENGTH:
            forms.add(encoded[start:end])
    return {form for form in forms if len(form) >= MIN_VARIANT_LENGTH}


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` removes it, in any spelling, from all output."""
    global _pattern
    if value and len(value) >= 4:
        with _lock:
            if value in _secrets:
                return
            _secrets.add(value)
            forms = set()
            for secret in _secrets:
                forms |= spellings(secret) | {secret}
            alternatives = sorted(forms, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(form) for form in alternatives), re.IGNORECASE)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret (any spelling) and key-shaped token removed."""
    if not text:
        return text
    with _lock:
        pattern = _pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _AWS_TOKEN.sub(lambda match: match[1] + REDACTED, text)
    return _KEY_SHAPE.sub(REDACTED, text)


def check_key_shape(value: str, source: str) -> None:
    """Refuse a key that cannot be sent: whitespace or control characters inside, not ASCII.

    Such a key would fail in the HTTP library, whose error quotes the header
    (and the key) verbatim: it is a configuration error (exit 3) before any request.
    """
    from blog_images_tui.errors import AuthConfigError

    bad = next((ch for ch in value if not (33 <= ord(ch) <= 126)), None)
    if bad is not None:
        kind = "a space or line break" if bad.isspace() else "a character that is not printable ASCII"
        raise AuthConfigError(f"the API key from {source} contains {kind}: it cannot be sent",
                              hint=f"set {source} to the key alone, on one line")


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
        check_key_shape(key.value, key.source)
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
