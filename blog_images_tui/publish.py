"""Publish stored images for the web: derivatives in ``web/`` beside ``raw/``, a manifest, a snippet.

For one image (``{stem}`` in a section's ``raw/``):

1. its source is read and planned (:mod:`blog_images_tui.webplan`): the widths
   that do not upscale, the formats, names carrying a hash of what shapes
   their bytes;
2. the derivatives not yet in ``web/`` are encoded off the event loop
   (:class:`~blog_images_tui.encoderpool.EncoderPool`) and each is created
   exclusively through the Store, so no partial file is ever visible and
   nothing is overwritten (a name already there with valid bytes is reused:
   publishing again is idempotent, and a run cut short is completed by the
   next one);
3. the manifest ``web/{stem}_web.json`` (source, derivatives, alt, HTML and
   Markdown) is created, or replaced as a whole and conditionally when it
   changed; it is written last, so a manifest never names a missing file.

Only two things are ever replaced, and only here: the manifest and the
metadata's ``alt`` (:func:`set_alt`). Every replacement is conditional on the
version that was read (a rename locally, ``If-Match`` on S3), re-read and
re-applied on a conflict, so two writers never lose an update.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from blog_images_tui import __version__, layout
from blog_images_tui.encoderpool import EncoderPool
from blog_images_tui.encoding import FORMATS, Decoded, SourceFacts, encoder_id, verify
from blog_images_tui.errors import BadInput, BlogImagesError, StoreUnusable
from blog_images_tui.ids import SectionRef, parse_filename
from blog_images_tui.markup import (
    Candidate,
    Fallback,
    PictureSource,
    clean_alt,
    derive_alt,
    markdown_image,
    picture_html,
)
from blog_images_tui.storage import Store
from blog_images_tui.webplan import Derivative, Plan, PublishSettings, plan, resolved_sizes

MANIFEST_VERSION = 1
#: conditional replacements tried before giving up on a busy manifest or metadata
REPLACE_ATTEMPTS = 5

ProgressCallback = Callable[["PublishProgress"], None]


@dataclass(frozen=True)
class PublishProgress:
    """How far one image has got: ``done`` of ``total`` files, and the step."""

    section: SectionRef
    filename: str
    done: int
    total: int
    stage: str  # "planned" | "encoded" | "manifest" | "published"


@dataclass
class PublishResult:
    """What publishing one image did; ``manifest`` is what ``--json`` prints."""

    section: SectionRef
    filename: str
    manifest: dict[str, Any]
    manifest_path: str
    created: list[str] = field(default_factory=list)  # derivative names written by this run
    reused: list[str] = field(default_factory=list)  # already in web/ with the right bytes
    manifest_written: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created) or self.manifest_written

    @property
    def images(self) -> list[str]:
        return [entry["path"] for entry in self.manifest["derivatives"]]


@dataclass(frozen=True)
class AltResult:
    alt: str
    previous: str | None  # the metadata's alt this edit replaced (None: it had none)
    metadata_changed: bool
    manifest_changed: bool


# -- markup from a manifest's own fields ------------------------------------------------------
def build_markup(manifest: dict[str, Any]) -> tuple[str, str]:
    """The HTML and Markdown snippets of a manifest (its derivatives, formats, sizes and alt)."""
    settings = manifest["settings"]
    by_format: dict[str, list[Candidate]] = {}
    for entry in manifest["derivatives"]:
        by_format.setdefault(entry["format"], []).append(Candidate(entry["url"], entry["width"]))
    fallback_format = settings["fallback_format"]
    fallback_files = sorted(by_format[fallback_format], key=lambda c: c.width)
    widest = max((e for e in manifest["derivatives"] if e["format"] == fallback_format), key=lambda e: e["width"])
    sources = [PictureSource(FORMATS[fmt].content_type, tuple(sorted(by_format[fmt], key=lambda c: c.width)))
               for fmt in settings["source_formats"]]
    html = picture_html(sources, Fallback(tuple(fallback_files), widest["width"], widest["height"]),
                        sizes=settings["sizes"], alt=manifest["alt"])
    return html, markdown_image(widest["url"], manifest["alt"])


def alt_of(metadata: dict[str, Any]) -> tuple[str, str]:
    """(alt text, where it came from): the metadata's ``alt``, else derived from its prompt."""
    alt = metadata.get("alt")
    if isinstance(alt, str):
        return alt, "metadata"
    prompt = metadata.get("prompt")
    if isinstance(prompt, str) and prompt.strip():
        return derive_alt(prompt), "prompt"
    return "", "missing"


def with_alt(manifest: dict[str, Any], alt: str, alt_source: str) -> dict[str, Any]:
    updated = {**manifest, "alt": alt, "alt_source": alt_source}
    updated["html"], updated["markdown"] = build_markup(updated)
    return updated


def parse_alt(text: str) -> str:
    try:
        return clean_alt(text)
    except ValueError as error:
        raise BadInput(str(error)) from None


# -- the store side (blocking; called in a thread) ---------------------------------------------
def image_metadata(store: Store, section: SectionRef, filename: str) -> dict[str, Any]:
    """An image's metadata; :class:`BadInput` (exit 2) when there is no such image."""
    try:
        return store.read_metadata(section, filename)
    except FileNotFoundError:
        raise BadInput(f"no image {filename} in {section}",
                       hint=f"`blog-images ls {section.post_id} {section.section_id}` lists them") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise StoreUnusable(f"the metadata of {filename} in {section} is not valid JSON") from None


def set_alt(store: Store, section: SectionRef, filename: str, text: str) -> AltResult:
    """Set an image's alt text in its metadata, then in its manifest (if published).

    Blocking. Each file is replaced conditionally; the manifest takes the alt
    the metadata holds once it has been read, so the two always end up agreeing.
    """
    alt = parse_alt(text)
    filename = parse_filename(filename)
    image_metadata(store, section, filename)  # a clear "no such image" before any write
    meta_rel = layout.metadata_path(section, filename)
    before, _after = store.update_json(meta_rel, lambda meta: None if meta is None else {**meta, "alt": alt},
                                       attempts=REPLACE_ATTEMPTS)
    if before is None:
        raise BadInput(f"no image {filename} in {section}")
    previous = before.get("alt") if isinstance(before.get("alt"), str) else None
    manifest_changed = _refresh_manifest_alt(store, section, filename)
    return AltResult(alt, previous, previous != alt, manifest_changed)


def _refresh_manifest_alt(store: Store, section: SectionRef, filename: str) -> bool:
    def change(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
        if manifest is None:
            return None  # not published: nothing to update
        # Read after the manifest's version: a later alt edit re-runs this and wins.
        alt, source = alt_of(image_metadata(store, section, filename))
        if (manifest.get("alt"), manifest.get("alt_source")) == (alt, source):
            return None
        return with_alt(manifest, alt, source)

    before, after = store.update_json(layout.web_manifest_path(section, filename), change,
                                      attempts=REPLACE_ATTEMPTS)
    return after is not before


# -- publishing ------------------------------------------------------------------------------------
def _source_name(store: Store, section: SectionRef, filename: str, metadata: dict[str, Any]) -> str:
    fmt = metadata.get("output_format")
    if fmt in layout.IMAGE_EXTENSIONS:
        return layout.image_name(filename, fmt)
    for entry in store.list_images(section):  # older metadata without output_format
        if entry.filename == filename:
            return entry.image_name
    raise BadInput(f"no image file for {filename} in {section}")


class Publisher:
    """Publishes images of one store; holds the encoder pool for a run of many."""

    def __init__(self, store: Store, *, pool: EncoderPool | None = None,
                 on_progress: ProgressCallback | None = None) -> None:
        self.store = store
        self.pool = pool or EncoderPool()
        self._own_pool = pool is None
        self.on_progress = on_progress
        self.encoder = encoder_id()
        self._web_names: dict[SectionRef, asyncio.Future] = {}

    async def __aenter__(self) -> Publisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_pool:
            self.pool.close()

    def _progress(self, section: SectionRef, filename: str, done: int, total: int, stage: str) -> None:
        if self.on_progress is not None:
            self.on_progress(PublishProgress(section, filename, done, total, stage))

    async def _names_in_web(self, section: SectionRef) -> set[str]:
        # One listing of web/ per section per run, shared by that section's images.
        if section not in self._web_names:
            self._web_names[section] = asyncio.ensure_future(
                asyncio.to_thread(lambda: {f.name for f in self.store.list_files(layout.web_dir(section))}))
        return await asyncio.shield(self._web_names[section])

    async def publish(self, section: SectionRef, filename: str, settings: PublishSettings | None = None, *,
                      alt: str | None = None) -> PublishResult:
        """Publish one stored image (see the module docstring). Raises :class:`BlogImagesError`.

        Leaves one line in the local job ledger (operation ``publish``), whatever the outcome.
        """
        from blog_images_tui import ledger

        with ledger.publish_job(self.store, section, filename) as job:
            job.result = await self._publish(section, filename, settings, alt=alt)
        return job.result

    async def _publish(self, section: SectionRef, filename: str, settings: PublishSettings | None = None, *,
                       alt: str | None = None) -> PublishResult:
        settings = (settings or PublishSettings()).validated()
        filename = parse_filename(filename)
        if alt is not None:
            alt = parse_alt(alt)
        store = self.store
        metadata = await asyncio.to_thread(image_metadata, store, section, filename)
        if alt is not None and metadata.get("alt") != alt:
            await asyncio.to_thread(set_alt, store, section, filename, alt)
        source_name = await asyncio.to_thread(_source_name, store, section, filename, metadata)
        source_rel = f"{layout.raw_dir(section)}/{source_name}"
        manifest_rel = layout.web_manifest_path(section, filename)
        source, (existing, _version) = await asyncio.gather(
            asyncio.to_thread(store.read_bytes, source_rel), asyncio.to_thread(store.read_json_versioned, manifest_rel))
        previous = existing or {}
        sha256 = hashlib.sha256(source).hexdigest()
        facts, decoded = self._known_facts(previous, sha256), None
        if facts is None:
            try:
                facts, decoded = await self.pool.inspect(source)
            except ValueError as error:
                raise BadInput(f"cannot publish {source_name}: {error}") from None
        the_plan = plan(filename, sha256, facts, settings, self.encoder)
        total = len(the_plan.derivatives)
        self._progress(section, filename, 0, total, "planned")

        entries, created, reused = await self._derivatives(section, filename, source, decoded, facts, the_plan,
                                                           previous)
        sizes = resolved_sizes(settings, the_plan.derivatives)
        body = {
            "manifest_version": MANIFEST_VERSION,
            "post_id": section.post_id, "section_id": section.section_id, "name": filename,
            "source": {"name": source_name, "path": store.display_path(source_rel), "sha256": sha256,
                       "width": facts.width, "height": facts.height, "transparent": facts.has_alpha,
                       "icc_profile": facts.has_icc},
            "settings": {**settings.to_dict(), "sizes": sizes, "fallback_format": the_plan.fallback_format,
                         "source_formats": list(the_plan.source_formats)},
            "encoder": self.encoder,
            "derivatives": entries,
            "notes": list(the_plan.notes),
            "generator": f"blog-images {__version__}",
        }
        self._progress(section, filename, total, total, "manifest")

        def change(current: dict[str, Any] | None) -> dict[str, Any] | None:
            # The alt as the metadata holds it now (a concurrent `alt` edit is never undone).
            alt_text, alt_source = alt_of(image_metadata(store, section, filename))
            return with_alt(body, alt_text, alt_source)

        before, after = await asyncio.to_thread(store.update_json, manifest_rel, change, attempts=REPLACE_ATTEMPTS)
        assert after is not None
        self._progress(section, filename, total, total, "published")
        return PublishResult(section, filename, after, store.display_path(manifest_rel), created, reused,
                             manifest_written=after is not before)

    @staticmethod
    def _known_facts(previous: dict[str, Any], sha256: str) -> SourceFacts | None:
        """The source's facts from its manifest when the source is the same (no decode on a re-run)."""
        source = previous.get("source") or {}
        if source.get("sha256") != sha256:
            return None
        try:
            return SourceFacts(int(source["width"]), int(source["height"]), bool(source["transparent"]),
                               bool(source["icc_profile"]))
        except (KeyError, TypeError, ValueError):
            return None

    async def _derivatives(self, section: SectionRef, filename: str, source: bytes, decoded: Decoded | None,
                           facts: SourceFacts, the_plan: Plan, previous: dict[str, Any],
                           ) -> tuple[list[dict[str, Any]], list[str], list[str]]:
        store = self.store
        web = layout.web_dir(section)
        present = await self._names_in_web(section)
        known = {entry.get("path"): entry for entry in previous.get("derivatives") or []}
        entries: dict[str, dict[str, Any]] = {}
        to_check, to_make = [], []
        for derivative in the_plan.derivatives:
            rel = f"{web}/{derivative.name}"
            if derivative.name in present:
                entry = known.get(store.display_path(rel))
                if entry and entry.get("sha256") and entry.get("bytes"):
                    entries[derivative.name] = self._entry(derivative, rel, entry["bytes"], entry["sha256"])
                else:
                    to_check.append(derivative)  # left by a run cut short before its manifest
            else:
                to_make.append(derivative)
        reused = [d.name for d in the_plan.derivatives if d.name in entries]
        total, done = len(the_plan.derivatives), len(entries)

        for derivative in to_check:
            data = await asyncio.to_thread(store.read_bytes, f"{web}/{derivative.name}")
            if verify(data, derivative.format, derivative.width, derivative.height):
                entries[derivative.name] = self._entry(derivative, f"{web}/{derivative.name}", len(data),
                                                       hashlib.sha256(data).hexdigest())
                reused.append(derivative.name)
            else:
                raise StoreUnusable(f"{store.display_path(f'{web}/{derivative.name}')} is not the "
                                    f"{derivative.format.upper()} {derivative.width}x{derivative.height} "
                                    "its name promises", hint="remove it by hand, then publish again")
        done = len(entries)
        self._progress(section, filename, done, total, "encoded")
        created: list[str] = []
        if to_make:
            jobs = [(d.format, d.width, d.height, d.quality) for d in to_make]
            files = await self.pool.encode(source, jobs, facts.has_alpha, decoded)
            for derivative, data in zip(to_make, files, strict=True):
                rel = f"{web}/{derivative.name}"
                made = await asyncio.to_thread(self._create, rel, derivative, data)
                entries[derivative.name] = self._entry(derivative, rel, len(made), hashlib.sha256(made).hexdigest())
                (created if made is data else reused).append(derivative.name)
                done += 1
                self._progress(section, filename, done, total, "encoded")
        return [entries[d.name] for d in the_plan.derivatives], created, reused

    def _create(self, rel: str, derivative: Derivative, data: bytes) -> bytes:
        """Create one derivative exclusively; the bytes that are now under its name."""
        try:
            self.store.create(rel, data, derivative.content_type)
            return data
        except FileExistsError:
            # Another publisher made it meanwhile: the same name means the same recipe.
            existing = self.store.read_bytes(rel)
            if existing == data or verify(existing, derivative.format, derivative.width, derivative.height):
                return existing
            raise StoreUnusable(f"{self.store.display_path(rel)} is not the file its name promises",
                                hint="remove it by hand, then publish again") from None

    def _entry(self, derivative: Derivative, rel: str, size: int, sha256: str) -> dict[str, Any]:
        return {"path": self.store.display_path(rel), "url": self.store.public_url(rel),
                "format": derivative.format, "content_type": derivative.content_type,
                "width": derivative.width, "height": derivative.height, "bytes": size, "sha256": sha256}

    async def publish_many(self, items: list[tuple[SectionRef, str]], settings: PublishSettings | None = None,
                           ) -> list[PublishResult | BlogImagesError]:
        """Publish several images, a few at a time so the pool always has work; one result each, in order."""
        slots = asyncio.Semaphore(self.pool.workers + 1)

        async def one(section: SectionRef, filename: str) -> PublishResult | BlogImagesError:
            async with slots:
                try:
                    return await self.publish(section, filename, settings)
                except BlogImagesError as error:
                    return error

        try:
            return list(await asyncio.gather(*(one(section, name) for section, name in items)))
        finally:
            self._web_names.clear()


def publishable_images(store: Store, section: SectionRef) -> list[str]:
    """The stems with images in a section's ``raw/`` that have metadata (what a whole section publishes)."""
    return [entry.filename for entry in store.list_images(section) if entry.has_metadata]


def read_manifest(store: Store, section: SectionRef, filename: str) -> dict[str, Any] | None:
    """An image's manifest, or None if it was never published."""
    return store.read_json_versioned(layout.web_manifest_path(section, parse_filename(filename)))[0]
