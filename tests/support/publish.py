"""Helpers of the publish tests: real pictures made with Pillow, a stored source, a publish run, an HTML parser."""

from __future__ import annotations

import asyncio
import io
from html.parser import HTMLParser

from PIL import Image, ImageDraw

from blog_images_tui import layout
from blog_images_tui.ids import SectionRef
from blog_images_tui.publish import Publisher
from blog_images_tui.webplan import PublishSettings

SECTION = SectionRef(53, 1)
SMALL = PublishSettings(widths=(64, 128))
PROMPT = 'STYLE: flat vector. SUBJECT: a "lighthouse" <b>at</b> dawn & dusk. Waves below.'


def make_image(width: int = 320, height: int = 180, *, mode: str = "RGB", transparent: bool = False,
               icc: bytes | None = None, fmt: str = "PNG") -> bytes:
    """A small picture with shapes and gradients (encoders see real content, not a flat fill)."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse([width // 8, height // 8, width // 2, height // 2], fill=(200, 40, 40))
    draw.rectangle([width // 2, height // 3, width - 10, height - 10], fill=(20, 90, 200))
    if mode == "RGBA":
        image = image.convert("RGBA")
        if transparent:
            alpha = Image.new("L", (width, height), 255)
            ImageDraw.Draw(alpha).rectangle([0, 0, width // 3, height], fill=0)
            image.putalpha(alpha)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"icc_profile": icc} if icc else {}))
    return buffer.getvalue()


def stored(store, filename="hero", data=None, **meta):
    data = data or make_image()
    metadata = {"post_id": SECTION.post_id, "section_id": SECTION.section_id, "prompt": PROMPT,
                "output_format": "png", **meta}
    return store.save(SECTION, filename, "png", data, metadata)


def publish(store, filename="hero", settings=SMALL, **kwargs):
    async def go():
        async with Publisher(store) as publisher:
            return await publisher.publish(SECTION, filename, settings, **kwargs)
    return asyncio.run(go())


def web_files(store) -> dict[str, bytes]:
    rel = layout.web_dir(SECTION)
    return {entry.name: store.read_bytes(f"{rel}/{entry.name}") for entry in store.list_files(rel)}


class PictureParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse_html(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = PictureParser()
    parser.feed(html)
    parser.close()
    return parser.tags


def srcset_widths(srcset: str) -> list[tuple[str, int]]:
    out = []
    for candidate in srcset.split(", "):
        url, descriptor = candidate.rsplit(" ", 1)
        assert descriptor.endswith("w")
        out.append((url, int(descriptor[:-1])))
    return out
