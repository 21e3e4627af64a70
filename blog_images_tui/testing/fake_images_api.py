"""A fake OpenAI Images API server for tests, benchmarks and demos.

Stdlib only (``http.server.ThreadingHTTPServer``, HTTP/1.1 keep-alive, daemon
threads); it binds to ``127.0.0.1`` on an OS-chosen port and never touches the
network beyond that.  Pillow is imported lazily, and only to produce JPEG/WEBP
images.

Typical use with the real SDK::

    with FakeImagesAPI(latency=0.1) as fake:
        client = openai.AsyncOpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0)
        fake.enqueue(Reply.rate_limited(1), Reply.ok(revised_prompt="a cat"))
        ...
        assert len(fake.requests) == 2

What the server answers
-----------------------
``POST /v1/images/generations``
    Each request is recorded in :attr:`FakeImagesAPI.requests`.  If ``api_key``
    is set and the ``Authorization: Bearer`` token differs, the answer is a 401
    whose message echoes the received key (so callers can test they redact it).
    Then the JSON body is validated (``size`` "WxH" or "auto", ``output_format``
    png/jpeg/webp, ``n`` 1..10, ``partial_images`` 0..3) and a 400 is answered
    for bad values.  Only requests that pass both checks consume the next
    scripted :class:`Reply` (FIFO, see :meth:`FakeImagesAPI.enqueue`); with an
    empty queue the answer is a success: b64 images (or ``url`` ones when the
    body says ``response_format: "url"``), or an SSE stream when ``stream`` is
    true.

    With ``request_limit=RequestLimit(limit, window_s, headers=...)`` a request over the
    limit is answered 429 (with Retry-After) before it consumes a scripted reply, and
    every answer carries the ``x-ratelimit-*-requests`` headers unless ``headers=False``.

    ``latency`` is applied to answers that carry an image (ok, url, the broken
    image variants, streams, reset_mid_body); errors, rate limits, ``hang`` and
    ``reset`` answer immediately (``Reply.delay`` adds time to anything).
    Waits end early when the client disconnects or the server stops, so a
    client-side timeout frees the handler thread at once.  ``in_flight`` drops
    just before the last bytes of an answer are sent, so a client holding its
    answer never still sees its request counted.  An exception raised while
    answering (say in ``image_bytes_factory``) becomes a 500 whose message
    names it, plus a traceback on stderr, rather than a silent hang-up.

``POST /v1/images/edits``
    Multipart like the real endpoint: one ``image`` part or several ``image[]``
    parts (up to 16), an optional ``mask``, and form fields. It refuses what
    the real one refuses, with a 400: a part sent as
    ``application/octet-stream`` (or any type but PNG, JPEG, WebP) or whose
    bytes are not an image, a mask that is not a PNG with an alpha channel or
    not the first image's dimensions, ``moderation`` (and any other field
    images.edit does not take), ``input_fidelity`` on gpt-image-2, ``n``
    outside 1..10. Recorded like generations, the form fields in ``body`` and
    the parts in ``files`` (field, filename, content type, bytes); answers
    come from the same queue.

``GET /files/<id>.<fmt>``
    Serves images handed out as ``url`` answers (the URL carries an Azure-SAS
    style query string, ignored by the server).  Fetches are recorded in
    :attr:`FakeImagesAPI.file_requests`.

anything else
    404 with an OpenAI-style error body.

Images are real: :func:`make_png` writes an 8-bit RGB PNG by hand (zlib +
struct, cached by size; a 1792x1024 PNG takes a few ms the first time, then
nothing).  ``make_png(w, h, noise=True, ...)`` fills a share of the rows with
``os.urandom`` bytes stored uncompressed: 1792x1024 is ~5.5 MB with
``noise_fraction=1.0`` and ~3.0 MB with ``target_bytes=3_000_000`` (about
0.545), built in ~20-40 ms.  JPEG/WEBP go through Pillow.

``python -m blog_images_tui.testing.fake_images_api --port 8999 --latency 2``
runs the server in the foreground for demos.
"""

from __future__ import annotations

import argparse
import base64
import collections
import functools
import io
import json
import math
import os
import secrets
import selectors
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "FakeImagesAPI",
    "RecordedRequest",
    "Reply",
    "RequestLimit",
    "make_png",
    "make_jpeg",
    "make_image",
    "png_size",
]

GENERATIONS_PATH = "/v1/images/generations"
EDITS_PATH = "/v1/images/edits"
#: what the edits endpoint takes as an input image part (the real API refuses application/octet-stream)
EDIT_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
MAX_EDIT_IMAGES = 16
#: form fields images.edit takes; anything else (``moderation``, ``style``) is an unknown parameter
EDIT_FIELDS = frozenset({"prompt", "model", "n", "size", "quality", "output_format", "background",
                         "output_compression", "input_fidelity", "partial_images", "stream", "response_format",
                         "user", "safety_identifier"})
#: models that reject input_fidelity ("For gpt-image-2, omit this parameter")
NO_INPUT_FIDELITY = ("gpt-image-2", "gpt-image-2-2026-04-21")
FORMATS = ("png", "jpeg", "webp")
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
MAX_SIDE = 4096
MAX_FILES = 512  # url-answer images kept for GET /files/..., oldest evicted first

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# --------------------------------------------------------------------------- images


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)))


_ADLER_BASE = 65521


def _adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """zlib's adler32_combine: checksum of A+B from adler(A), adler(B), len(B)."""
    rem = len2 % _ADLER_BASE
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 += (adler2 & 0xFFFF) + _ADLER_BASE - 1
    sum2 += ((adler1 >> 16) & 0xFFFF) + ((adler2 >> 16) & 0xFFFF) + _ADLER_BASE - rem
    sum1 %= _ADLER_BASE
    sum2 %= _ADLER_BASE
    return sum1 | (sum2 << 16)


def _zlib_stream(pieces: list[tuple[bytes, int, int]]) -> bytes:
    """A zlib stream for the concatenation of ``data * repeat`` for each piece.

    Each piece is deflated once (raw deflate, ``Z_FULL_FLUSH`` so its output is
    byte aligned and self-contained) and the compressed bytes are repeated,
    which is valid deflate and far cheaper than compressing megabytes of
    repeated rows.  Level 0 stores bytes as-is (used for noise).
    """
    out = [b"\x78\x01"]
    adler = 1
    for data, repeat, level in pieces:
        if repeat <= 0 or not data:
            continue
        comp = zlib.compressobj(level, zlib.DEFLATED, -15)
        blob = comp.compress(data) + comp.flush(zlib.Z_FULL_FLUSH)
        out.append(blob * repeat)
        piece_adler = zlib.adler32(data)
        for _ in range(repeat):
            adler = _adler32_combine(adler, piece_adler, len(data))
    out.append(zlib.compressobj(1, zlib.DEFLATED, -15).flush())  # final empty block
    out.append(struct.pack(">I", adler & 0xFFFFFFFF))
    return b"".join(out)


def _pattern_rows(width: int) -> tuple[bytes, bytes]:
    """(first row, every following row) of the pattern, PNG-filtered.

    Pixel (x, y) = (R: x gradient, G: y mod 256, B: 255 - R). Rows after the
    first use PNG filter "Up", and since G grows by 1 (mod 256) on every row,
    each of them is the same bytes: [2, (0, 1, 0) * width].
    """
    red = bytes((x * 255) // max(width - 1, 1) for x in range(width))
    row0 = bytearray(width * 3)
    row0[0::3] = red
    row0[2::3] = bytes(255 - r for r in red)
    up = bytearray(width * 3)
    up[1::3] = b"\x01" * width
    return b"\x00" + bytes(row0), b"\x02" + bytes(up)


@functools.lru_cache(maxsize=64)
def _pattern_png(width: int, height: int) -> bytes:
    first, following = _pattern_rows(width)
    block_rows = max(1, min(height - 1, 64))
    pieces = [(first, 1, 6)]
    if height > 1:
        full, rest = divmod(height - 1, block_rows)
        pieces.append((following * block_rows, full, 6))
        pieces.append((following * rest, 1, 6))
    return _png_file(width, height, _zlib_stream(pieces))


def _png_file(width: int, height: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _check_dims(width: int, height: int) -> None:
    if not (isinstance(width, int) and isinstance(height, int)) or width < 1 or height < 1:
        raise ValueError(f"bad image size {width!r}x{height!r}")


def make_png(
    width: int,
    height: int,
    *,
    noise: bool = False,
    noise_fraction: float = 1.0,
    target_bytes: int | None = None,
) -> bytes:
    """A real 8-bit RGB PNG of exactly ``width`` x ``height``.

    Without ``noise`` it is a cheap gradient pattern (cached per size; a few KB).
    With ``noise=True`` the top ``noise_fraction`` of the rows are random bytes
    (``os.urandom``), stored uncompressed, and the rest is the pattern, so the
    file size is about ``noise_fraction * height * (3 * width + 1)`` bytes:
    1792x1024 gives ~5.5 MB at 1.0 and ~3.0 MB at 0.545.  ``target_bytes``
    picks the fraction for a wanted size instead (capped at the full-noise size).
    Noise images are not cached: every call returns fresh random data.
    """
    _check_dims(width, height)
    if not noise:
        return _pattern_png(width, height)
    row_len = 3 * width + 1
    if target_bytes is not None:
        noise_rows = min(height, max(0, math.ceil(target_bytes / row_len)))
    else:
        noise_rows = round(height * min(max(noise_fraction, 0.0), 1.0))
    pieces: list[tuple[bytes, int, int]] = []
    if noise_rows:
        rnd = memoryview(os.urandom((row_len - 1) * noise_rows))
        rows = bytearray(row_len * noise_rows)  # filter byte 0 on every row
        for y in range(noise_rows):
            rows[y * row_len + 1 : (y + 1) * row_len] = rnd[y * (row_len - 1) : (y + 1) * (row_len - 1)]
        pieces.append((bytes(rows), 1, 0))
    if noise_rows < height:
        first, following = _pattern_rows(width)  # filter 0 row after the noise, then "Up" rows
        pieces.append((first, 1, 6))
        pieces.append((following, height - noise_rows - 1, 6))
    return _png_file(width, height, _zlib_stream(pieces))


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR; ValueError if ``data`` is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])


def _pillow_encode(width: int, height: int, fmt: str) -> bytes:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow is a project dependency
        raise RuntimeError(f"Pillow is needed to make {fmt} images in the fake API") from exc
    img = Image.open(io.BytesIO(_pattern_png(width, height)))
    img.load()
    buf = io.BytesIO()
    if fmt == "jpeg":
        img.save(buf, format="JPEG", quality=75)
    else:
        img.save(buf, format="WEBP", quality=75, method=0)
    return buf.getvalue()


@functools.lru_cache(maxsize=64)
def make_jpeg(width: int, height: int) -> bytes:
    """A real baseline JPEG of the given size (via Pillow; cached)."""
    _check_dims(width, height)
    return _pillow_encode(width, height, "jpeg")


@functools.lru_cache(maxsize=64)
def _make_webp(width: int, height: int) -> bytes:
    _check_dims(width, height)
    return _pillow_encode(width, height, "webp")


def _norm_fmt(fmt: str) -> str:
    fmt = (fmt or "png").lower()
    return "jpeg" if fmt == "jpg" else fmt


def make_image(width: int, height: int, fmt: str = "png") -> bytes:
    """A real image of the given size in ``fmt`` ("png", "jpeg"/"jpg" or "webp"); cached."""
    fmt = _norm_fmt(fmt)
    if fmt == "png":
        return make_png(width, height)
    if fmt == "jpeg":
        return make_jpeg(width, height)
    if fmt == "webp":
        return _make_webp(width, height)
    raise ValueError(f"unsupported image format {fmt!r}")


@functools.lru_cache(maxsize=64)
def _default_b64(width: int, height: int, fmt: str) -> bytes:
    return base64.b64encode(make_image(width, height, fmt))


# --------------------------------------------------------------------------- public types


class _HeaderDict(dict):
    """dict of header name -> value, stored lower-case, looked up case-insensitively."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)


@dataclass
class RecordedRequest:
    """One request as received. ``headers`` keys are lower-case (lookups ignore case);
    ``body`` is the parsed JSON object ({} when the body was not a JSON object)."""

    path: str
    headers: dict[str, str]
    body: dict
    received_at: float  # time.monotonic()
    method: str = "POST"
    raw_body: bytes = b""
    #: multipart file parts (edits): (field name, file name, content type, bytes)
    files: list[tuple[str, str, str, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class Reply:
    """One scripted answer for a generation request. Build with the classmethods."""

    kind: str
    status: int = 200
    options: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    then: Reply | None = None

    @classmethod
    def ok(
        cls,
        *,
        revised_prompt: str | None = None,
        fmt: str | None = None,
        image: bytes | None = None,
        usage: dict | None = None,
        count: int | None = None,
    ) -> Reply:
        """200 with b64_json (the default). ``fmt`` overrides the requested format,
        ``image`` the image bytes, ``usage`` the usage object, ``count`` the number of
        images in the answer (fewer than ``n``: a partial answer)."""
        return cls("ok", options={"revised_prompt": revised_prompt, "fmt": fmt, "image": image, "usage": usage,
                                  "count": count})

    @classmethod
    def url(
        cls,
        *,
        expired: bool = False,
        redirect_to: str | None = None,
        truncate: bool = False,
        scheme_http_absolute: str | None = None,
    ) -> Reply:
        """200 with data[].url to GET /files/<id>.<fmt> on this server. ``expired``: that GET
        answers 403; ``redirect_to``: 302 there; ``truncate``: Content-Length larger than the
        body, then close; ``scheme_http_absolute``: use this exact string as the url."""
        return cls(
            "url",
            options={
                "expired": expired,
                "redirect_to": redirect_to,
                "truncate": truncate,
                "scheme_http_absolute": scheme_http_absolute,
            },
        )

    @classmethod
    def error(
        cls,
        status: int,
        *,
        code: str | None = None,
        message: str | None = None,
        type: str = "invalid_request_error",  # noqa: A002 - mirrors OpenAI's field name
        param: str | None = None,
        headers: dict | None = None,
    ) -> Reply:
        """An OpenAI error body {"error": {"message", "type", "param", "code"}} with ``status``."""
        if message is None:
            message = _DEFAULT_ERROR_MESSAGES.get(status, f"Fake error {status}.")
        return cls(
            "error",
            status=status,
            options={"code": code, "message": message, "type": type, "param": param, "headers": dict(headers or {})},
        )

    @classmethod
    def rate_limited(cls, retry_after: float | str = 1) -> Reply:
        """429, code rate_limit_exceeded, with ``Retry-After``."""
        return cls.error(
            429,
            code="rate_limit_exceeded",
            type="requests",
            message="Rate limit reached for gpt-image-1 in organization org-fake on images per minute (IPM): "
            "Limit 5, Used 5, Requested 1. Please try again later.",
            headers={"Retry-After": str(retry_after)},
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        return cls.error(
            status,
            type="server_error",
            message="The server had an error while processing your request. Sorry about that!",
        )

    @classmethod
    def hang(cls, seconds: float = 3600) -> Reply:
        """Never answer within ``seconds`` (then close without answering). Ends early when the
        client disconnects (e.g. its timeout fires) or the server stops."""
        return cls("hang", seconds=seconds)

    @classmethod
    def reset(cls) -> Reply:
        """Read the request, then reset the connection (RST) without answering."""
        return cls("reset")

    @classmethod
    def reset_mid_body(cls) -> Reply:
        """Send the headers and half of the JSON body (Content-Length of all of it), then close."""
        return cls("reset_mid_body")

    @classmethod
    def truncated_b64(cls) -> Reply:
        """200 whose b64_json is valid base64 of the first half of the image."""
        return cls("truncated_b64")

    @classmethod
    def invalid_b64(cls) -> Reply:
        """200 whose b64_json is not base64 (even lenient decoders reject it)."""
        return cls("invalid_b64")

    @classmethod
    def not_image(cls) -> Reply:
        """200 whose b64_json decodes to b"hello, not an image"."""
        return cls("not_image")

    @classmethod
    def wrong_format(cls, actual: str = "jpeg") -> Reply:
        """200 claiming the requested output_format but carrying a real ``actual`` image
        (if ``actual`` is what was asked, png<->jpeg is swapped instead)."""
        return cls("wrong_format", options={"actual": _norm_fmt(actual)})

    @classmethod
    def oversized(cls, n_bytes: int) -> Reply:
        """200 whose b64_json decodes to ``n_bytes`` bytes: a PNG signature then junk."""
        return cls("oversized", options={"n_bytes": int(n_bytes)})

    @classmethod
    def delay(cls, seconds: float, then: Reply) -> Reply:
        """Wait ``seconds`` extra, then answer with ``then``."""
        return cls("delay", seconds=seconds, then=then)


# ---- answers of servers that bend the protocol (issue 10); handled in _Handler._answer_odd

def _odd(kind: str, **options: Any) -> Reply:
    return Reply(kind, options=options)


#: Reply.plain_json(): one ordinary JSON body even when a stream was asked for (proxies do this)
#: Reply.stream_anyway(): an event stream even when none was asked for
#: Reply.trickle(seconds, pieces): the JSON body sent in ``pieces`` parts over ``seconds``
#: Reply.wrapped_b64(width): b64_json broken into lines of ``width`` characters
#: Reply.damaged_png(): a PNG whose header and IEND are intact but with zeros in the middle
#: Reply.echo_key(transform): a 400 whose message quotes the key, transformed
#:     ("base64", "upper", "no_prefix")
Reply.plain_json = classmethod(lambda cls: _odd("plain_json"))  # type: ignore[attr-defined]
Reply.stream_anyway = classmethod(lambda cls: _odd("stream_anyway"))  # type: ignore[attr-defined]
Reply.trickle = classmethod(lambda cls, seconds=5.0, pieces=50: _odd(  # type: ignore[attr-defined]
    "trickle", seconds=float(seconds), pieces=int(pieces)))
Reply.wrapped_b64 = classmethod(lambda cls, width=76: _odd("wrapped_b64", width=int(width)))  # type: ignore[attr-defined]
Reply.damaged_png = classmethod(lambda cls: _odd("damaged_png"))  # type: ignore[attr-defined]
Reply.echo_key = classmethod(lambda cls, transform="base64": _odd("echo_key", transform=transform))  # type: ignore[attr-defined]
_ODD_KINDS = ("plain_json", "stream_anyway", "trickle", "wrapped_b64", "damaged_png", "echo_key")


_DEFAULT_ERROR_MESSAGES = {
    400: "Your request was rejected as a result of our safety system.",
    401: "Incorrect API key provided.",
    403: "Your organization must be verified to use the model `gpt-image-1`. Please go to: "
    "https://platform.openai.com/settings/organization/general and click on Verify Organization.",
    404: "The model `gpt-image-1` does not exist or you do not have access to it.",
    429: "Rate limit reached. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
}

# Rough token accounting per 1024x1024 image, like gpt-image-1.
_OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160}
_QUALITY_ALIASES = {"standard": "medium", "hd": "high"}

# Lenient base64 decoders drop the non-alphabet chars and are left with 13 chars (13 % 4 == 1): invalid.
_INVALID_B64 = b"####this is:not base64!!##"

# Big b64 strings are spliced into the JSON as bytes rather than run through json.dumps
# (4 MB of base64 costs ~25 ms there); base64 needs no JSON escaping.
_B64_MARKER = "b64-" + secrets.token_hex(12)
_B64_MARKER_JSON = b'"' + _B64_MARKER.encode() + b'"'


def _json_with_b64(obj: Any, b64: bytes) -> bytes:
    """json.dumps(obj) with every ``_B64_MARKER`` string value replaced by ``b64``."""
    return json.dumps(obj).encode().replace(_B64_MARKER_JSON, b'"' + b64 + b'"')


def _error_body(
    message: str, type_: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None, code: str | None = "invalid_value") -> None:
        super().__init__(message)
        self.body = _error_body(message, code=code, param=param)


@dataclass
class _Params:
    width: int
    height: int
    fmt: str
    quality: str  # as echoed in answers
    background: str
    n: int
    response_format: str
    stream: bool
    partial_images: int
    prompt: str
    #: images an edit sent (billed as image input tokens)
    input_images: int = 0

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def _parse_params(body: dict) -> _Params:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise _BadRequest("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
    size = body.get("size") or "auto"
    if size == "auto":
        width, height = 1024, 1024
    else:
        try:
            w_s, h_s = str(size).lower().split("x")
            width, height = int(w_s), int(h_s)
            if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
                raise ValueError
        except ValueError:
            raise _BadRequest(
                f"Invalid value: '{size}'. Supported values are 'auto' or 'WIDTHxHEIGHT' "
                f"with sides up to {MAX_SIDE}.",
                "size",
            ) from None
    fmt = body.get("output_format") or "png"
    if fmt not in FORMATS:
        raise _BadRequest(
            f"Invalid value: '{fmt}'. Supported values are: 'png', 'jpeg', and 'webp'.", "output_format"
        )
    q = body.get("quality") or "auto"
    quality = q if q in _OUTPUT_TOKENS else _QUALITY_ALIASES.get(q, "high")
    n = body.get("n", 1)
    n = 1 if n is None else n
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
        raise _BadRequest(f"Invalid value for 'n': {n!r}. Must be between 1 and 10.", "n")
    partial = body.get("partial_images") or 0
    if not isinstance(partial, int) or not 0 <= partial <= 3:
        raise _BadRequest(
            f"Invalid value for 'partial_images': {partial!r}. Must be between 0 and 3.", "partial_images"
        )
    background = "transparent" if body.get("background") == "transparent" and fmt != "jpeg" else "opaque"
    return _Params(
        width=width,
        height=height,
        fmt=fmt,
        quality=quality,
        background=background,
        n=n,
        response_format=body.get("response_format") or "b64_json",
        stream=bool(body.get("stream")),
        partial_images=partial,
        prompt=prompt,
    )


def _multipart_parts(raw: bytes, content_type: str) -> list[tuple[str, str | None, str, bytes]] | None:
    """(field name, file name or None, content type, bytes) of a multipart/form-data body; None if it is not one."""
    kind, _, rest = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    boundary = None
    for param in rest.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        return None
    parts = []
    for chunk in raw.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            return None
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        fields = {}
        for item in disposition.split(";")[1:]:
            key, _, value = item.strip().partition("=")
            fields[key.lower()] = value.strip('"')
        if "name" not in fields:
            return None
        parts.append((fields["name"], fields.get("filename"), headers.get("content-type", "text/plain"),
                      data.removesuffix(b"\r\n")))
    return parts


def _image_dims(data: bytes) -> tuple[int, int] | None:
    """(width, height) of PNG, JPEG or WebP bytes (via Pillow for the last two); None if not an image."""
    if data.startswith(PNG_SIGNATURE):
        try:
            return png_size(data)
        except ValueError:
            return None
    if data.startswith(b"\xff\xd8\xff") or data[8:12] == b"WEBP":
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as opened:
                return opened.size
        except Exception:
            return None
    return None


def _png_has_alpha(data: bytes) -> bool:
    """Colour type 4 or 6 (grey or RGB with alpha), or a tRNS chunk."""
    return len(data) > 25 and (data[25] in (4, 6) or b"tRNS" in data[:4096])


def _parse_edit(record: RecordedRequest) -> _Params:
    """Check an edit request the way the real endpoint does (see the module docstring)."""
    form = record.body
    for name in form:
        if name not in EDIT_FIELDS:
            raise _BadRequest(f"Unknown parameter: '{name}'.", name, "unknown_parameter")
    images = [part for part in record.files if part[0] in ("image", "image[]")]
    masks = [part for part in record.files if part[0] == "mask"]
    others = [part for part in record.files if part[0] not in ("image", "image[]", "mask")]
    if others:
        raise _BadRequest(f"Unknown parameter: '{others[0][0]}'.", others[0][0], "unknown_parameter")
    if not images:
        raise _BadRequest("Missing required parameter: 'image'.", "image", "missing_required_parameter")
    if len(images) > MAX_EDIT_IMAGES:
        raise _BadRequest(f"Too many images: at most {MAX_EDIT_IMAGES}.", "image")
    dims = []
    for name, filename, part_type, data in images + masks:
        param = "mask" if name == "mask" else "image"
        if part_type not in EDIT_IMAGE_TYPES:
            raise _BadRequest(f"Invalid file '{param}': unsupported mimetype ('{part_type}'). Supported file "
                              "formats are 'image/jpeg', 'image/png', and 'image/webp'.", param,
                              "unsupported_file_mimetype")
        size = _image_dims(data)
        if size is None:
            raise _BadRequest(f"Invalid image file or mode for image {filename!r}.", param, "invalid_image_file")
        dims.append(size)
    if masks:
        if len(masks) > 1:
            raise _BadRequest("Only one mask may be given.", "mask")
        mask = masks[0][3]
        if not mask.startswith(PNG_SIGNATURE) or not _png_has_alpha(mask):
            raise _BadRequest("Invalid mask image format - mask image missing alpha channel", "mask",
                              "invalid_image_format")
        if dims[-1] != dims[0]:
            raise _BadRequest("Invalid mask image format - mask size does not match image size", "mask",
                              "invalid_image_format")
    if form.get("input_fidelity") and form.get("model") in NO_INPUT_FIDELITY:
        raise _BadRequest(f"input_fidelity is not supported for {form['model']}; omit it.", "input_fidelity",
                          "unsupported_parameter")
    body: dict[str, Any] = dict(form)
    for name in ("n", "partial_images", "output_compression"):
        if name in body:
            try:
                body[name] = int(body[name])
            except ValueError:
                raise _BadRequest(f"Invalid value for '{name}': {body[name]!r}.", name) from None
    body["stream"] = str(body.get("stream", "")).lower() == "true"
    params = _parse_params(body)
    params.input_images = len(images)
    return params


#: image input tokens per image an edit sends (a rough figure, like the output ones)
_INPUT_IMAGE_TOKENS = 323


def _usage(params: _Params) -> dict:
    text_tokens = max(1, len(params.prompt) // 4)
    image_tokens = _INPUT_IMAGE_TOKENS * params.input_images
    input_tokens = text_tokens + image_tokens
    per_image = round(_OUTPUT_TOKENS.get(params.quality, 4160) * params.width * params.height / (1024 * 1024))
    output_tokens = max(1, per_image) * params.n
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text_tokens},
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "output_tokens_details": {"image_tokens": output_tokens, "text_tokens": 0},
    }


# --------------------------------------------------------------------------- HTTP plumbing


# --------------------------------------------------------------------------- request limit


def go_duration(seconds: float) -> str:
    """A duration the way OpenAI's rate-limit headers write it: ``250ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    return f"{int(minutes)}m{rest:g}s" if minutes else f"{rest:g}s"


class RequestLimit:
    """A request limit enforced like a token bucket: ``limit`` requests, refilled evenly over
    ``window_s`` seconds (OpenAI enforces "600 per minute" as "10 per second" or finer).

    Checked when a generation request arrives (after auth and validation); a request over
    the limit gets a 429 with ``Retry-After`` (whole seconds, rounded up) and
    ``retry-after-ms``. With ``headers`` every answer carries ``x-ratelimit-limit-requests``,
    ``x-ratelimit-remaining-requests`` and ``x-ratelimit-reset-requests`` (time until the
    bucket is full again) as they were at the request's arrival.
    """

    def __init__(self, limit: int, window_s: float = 60.0, *, headers: bool = True) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit, self.window_s, self.headers = limit, float(window_s), headers
        self.rate = limit / self.window_s  # requests refilled per second
        self.admitted = 0
        self.rejected = 0
        self._tokens = float(limit)
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def admit(self) -> tuple[bool, dict[str, str]]:
        """(admitted?, headers for the answer)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.limit, self._tokens + (now - self._at) * self.rate)
            self._at = now
            admitted = self._tokens >= 1
            if admitted:
                self._tokens -= 1
                self.admitted += 1
            else:
                self.rejected += 1
            tokens = self._tokens
        out: dict[str, str] = {}
        if self.headers:
            out = {"x-ratelimit-limit-requests": str(self.limit),
                   "x-ratelimit-remaining-requests": str(int(tokens)),
                   "x-ratelimit-reset-requests": go_duration((self.limit - tokens) / self.rate)}
        if not admitted:
            wait = (1 - tokens) / self.rate
            out.update({"retry-after-ms": str(max(1, math.ceil(wait * 1000))), "Retry-After": str(math.ceil(wait))})
        return admitted, out


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256
    fake: FakeImagesAPI

    def handle_error(self, request: Any, client_address: Any) -> None:  # keep test output quiet
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, OSError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Abandon(Exception):
    """The client went away or the server is stopping: stop handling quietly."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    # -- lifecycle
    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._untrack(self.connection)

    def handle(self) -> None:
        try:
            super().handle()
        except (_Abandon, ConnectionError, OSError, TimeoutError):
            self.close_connection = True
        except ValueError:  # "I/O operation on closed file" after an abortive close is expected
            self.close_connection = True
            if not self.wfile.closed:
                import traceback

                traceback.print_exc()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    # -- routing
    def do_POST(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def do_PUT(self) -> None:
        self._route()

    def do_DELETE(self) -> None:
        self._route()

    def do_PATCH(self) -> None:
        self._route()

    def _route(self) -> None:
        self.request_id = "req_" + secrets.token_hex(16)
        self._inflight = False
        self._headers_sent = False
        self._limit_headers: dict[str, str] = {}
        raw = self._read_body()
        path = urlsplit(self.path).path
        if self.command == "POST" and path.rstrip("/") == GENERATIONS_PATH:
            self._generation(raw)
        elif self.command == "POST" and path.rstrip("/") == EDITS_PATH:
            self._generation(raw, edit=True)
        elif self.command == "GET" and path.startswith("/files/"):
            self._serve_file(path[len("/files/") :], raw)
        else:
            self._send_json(404, _error_body(f"Invalid URL ({self.command} {path})"))

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- sending
    def end_headers(self) -> None:
        self._headers_sent = True
        super().end_headers()

    def _done(self) -> None:
        """Stop counting this generation as in flight. Called just before the last bytes of an
        answer go out, so a client that got its answer always sees ``in_flight`` without it."""
        if self._inflight:
            self._inflight = False
            self.server.fake._leave()

    def _send(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self._done()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        extra = {**self._limit_headers, **(headers or {})}
        # A reply may fix its request id (a snapshot must not show a random one).
        self.send_header("x-request-id", extra.pop("x-request-id", self.request_id))
        for name, value in extra.items():
            self.send_header(name, str(value))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def _close(self, *, rst: bool = False) -> None:
        """Close the connection without (finishing) an answer. rst=True: abortive close (RST)."""
        self._done()
        self.close_connection = True
        sock = self.connection
        try:
            if rst:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                for f in (self.rfile, self.wfile):
                    try:
                        f.close()
                    except OSError:
                        pass
                sock.close()
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``; raise _Abandon if the server stops or the client hangs up meanwhile."""
        fake = self.server.fake
        stopping = fake._stopping
        if seconds <= 0:
            if stopping.is_set():
                raise _Abandon
            return
        deadline = time.monotonic() + seconds
        sock = self.connection
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            while True:
                if stopping.is_set():
                    raise _Abandon
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                if not sel.select(min(remaining, 0.25)):
                    continue
                try:
                    peek = sock.recv(1, socket.MSG_PEEK)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    raise _Abandon from None
                if not peek:  # EOF: the client gave up (timeout, cancel) or stop() shut us down
                    raise _Abandon
                # The client sent more bytes (pipelining): hang-up detection is no longer possible.
                if stopping.wait(max(0.0, deadline - time.monotonic())):
                    raise _Abandon
                return

    # -- /files
    def _serve_file(self, name: str, raw: bytes) -> None:
        fake = self.server.fake
        fake._record_file_request(self._record(raw))
        entry = fake._get_file(name)
        if entry is None:
            self._send_json(404, _error_body(f"No such file: {name}"))
            return
        data, fmt, opts = entry
        if opts.get("expired"):
            body = (
                b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code>'
                b"<Message>Server failed to authenticate the request. Signed expiry time has expired."
                b"</Message></Error>"
            )
            self._send(403, body, "application/xml")
        elif opts.get("redirect_to"):
            self._send(302, b"", "text/plain", {"Location": opts["redirect_to"]})
        elif opts.get("truncate"):
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPES[fmt])
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", self.request_id)
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self._close()
        else:
            self._send(200, data, CONTENT_TYPES[fmt])

    # -- /v1/images/generations and /v1/images/edits
    def _record_edit(self, raw: bytes) -> RecordedRequest:
        record = self._record(b"")
        record.raw_body = raw
        content_type = self.headers.get("Content-Type") or ""
        parts = _multipart_parts(raw, content_type)
        self._body_ok = parts is not None
        for name, filename, part_type, data in parts or []:
            if filename is None:
                record.body[name] = data.decode("utf-8", "replace")
            else:
                record.files.append((name, filename, part_type, data))
        return record

    def _record(self, raw: bytes) -> RecordedRequest:
        headers = _HeaderDict((k.lower(), v) for k, v in self.headers.items())
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        self._body_ok = isinstance(body, dict)
        return RecordedRequest(
            path=self.path,
            headers=headers,
            body=body if isinstance(body, dict) else {},
            received_at=time.monotonic(),
            method=self.command,
            raw_body=raw,
        )

    def _generation(self, raw: bytes, *, edit: bool = False) -> None:
        fake = self.server.fake
        record = self._record_edit(raw) if edit else self._record(raw)
        fake._enter(record)
        self._inflight = True
        try:
            if fake.api_key is not None:
                auth = self.headers.get("Authorization") or ""
                scheme, _, token = auth.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    self._send_json(
                        401,
                        _error_body(
                            "You didn't provide an API key. You need to provide your API key in an "
                            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                        ),
                    )
                    return
                token = token.strip()
                if token != fake.api_key:
                    self._send_json(
                        401,
                        _error_body(
                            f"Incorrect API key provided: {token}. You can find your API key at "
                            "https://platform.openai.com/account/api-keys.",
                            code="invalid_api_key",
                        ),
                    )
                    return
            if not self._body_ok:
                self._send_json(400, _error_body("We could not parse the JSON body of your request."))
                return
            try:
                params = _parse_edit(record) if edit else _parse_params(record.body)
            except _BadRequest as exc:
                self._send_json(400, exc.body)
                return
            if fake.request_limit is not None:
                admitted, self._limit_headers = fake.request_limit.admit()
                if not admitted:
                    self._send_json(429, _error_body("Rate limit reached for requests", "requests",
                                                     "rate_limit_exceeded"))
                    return
            reply = fake._next_reply(params)
            try:
                self._answer(reply, params)
            except (_Abandon, OSError):
                raise
            except Exception as exc:  # a bug here or in image_bytes_factory: say so instead of hanging up
                if self.wfile.closed:
                    raise
                import traceback

                traceback.print_exc()
                if self._headers_sent:
                    raise _Abandon from exc
                self._send_json(500, _error_body(f"fake images API failed: {exc!r}", "fake_server_error"))
        finally:
            self._done()

    def _answer(self, reply: Reply, params: _Params) -> None:
        fake = self.server.fake
        kind = reply.kind
        if kind in _ODD_KINDS:
            self._answer_odd(reply, params)
            return
        if kind == "delay":
            self._wait(reply.seconds)
            self._answer(reply.then or Reply.ok(), params)
            return
        if kind == "error":
            o = reply.options
            self._send_json(reply.status, _error_body(o["message"], o["type"], o["code"], o["param"]), o["headers"])
            return
        if kind == "hang":
            try:
                self._wait(reply.seconds)
            finally:
                self._close()
            return
        if kind == "reset":
            self._close(rst=True)
            return

        # Everything below carries an image and takes the configured latency.
        if params.stream and kind != "reset_mid_body":
            self._stream(reply, params)
            return
        self._wait(fake.latency)
        created = int(time.time())
        b64 = b""
        count = (reply.options.get("count") if kind == "ok" else None) or params.n
        if kind == "url":
            items = [{"url": self._url_for_reply(reply, params)} for _ in range(count)]
        else:
            b64, _ = self._b64_for(reply, params)
            items = [{"b64_json": _B64_MARKER} for _ in range(count)]
            revised = reply.options.get("revised_prompt") if kind == "ok" else None
            if revised is not None:
                for item in items:
                    item["revised_prompt"] = revised
        out_fmt = (reply.options.get("fmt") if kind == "ok" else None) or params.fmt
        usage = (reply.options.get("usage") if kind == "ok" else None) or _usage(params)
        payload = {
            "created": created,
            "data": items,
            "background": params.background,
            "output_format": out_fmt,
            "quality": params.quality,
            "size": params.size,
            "usage": usage,
        }
        body = _json_with_b64(payload, b64) if kind != "url" else json.dumps(payload).encode()
        if kind == "reset_mid_body":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-request-id", self.request_id)
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self._close()
            return
        self._send(200, body, "application/json")

    def _answer_odd(self, reply: Reply, params: _Params) -> None:
        """The protocol-bending answers of issue 10 (see ``_ODD_KINDS``)."""
        import dataclasses

        kind, options = reply.kind, reply.options
        if kind == "plain_json":
            self._answer(Reply.ok(), dataclasses.replace(params, stream=False))
            return
        if kind == "stream_anyway":
            self._stream(Reply.ok(), params)
            return
        if kind == "echo_key":
            key = (self.headers.get("Authorization") or "").partition(" ")[2].strip()
            shown = {"base64": base64.b64encode(key.encode()).decode(), "upper": key.upper(),
                     "no_prefix": key.split("-", 1)[-1]}[options["transform"]]
            self._send_json(400, _error_body(f"Invalid request from credentials {shown}."))
            return
        self._wait(self.server.fake.latency)
        image = self._image_bytes(params.width, params.height, params.fmt)
        if kind == "damaged_png":
            image = make_png(params.width, params.height)
            middle = len(image) // 2
            image = image[:middle - 8] + bytes(16) + image[middle + 8:]
        b64 = base64.b64encode(image)
        if kind == "wrapped_b64":
            width = options["width"]
            b64 = b"\\n".join(b64[i:i + width] for i in range(0, len(b64), width))
        payload = {"created": int(time.time()), "data": [{"b64_json": _B64_MARKER}], "usage": _usage(params),
                   "output_format": params.fmt, "size": params.size}
        body = _json_with_b64(payload, b64)
        if kind != "trickle":
            self._send(200, body, "application/json")
            return
        self._done()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", self.request_id)
        self.end_headers()
        pieces = max(1, options["pieces"])
        step = -(-len(body) // pieces)
        for start in range(0, len(body), step):
            self.wfile.write(body[start:start + step])
            self.wfile.flush()
            self._wait(options["seconds"] / pieces)

    def _image_bytes(self, width: int, height: int, fmt: str) -> bytes:
        factory = self.server.fake.image_bytes_factory
        if factory is not None:
            return factory(width, height, fmt)
        return make_image(width, height, fmt)

    def _b64_for(self, reply: Reply, params: _Params) -> tuple[bytes, str]:
        """(b64_json, the format actually in it) for the success-like reply kinds."""
        fake = self.server.fake
        kind = reply.kind
        w, h = params.width, params.height
        if kind == "ok":
            fmt = _norm_fmt(reply.options.get("fmt") or params.fmt)
            image = reply.options.get("image")
            if image is not None:
                return fake._b64(image), fmt
            if fake.image_bytes_factory is None:
                return _default_b64(w, h, fmt), fmt
            return fake._b64(self._image_bytes(w, h, fmt)), fmt
        if kind == "truncated_b64":
            data = self._image_bytes(w, h, params.fmt)
            return base64.b64encode(data[: max(len(data) // 2, 16)]), params.fmt
        if kind == "invalid_b64":
            return _INVALID_B64, params.fmt
        if kind == "not_image":
            return base64.b64encode(b"hello, not an image"), "txt"
        if kind == "wrong_format":
            actual = reply.options.get("actual", "jpeg")
            if actual == params.fmt:
                actual = "jpeg" if params.fmt == "png" else "png"
            return base64.b64encode(make_image(w, h, actual)), actual
        if kind == "oversized":
            n = max(reply.options["n_bytes"], len(PNG_SIGNATURE))
            block = os.urandom(65536)
            junk = (block * (n // len(block) + 1))[: n - len(PNG_SIGNATURE)]
            return base64.b64encode(PNG_SIGNATURE + junk), "png"
        if kind in ("url", "reset_mid_body"):
            return self._b64_for(Reply.ok(), params)
        raise ValueError(f"unknown reply kind {kind!r}")

    def _url_for_reply(self, reply: Reply, params: _Params) -> str:
        opts = reply.options
        if opts.get("scheme_http_absolute"):
            return opts["scheme_http_absolute"]
        data = self._image_bytes(params.width, params.height, params.fmt)
        name = f"img-{secrets.token_hex(12)}.{params.fmt}"
        self.server.fake._put_file(name, data, params.fmt, dict(opts))
        stamp = "%Y-%m-%dT%H%%3A%M%%3A%SZ"
        start, expiry = time.strftime(stamp, time.gmtime()), time.strftime(stamp, time.gmtime(time.time() + 3600))
        query = f"st={start}&se={expiry}&sp=r&sv=2024-08-04&sr=b&sig={secrets.token_urlsafe(32)}"
        return self.server.fake.url_for(f"/files/{name}") + "?" + query

    def _stream(self, reply: Reply, params: _Params) -> None:
        fake = self.server.fake
        if reply.kind == "url":  # a stream always carries b64_json
            reply = Reply.ok()
        kind = reply.kind
        b64, _ = self._b64_for(reply, params)
        steps = params.partial_images + 1
        step = fake.latency / steps
        common = {
            "background": params.background,
            "output_format": (reply.options.get("fmt") if kind == "ok" else None) or params.fmt,
            "quality": params.quality,
            "size": params.size,
        }
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-request-id", self.request_id)
        for name, value in self._limit_headers.items():
            self.send_header(name, value)
        self.end_headers()
        for index in range(params.partial_images):
            self._wait(step)
            event = {
                "type": "image_generation.partial_image",
                "b64_json": _B64_MARKER,
                "partial_image_index": index,
                "created_at": int(time.time()),
                **common,
            }
            self._write_chunk(_sse("image_generation.partial_image", event, b64))
        self._wait(step)
        self._done()
        usage = (reply.options.get("usage") if kind == "ok" else None) or _usage(params)
        event = {
            "type": "image_generation.completed",
            "b64_json": _B64_MARKER,
            "created_at": int(time.time()),
            **common,
            "usage": usage,
        }
        self._write_chunk(_sse("image_generation.completed", event, b64))
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


def _sse(event: str, data: dict, b64: bytes) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _json_with_b64(data, b64) + b"\n\n"


# --------------------------------------------------------------------------- the fake


class FakeImagesAPI:
    """A local fake of OpenAI's Images API. See the module docstring for behaviour.

    Attributes read by tests: ``requests`` (generation requests, arrival order),
    ``file_requests`` (GET /files/...), ``in_flight``, ``max_concurrent``.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        image_bytes_factory: Callable[[int, int, str], bytes] | None = None,
        api_key: str | None = None,
        request_limit: RequestLimit | None = None,
    ) -> None:
        self.latency = float(latency)
        #: enforce a request limit (and send its headers or not): see :class:`RequestLimit`
        self.request_limit = request_limit
        self.image_bytes_factory = image_bytes_factory
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.file_requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_concurrent = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queue: collections.deque[Reply] = collections.deque()
        self._files: collections.OrderedDict[str, tuple[bytes, str, dict]] = collections.OrderedDict()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._root: str | None = None
        self._last_port = 0
        self._last_b64: tuple[bytes, bytes] | None = None

    # -- lifecycle
    def start(self, port: int = 0) -> FakeImagesAPI:
        """Bind 127.0.0.1:``port`` (0: the OS picks; after a stop(), the previous port is
        tried first so clients built on ``base_url`` keep working) and serve in a thread."""
        if self._server is not None:
            return self
        self._stopping = threading.Event()
        try:
            server = _Server(("127.0.0.1", port or self._last_port), _Handler)
        except OSError:
            if port:
                raise
            server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        real_port = server.server_port  # HTTPServer's bound port (0 asked the OS for one)
        self._root = f"http://127.0.0.1:{real_port}"
        self._last_port = real_port
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-images-api:{real_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes hanging / sleeping handlers
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # idle keep-alive handlers return from recv
            except OSError:
                pass
        if thread is not None:
            thread.join(timeout=2)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeImagesAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeImagesAPI is not started")
        return self._server.server_address[1]

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._root is None:
            raise RuntimeError("FakeImagesAPI is not started")
        return self._root

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: pass to ``openai.OpenAI(base_url=...)``."""
        return self.root_url + "/v1"

    def url_for(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return self.root_url + "/" + path.lstrip("/")

    # -- scripting
    def enqueue(self, *replies: Reply) -> None:
        """Scripted answers, consumed FIFO, one per generation request (that passed auth and
        validation). With an empty queue the answer is the default success."""
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"expected Reply, got {type(reply).__name__}")
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending_replies(self) -> int:
        with self._lock:
            return len(self._queue)

    def set_latency(self, seconds: float) -> None:
        self.latency = float(seconds)

    def reset(self) -> None:
        """Clear the reply queue, the recorded requests and the counters (``in_flight``
        keeps counting requests still being handled; ``max_concurrent`` restarts from it)."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.file_requests.clear()
            self.max_concurrent = self.in_flight

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` generation requests arrived; False on timeout."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    # -- used by the handler
    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.add(sock)
        if self._stopping.is_set():
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.discard(sock)

    def _enter(self, record: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(record)
            self.in_flight += 1
            if self.in_flight > self.max_concurrent:
                self.max_concurrent = self.in_flight
            self._arrived.notify_all()

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _next_reply(self, params: _Params) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return Reply.url() if params.response_format == "url" else Reply.ok()

    def _record_file_request(self, record: RecordedRequest) -> None:
        with self._lock:
            self.file_requests.append(record)

    def _put_file(self, name: str, data: bytes, fmt: str, opts: dict) -> None:
        with self._lock:
            self._files[name] = (data, fmt, opts)
            while len(self._files) > MAX_FILES:
                self._files.popitem(last=False)

    def _get_file(self, name: str) -> tuple[bytes, str, dict] | None:
        with self._lock:
            return self._files.get(name)

    def _b64(self, data: bytes) -> bytes:
        """base64 of ``data``, remembering the last one (factories often return the same object)."""
        last = self._last_b64
        if last is not None and last[0] is data:
            return last[1]
        encoded = base64.b64encode(data)
        self._last_b64 = (data, encoded)
        return encoded


# --------------------------------------------------------------------------- demo entry point


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m blog_images_tui.testing.fake_images_api",
        description="Run a fake OpenAI Images API on 127.0.0.1 (no network, no key needed).",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind on 127.0.0.1 (default: any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each generation takes")
    parser.add_argument("--api-key", default=None, help="only accept this Bearer key (default: any)")
    args = parser.parse_args(argv)
    fake = FakeImagesAPI(latency=args.latency, api_key=args.api_key)
    fake.start(args.port)
    print(f"Fake OpenAI Images API listening on {fake.base_url}", flush=True)
    print(f"  e.g. OPENAI_BASE_URL={fake.base_url} OPENAI_API_KEY=sk-fake blog-images ...", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
