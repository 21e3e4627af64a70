"""Recognise PNG, JPEG and WebP bytes, read their dimensions, and verify them whole.

:func:`sniff` parses headers only (listings, previews). :func:`check_image`
verifies a whole image before it is stored as good: for PNG every chunk's
CRC-32 and the chunk order (IHDR first, IDAT, IEND last), so garbage or zeros
anywhere in the file are caught without decoding pixels; for JPEG and WebP a
real decode by Pillow. The cost per 3 MB image is measured in BENCHMARKS.md.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from blog_images_tui.errors import TemporaryFailure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "png" | "jpeg" | "webp"
    width: int
    height: int


class NotAnImage(ValueError):
    pass


def sniff(data: bytes) -> ImageInfo:
    """Return the format and size of ``data`` or raise :class:`NotAnImage`."""
    if data.startswith(PNG_SIGNATURE):
        return _png(data)
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data)
    if len(data) >= 30 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    raise NotAnImage("not a PNG, JPEG or WebP image")


def _png(data: bytes) -> ImageInfo:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise NotAnImage("PNG header is cut short")
    width, height = struct.unpack(">II", data[16:24])
    # A complete PNG ends with an IEND chunk; a truncated download does not.
    if not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
        raise NotAnImage("PNG data is truncated (no IEND chunk)")
    return ImageInfo("png", width, height)


def _jpeg(data: bytes) -> ImageInfo:
    index = 2
    size = len(data)
    while index + 4 <= size:
        if data[index] != 0xFF:
            raise NotAnImage("JPEG structure is damaged")
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            index += 2
            continue
        (length,) = struct.unpack(">H", data[index + 2:index + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if index + 9 > size:
                break
            height, width = struct.unpack(">HH", data[index + 5:index + 9])
            if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
                raise NotAnImage("JPEG data is truncated (no end marker)")
            return ImageInfo("jpeg", width, height)
        index += 2 + length
    raise NotAnImage("JPEG has no frame header")


def _webp(data: bytes) -> ImageInfo:
    (riff_size,) = struct.unpack("<I", data[4:8])
    if riff_size + 8 > len(data):
        raise NotAnImage("WebP data is truncated")
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
    elif chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        width, height = width & 0x3FFF, height & 0x3FFF
    elif chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    else:
        raise NotAnImage("unknown WebP chunk")
    return ImageInfo("webp", width, height)


def _png_chunks_ok(data: bytes) -> None:
    """Walk every chunk of a PNG: lengths in bounds, CRCs right, IHDR first, IDAT, IEND last."""
    index, size, seen_idat, first = len(PNG_SIGNATURE), len(data), False, True
    while True:
        if index + 12 > size:
            raise NotAnImage("PNG data is truncated (no IEND chunk)")
        (length,) = struct.unpack(">I", data[index:index + 4])
        kind = data[index + 4:index + 8]
        end = index + 12 + length
        if length > 2**31 - 1 or end > size:
            raise NotAnImage(f"PNG chunk {kind!r} runs past the end of the data (truncated)")
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(data[index + 4:end - 4]) != crc:
            raise NotAnImage(f"PNG chunk {kind.decode('latin-1')!r} at byte {index} is damaged (CRC mismatch)")
        if first and kind != b"IHDR":
            raise NotAnImage("PNG does not start with IHDR")
        first = False
        seen_idat = seen_idat or kind == b"IDAT"
        index = end
        if kind == b"IEND":
            break
    if not seen_idat:
        raise NotAnImage("PNG has no image data (no IDAT chunk)")
    if data[index:].strip(b"\x00"):
        raise NotAnImage("PNG has data after its IEND chunk")


def _decodes(data: bytes, fmt: str) -> None:
    """A real decode with Pillow; truncated or damaged data raises."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Pillow warns, not raises, about some damage
            with Image.open(io.BytesIO(data)) as image:
                if (image.format or "").lower() != {"jpeg": "jpeg", "webp": "webp"}[fmt]:
                    raise NotAnImage(f"Pillow reads it as {image.format}, not {fmt.upper()}")
                image.load()
    except NotAnImage:
        raise
    except Exception as error:  # OSError, SyntaxError, ValueError, Warning...
        why = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise NotAnImage(f"{fmt.upper()} does not decode: {why}") from None


def check_image(data: bytes) -> ImageInfo:
    """Verify ``data`` is one whole PNG, JPEG or WebP image and return what it is.

    Raises :class:`NotAnImage` with the reason (truncated, a damaged chunk,
    an undecodable body).
    """
    info = sniff(data)
    if info.format == "png":
        _png_chunks_ok(data)
    else:
        _decodes(data, info.format)
    if info.width <= 0 or info.height <= 0:
        raise NotAnImage(f"{info.format.upper()} has no pixels ({info.width}x{info.height})")
    return info


def verify_image(data: bytes, expected_format: str) -> ImageInfo:
    """Check ``data`` is a complete image of ``expected_format``.

    Raises :class:`TemporaryFailure` (the response was unusable: nothing is stored; a retry may succeed).
    """
    try:
        info = check_image(data)
    except NotAnImage as error:
        raise TemporaryFailure(f"the API returned unusable image data: {error}") from None
    if info.format != expected_format:
        raise TemporaryFailure(f"the API returned a {info.format.upper()} image,"
                               f" not the {expected_format.upper()} asked for")
    return info
