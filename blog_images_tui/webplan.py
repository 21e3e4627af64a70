"""What publishing an image makes: the settings, the files they call for, and their names.

Pure planning, no I/O and no pixels: from a source's facts (size,
transparency) and :class:`PublishSettings` to the list of derivatives, each
with a name that carries a hash of everything that shapes its bytes (the
source's sha256, format, width, height, quality, encoder versions and recipe),
so a name changes whenever the bytes would and a CDN can cache it forever.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from blog_images_tui.encoding import DEFAULT_QUALITY, FORMATS, MODERN_FORMATS, SourceFacts
from blog_images_tui.errors import BadInput
from blog_images_tui.markup import default_sizes

if TYPE_CHECKING:
    from blog_images_tui.storage import Store

DEFAULT_WIDTHS = (480, 960, 1600)
DEFAULT_FORMATS = ("avif", "webp")
MIN_WIDTH, MAX_WIDTH, MAX_WIDTHS = 16, 8192, 12
MAX_SIZES_LENGTH = 500
NAME_HASH_LENGTH = 12
#: a derivative's file name: {stem}-{width}w-{hash}.{ext}
DERIVATIVE_NAME = re.compile(r"(?P<stem>[A-Za-z0-9][A-Za-z0-9_-]*)-(?P<width>[0-9]+)w-"
                             rf"(?P<hash>[0-9a-f]{{{NAME_HASH_LENGTH}}})\.(?P<ext>avif|webp|jpg|png)")


@dataclass(frozen=True)
class PublishSettings:
    """How to publish: widths, formats, the ``<img>`` fallback, qualities and ``sizes``.

    ``fallback`` None means the last of ``formats`` (so no file is made that
    was not asked for); ``sizes`` None means :func:`markup.default_sizes`.
    """

    widths: tuple[int, ...] = DEFAULT_WIDTHS
    formats: tuple[str, ...] = DEFAULT_FORMATS
    fallback: str | None = None
    quality: tuple[tuple[str, int], ...] = ()  # overrides of DEFAULT_QUALITY
    sizes: str | None = None

    def validated(self) -> PublishSettings:
        """These settings checked; :class:`BadInput` naming the first problem."""
        if not self.widths:
            raise BadInput("--widths needs at least one width")
        if len(self.widths) > MAX_WIDTHS:
            raise BadInput(f"--widths takes at most {MAX_WIDTHS} widths")
        for width in self.widths:
            if isinstance(width, bool) or not isinstance(width, int) or not MIN_WIDTH <= width <= MAX_WIDTH:
                raise BadInput(f"invalid width {width!r}: use whole pixels from {MIN_WIDTH} to {MAX_WIDTH}")
        if not self.formats:
            raise BadInput("--formats needs at least one format")
        for fmt in (*self.formats, *(f for f, _ in self.quality), *([self.fallback] if self.fallback else [])):
            if fmt not in FORMATS:
                raise BadInput(f"unknown format {fmt!r}: use {', '.join(FORMATS)}")
        if len(set(self.formats)) != len(self.formats):
            raise BadInput("--formats names a format twice")
        for fmt, value in self.quality:
            if not FORMATS[fmt].lossy:
                raise BadInput(f"{fmt} takes no quality (it is lossless)")
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
                raise BadInput(f"invalid quality {value!r} for {fmt}: use 1 to 100")
        if self.sizes is not None:
            if not self.sizes.strip() or len(self.sizes) > MAX_SIZES_LENGTH or re.search(r"[\x00-\x1f\x7f]",
                                                                                          self.sizes):
                raise BadInput(f"invalid --sizes: one line of at most {MAX_SIZES_LENGTH} characters, "
                               "like '(max-width: 960px) 100vw, 960px'")
        quality = dict(self.quality)
        return PublishSettings(tuple(sorted(set(self.widths))), tuple(self.formats), self.fallback,
                               tuple(sorted(quality.items())), self.sizes.strip() if self.sizes else None)

    @property
    def fallback_format(self) -> str:
        return self.fallback or self.formats[-1]

    def quality_of(self, fmt: str) -> int | None:
        if not FORMATS[fmt].lossy:
            return None
        return dict(self.quality).get(fmt, DEFAULT_QUALITY[fmt])

    def to_dict(self) -> dict[str, Any]:
        return {"widths": list(self.widths), "formats": list(self.formats), "fallback": self.fallback,
                "quality": dict(self.quality), "sizes": self.sizes}


def resolve_settings(store: Store | None = None, *, widths: tuple[int, ...] | None = None,
                     formats: tuple[str, ...] | None = None, fallback: str | None = None,
                     quality: dict[str, int] | None = None,
                     sizes: str | None = None) -> PublishSettings:
    """Settings from the arguments given, then the config files' ``[publish]`` tables, then the defaults.

    The arguments are checked first, so a bad one is named as given (not as a config file's).
    """
    from blog_images_tui.config import load_config

    given: dict[str, Any] = {key: value for key, value in
                             (("widths", widths), ("formats", formats), ("fallback", fallback), ("sizes", sizes))
                             if value is not None}
    quality = dict(quality or {})
    PublishSettings(**given, quality=tuple(quality.items())).validated()
    config = load_config(store)
    merged = {**config.publish, **given, "quality": {**config.publish.get("quality", {}), **quality}}
    return settings_from_table(merged, config.publish_source)


def parse_widths(text: str) -> tuple[int, ...]:
    """``"480,960,1600"`` -> ``(480, 960, 1600)``; :class:`BadInput` otherwise."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise BadInput(f"invalid --widths {text!r}: use pixel widths like 480,960,1600") from None


def parse_formats(text: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in text.split(",") if part.strip())


def parse_quality(items: list[str]) -> tuple[tuple[str, int], ...]:
    """``["avif=50", "webp=75"]`` -> pairs; :class:`BadInput` for anything else."""
    pairs = []
    for item in items:
        fmt, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise BadInput(f"invalid --quality {item!r}: use FORMAT=N, like avif=50")
        pairs.append((fmt.strip().lower(), int(value)))
    return tuple(pairs)


def settings_from_table(table: dict[str, Any], source: str) -> PublishSettings:
    """A config file's ``[publish]`` table as settings; :class:`BadInput` naming the file and key."""
    known = {"widths", "formats", "fallback", "quality", "sizes"}
    unknown = set(table) - known
    if unknown:
        raise BadInput(f"{source}: unknown key(s) in [publish]: {', '.join(sorted(unknown))} "
                       f"(known: {', '.join(sorted(known))})")
    try:
        widths = table.get("widths", DEFAULT_WIDTHS)
        formats = table.get("formats", DEFAULT_FORMATS)
        quality = table.get("quality", {})
        if not isinstance(widths, (list, tuple)) or not isinstance(formats, (list, tuple)) \
                or not isinstance(quality, dict) or not all(isinstance(f, str) for f in formats):
            raise BadInput("widths and formats are lists, quality a table like { avif = 50 }")
        for key in ("fallback", "sizes"):
            if key in table and not isinstance(table[key], str):
                raise BadInput(f"{key} must be a string")
        return PublishSettings(tuple(widths), tuple(f.lower() for f in formats), table.get("fallback"),
                               tuple((str(k).lower(), v) for k, v in quality.items()), table.get("sizes")
                               ).validated()
    except BadInput as error:
        raise BadInput(f"{source}: [publish]: {error.message}") from None


@dataclass(frozen=True)
class Derivative:
    """One planned web file: what it is and what it is called."""

    format: str
    width: int
    height: int
    quality: int | None
    name: str

    @property
    def content_type(self) -> str:
        return FORMATS[self.format].content_type


@dataclass(frozen=True)
class Plan:
    """Every file one publish makes, in encoding order, and what a reader should know."""

    derivatives: tuple[Derivative, ...]
    fallback_format: str
    source_formats: tuple[str, ...]  # the <source> formats, AVIF before WebP
    notes: tuple[str, ...] = field(default=())


def target_widths(source_width: int, wanted: tuple[int, ...]) -> list[int]:
    """The wanted widths that do not upscale; the source width once if every one would."""
    kept = sorted({width for width in wanted if width <= source_width})
    return kept or [source_width]


def derivative_name(stem: str, source_sha256: str, fmt: str, width: int, height: int, quality: int | None,
                    encoder: str) -> str:
    key = json.dumps({"source": source_sha256, "format": fmt, "width": width, "height": height,
                      "quality": quality, "encoder": encoder}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:NAME_HASH_LENGTH]
    return f"{stem}-{width}w-{digest}.{FORMATS[fmt].extension}"


def plan(stem: str, source_sha256: str, facts: SourceFacts, settings: PublishSettings, encoder: str) -> Plan:
    """The derivatives ``settings`` call for from this source (see the module docstring)."""
    notes = []
    fallback = settings.fallback_format
    formats = list(settings.formats)
    if facts.has_alpha:
        # A transparent image keeps its alpha: a format that cannot hold it is made as PNG.
        opaque_only = [fmt for fmt in dict.fromkeys((*formats, fallback)) if not FORMATS[fmt].keeps_alpha]
        for fmt in opaque_only:
            notes.append(f"the image is transparent and {fmt.upper()} cannot keep transparency: "
                         f"PNG is made instead{' (the fallback)' if fmt == fallback else ''}")
        formats = list(dict.fromkeys("png" if not FORMATS[fmt].keeps_alpha else fmt for fmt in formats))
        fallback = "png" if not FORMATS[fallback].keeps_alpha else fallback
    widths = target_widths(facts.width, settings.widths)
    skipped = [width for width in settings.widths if width > facts.width]
    if skipped:
        alone = facts.width not in settings.widths and widths == [facts.width]
        used = "; the source's own width is used" if alone else ""
        notes.append(f"width(s) {', '.join(map(str, skipped))} are wider than the {facts.width}px source "
                     f"and are not made (never upscaled){used}")
    # One <source> per other format: the modern ones best first, then the rest as given.
    others = [fmt for fmt in formats if fmt != fallback]
    sources = tuple(sorted(others, key=lambda fmt: (MODERN_FORMATS.index(fmt) if fmt in MODERN_FORMATS
                                                    else len(MODERN_FORMATS), others.index(fmt))))
    derivatives = []
    for width in widths:
        height = max(1, round(width * facts.height / facts.width))
        for fmt in (*sources, fallback):
            quality = settings.quality_of(fmt)
            derivatives.append(Derivative(fmt, width, height, quality,
                                          derivative_name(stem, source_sha256, fmt, width, height, quality,
                                                          encoder)))
    return Plan(tuple(derivatives), fallback, sources, tuple(notes))


def resolved_sizes(settings: PublishSettings, derivatives: tuple[Derivative, ...]) -> str:
    return settings.sizes or default_sizes(max(d.width for d in derivatives))
