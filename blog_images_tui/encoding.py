"""Encode web derivatives of one image with Pillow: the CPU-heavy part of publishing.

Pillow, the standard library and the layout's table of MIME types only, and every entry point takes and returns
plain bytes and tuples, so it runs as well in a worker process as in a thread
(see :mod:`blog_images_tui.publish`). The source is decoded once per call and
resized once per width; every format of that width is encoded from the same
pixels.

What shapes the output bytes is fixed here and named by :func:`encoder_id`
(the library versions and :data:`RECIPE`), so a derivative's name can carry a
hash of everything that made it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from blog_images_tui.layout import CONTENT_TYPES

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

#: Bump when anything below changes the bytes for the same inputs (filters, options, XMP).
RECIPE = 1


@dataclass(frozen=True)
class WebFormat:
    """One output format: how Pillow names it, its file extension and MIME type, what it can hold."""

    pillow: str
    extension: str
    content_type: str
    keeps_alpha: bool
    lossy: bool  # takes a quality


FORMATS: dict[str, WebFormat] = {
    "avif": WebFormat("AVIF", "avif", CONTENT_TYPES["avif"], keeps_alpha=True, lossy=True),
    "webp": WebFormat("WEBP", "webp", CONTENT_TYPES["webp"], keeps_alpha=True, lossy=True),
    "jpeg": WebFormat("JPEG", "jpg", CONTENT_TYPES["jpeg"], keeps_alpha=False, lossy=True),
    "png": WebFormat("PNG", "png", CONTENT_TYPES["png"], keeps_alpha=True, lossy=False),
}
#: formats a browser may lack, offered in a <source>, best first
MODERN_FORMATS = ("avif", "webp")
DEFAULT_QUALITY = {"avif": 60, "webp": 80, "jpeg": 82}

# IPTC's digital source type for media made by a trained model: what the C2PA and
# IPTC guidance asks AI images to carry once their original metadata is gone.
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
XMP_PACKET = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about=""\n'
    '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
    '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
    f'    Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}"\n'
    '    xmp:CreatorTool="blog-images"/>\n'
    ' </rdf:RDF>\n'
    '</x:xmpmeta>\n'
    '<?xpacket end="r"?>'
).encode()


@dataclass(frozen=True)
class SourceFacts:
    """What planning needs to know of a source image (no pixels kept)."""

    width: int
    height: int
    has_alpha: bool  # some pixel is not fully opaque
    has_icc: bool


#: one file to make: (format, width, height, quality or None)
EncodeJob = tuple[str, int, int, "int | None"]


def encoder_id() -> str:
    """The encoders and recipe that shape the bytes, e.g. ``pillow 13.0.0 avif 1.4.2 ... recipe 1``."""
    import PIL
    from PIL import features

    parts = [f"pillow {PIL.__version__}"]
    for name in ("avif", "webp", "libjpeg_turbo", "zlib"):
        parts.append(f"{name} {features.version(name) or 'none'}")
    parts.append(f"recipe {RECIPE}")
    return " ".join(parts)


def _open(data: bytes) -> tuple[PILImage, bytes | None]:
    from PIL import Image, ImageOps

    opened = Image.open(io.BytesIO(data))
    opened.load()
    icc = opened.info.get("icc_profile")
    # An imported photo may be stored rotated with an EXIF orientation: publish it upright.
    return ImageOps.exif_transpose(opened), icc


def _pixels(image: PILImage, keep_alpha: bool) -> PILImage:
    """The image as 8-bit RGB, or RGBA when it has transparency worth keeping."""
    if image.mode in ("RGBA", "RGB") and (image.mode == "RGBA") == keep_alpha:
        return image
    if image.mode == "P" or "transparency" in image.info:
        image = image.convert("RGBA")
    if keep_alpha:
        return image.convert("RGBA")
    return image.convert("RGB")


def _alpha_used(image: PILImage) -> bool:
    if image.mode == "P" or "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode not in ("RGBA", "LA", "PA", "La", "RGBa"):
        return False
    low = image.getchannel("A").getextrema()[0]  # one channel: (min, max) numbers
    return isinstance(low, int | float) and low < 255


@dataclass
class Decoded:
    """A source decoded once: its pixels (as stored, upright), colour profile and facts."""

    image: PILImage
    icc: bytes | None
    facts: SourceFacts


def decode(data: bytes) -> Decoded:
    """Decode a source once; ``ValueError`` if it is not an image."""
    try:
        image, icc = _open(data)
    except Exception as error:  # Pillow raises many kinds for bad data
        raise ValueError(f"cannot decode the image: {error}") from None
    return Decoded(image, icc, SourceFacts(image.width, image.height, _alpha_used(image), bool(icc)))


def inspect_source(data: bytes) -> SourceFacts:
    """Size, transparency and colour profile of ``data``; ``ValueError`` if it is not an image."""
    return decode(data).facts


def prepare(data: bytes | Decoded, keep_alpha: bool) -> tuple[PILImage, bytes | None]:
    """Pixels ready for :func:`encode_prepared` (from bytes, or a source decoded already): (pixels, profile)."""
    decoded = data if isinstance(data, Decoded) else decode(data)
    return _pixels(decoded.image, keep_alpha), decoded.icc


def encode_prepared(image: PILImage, icc: bytes | None, jobs: list[EncodeJob]) -> list[bytes]:
    """Encode every job from decoded pixels, resizing once per size; bytes in the order of ``jobs``.

    Only reads ``image``, so threads may share one decoded source.
    """
    from PIL import Image

    resized: dict[tuple[int, int], Image.Image] = {}
    out = []
    for fmt, width, height, quality in jobs:
        key = (width, height)
        if key not in resized:
            resized[key] = (image if key == image.size
                            else image.resize(key, Image.Resampling.LANCZOS, reducing_gap=3.0))
        out.append(save(resized[key], fmt, quality, icc))
    return out


def encode(data: bytes, jobs: list[EncodeJob], keep_alpha: bool) -> list[bytes]:
    """Decode ``data`` and encode every job (what a worker process runs).

    The colour profile is carried over; every file gets :data:`XMP_PACKET`.
    """
    image, icc = prepare(data, keep_alpha)
    return encode_prepared(image, icc, jobs)


def verify(data: bytes, fmt: str, width: int, height: int) -> bool:
    """True if ``data`` decodes whole as ``fmt`` at ``width`` x ``height`` (a file found in the store)."""
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        ok = image.format == FORMATS[fmt].pillow and image.size == (width, height)
        image.load()
    except Exception:
        return False
    return ok


def save(image: PILImage, fmt: str, quality: int | None, icc: bytes | None) -> bytes:
    """One encoder call with the options of :data:`RECIPE`."""
    web_format = FORMATS[fmt]
    if not web_format.keeps_alpha and image.mode != "RGB":
        image = image.convert("RGB")
    options: dict = {"icc_profile": icc} if icc else {}
    if fmt == "avif":
        # One thread: the output of libavif depends on its thread count, and
        # publishing runs one encoder per core already.
        options.update(quality=quality, speed=6, max_threads=1, xmp=XMP_PACKET)
    elif fmt == "webp":
        options.update(quality=quality, method=4, xmp=XMP_PACKET)
    elif fmt == "jpeg":
        options.update(quality=quality, progressive=True, xmp=XMP_PACKET)
    else:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP_PACKET.decode("utf-8"))
        options.update(pnginfo=info, compress_level=6)
    buffer = io.BytesIO()
    image.save(buffer, web_format.pillow, **options)
    return buffer.getvalue()
