"""Find, and where it is safe repair, what failed or interrupted runs leave behind.

:func:`examine` walks a store one level at a time (the posts, each post's
sections, one listing of each section's ``raw/`` folder) and reports:

- an image without its metadata (the pair was interrupted; the metadata may
  be waiting in the recovery folder), paired by exact name only;
- images sharing one stem (``hero.png`` and ``hero.jpg``, or ``Hero.png``):
  one metadata file cannot describe both;
- an empty or undecodable image (never the copy to keep);
- metadata without its image;
- metadata that cannot be read (not JSON, or not a JSON object);
- leftover temp files and write probes (``.blog-images-tmp-*``,
  ``.blog-images-write-check-*``) from a process killed mid-write;
- images waiting in the local recovery folder for this store, and recovery
  folders that cannot be used (no note, or a note that does not parse);
- in a section's ``web/`` (see :mod:`blog_images_tui.publish`): derivatives
  of an image that has no manifest (a publish cut short), a manifest naming
  files that are not there, a manifest that cannot be read.

:func:`repair` finishes the waiting uploads (:func:`recovery.finish_recovery`)
and removes leftover temp files older than a safe age, unless one holds a
complete image (then it is kept and reported). Nothing else is ever
deleted: an image without metadata may still be wanted, so it is reported
with what a person can do about it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from blog_images_tui import layout
from blog_images_tui.errors import BlogImagesError, StoreUnusable
from blog_images_tui.ids import SectionRef
from blog_images_tui.imageformat import NotAnImage, check_image
from blog_images_tui.plugins import scheme_of
from blog_images_tui.recovery import TARGET_FILE, PendingRecovery, finish_recovery, list_pending, recovery_root
from blog_images_tui.secrets import redact
from blog_images_tui.storage import FileEntry, Store, error_summary

#: Temp files younger than this may belong to a write in progress (another process, a slow disk).
SAFE_TEMP_AGE_S = 3600.0
TEMP_MARKERS = (".blog-images-tmp-", ".blog-images-write-check-")
#: metadata files read at once (S3 reads are network round trips)
READ_CONCURRENCY = 8


class Problem(StrEnum):
    IMAGE_WITHOUT_METADATA = "image without metadata"
    METADATA_WITHOUT_IMAGE = "metadata without image"
    UNREADABLE_METADATA = "unreadable metadata"
    LEFTOVER_TEMP_FILE = "leftover temp file"
    WAITING_RECOVERY = "waiting in the recovery folder"
    UNUSABLE_RECOVERY = "unusable recovery folder"
    DERIVATIVES_WITHOUT_MANIFEST = "web derivatives without a manifest"
    MANIFEST_NAMES_MISSING_FILES = "manifest naming missing files"
    UNREADABLE_MANIFEST = "unreadable manifest"
    SHARED_STEM = "images sharing one stem"
    DAMAGED_IMAGE = "empty or undecodable image"


@dataclass
class Finding:
    """One problem: where it is, what it is, and what ``--fix`` did about it."""

    problem: Problem
    where: str  # full local path, s3:// URL, or recovery folder
    detail: str = ""
    section: SectionRef | None = None
    relative: str | None = None  # store-relative path, for store findings
    age_s: float | None = None
    pending: PendingRecovery | None = field(default=None, repr=False, compare=False)
    fixed: bool = False
    note: str = ""  # what was done, or why it was left

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem": self.problem.value, "path": self.where, "detail": self.detail,
            "post_id": self.section.post_id if self.section else None,
            "section_id": self.section.section_id if self.section else None,
            "age_s": None if self.age_s is None else round(self.age_s, 1),
            "fixed": self.fixed, "note": self.note,
        }


@dataclass
class Checkup:
    """What :func:`examine` saw in one store (and :func:`repair` did)."""

    store: str
    posts: int = 0
    sections: int = 0
    images: int = 0
    findings: list[Finding] = field(default_factory=list)
    #: recoveries waiting for other stores (see ``blog-images recover --list``)
    other_pending: int = 0

    @property
    def remaining(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.fixed]

    @property
    def healthy(self) -> bool:
        return not self.remaining

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.healthy, "store": self.store, "posts": self.posts, "sections": self.sections,
                "images": self.images, "findings": [finding.to_dict() for finding in self.findings],
                "fixed": sum(finding.fixed for finding in self.findings), "remaining": len(self.remaining),
                "other_pending": self.other_pending, "recovery_dir": str(recovery_root())}


def _is_temp(name: str) -> bool:
    return name.startswith(TEMP_MARKERS)


def _age(entry: FileEntry, now: float) -> float | None:
    return None if entry.modified is None else max(0.0, now - entry.modified)


def _metadata_problem(store: Store, relative: str) -> str | None:
    """Why the metadata at ``relative`` cannot be used, or None if it reads as a JSON object."""
    try:
        data = json.loads(store.read_bytes(relative))
    except FileNotFoundError:
        return None  # deleted meanwhile: nothing to say
    except BlogImagesError as error:
        return redact(error.message)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"not valid JSON ({error_summary(error)})"
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    return None


def pending_for(store: Store, pending: list[PendingRecovery] | None = None) -> tuple[list[PendingRecovery], int]:
    """Waiting recoveries for ``store`` (by URL as typed or absolute) and how many wait for others."""
    pending = list_pending() if pending is None else pending
    names = {store.url, store.location}
    mine = [item for item in pending if item.store_url in names]  # PendingRecovery.is_for, on a Store
    return mine, len(pending) - len(mine)


def _unusable_recovery_folders(pending: list[PendingRecovery]) -> list[Finding]:
    root = recovery_root()
    if not root.is_dir():
        return []
    usable = {item.folder for item in pending}
    findings = []
    for folder in sorted(path for path in root.iterdir() if path.is_dir() and path not in usable):
        files = sorted(child.name for child in folder.iterdir())
        why = "no note of where it was going" if TARGET_FILE not in files else "its note cannot be read"
        holds = ", ".join(files) or "nothing"
        findings.append(Finding(Problem.UNUSABLE_RECOVERY, str(folder), f"{why}; holds: {holds}",
                                note="look at it by hand: it may hold a paid-for image"))
    return findings


def _image_damage(store: Store, relative: str, entry: FileEntry) -> str | None:
    """Why the image at ``relative`` is not a usable copy (empty, truncated, undecodable), or None."""
    if entry.size_bytes == 0:
        return "the file is empty"
    try:
        check_image(store.read_bytes(relative))
    except NotAnImage as error:
        return str(error)
    except (FileNotFoundError, BlogImagesError):
        return None
    return None


def _holds_complete_image(store: Store, relative: str) -> bool:
    try:
        check_image(store.read_bytes(relative))
    except (NotAnImage, FileNotFoundError, BlogImagesError):
        return False
    return True


def _check_exists(store: Store) -> None:
    """A mistyped store would look empty and healthy: say it does not exist instead."""
    if store.exists(""):
        return
    # An object store's prefix holding no objects yet does not "exist"; its bucket must.
    top = store.root.strip("/").split("/", 1)[0]
    if scheme_of(store.location) not in ("", "file", "local") and top and store.fs.exists(top):
        return
    raise StoreUnusable(f"store {store.url} does not exist", hint="check the URL; doctor only reads it")


def _examine_web(store: Store, section: SectionRef, now: float,
                 ) -> tuple[list[Finding], list[tuple[SectionRef, str, set[str]]]]:
    """One listing of a section's ``web/``: temp files, derivatives with no manifest, manifests to read."""
    from blog_images_tui.webplan import DERIVATIVE_NAME

    web = layout.web_dir(section)
    files = {entry.name: entry for entry in store.list_files(web)}
    findings = []
    published = {name[: -len(layout.WEB_MANIFEST_SUFFIX)] for name in files
                 if name.endswith(layout.WEB_MANIFEST_SUFFIX)}
    orphans: dict[str, list[str]] = {}
    for name, entry in sorted(files.items()):
        if _is_temp(name):
            findings.append(Finding(Problem.LEFTOVER_TEMP_FILE, store.display_path(f"{web}/{name}"),
                                    "left by a write that never finished", section=section,
                                    relative=f"{web}/{name}", age_s=_age(entry, now)))
            continue
        match = DERIVATIVE_NAME.fullmatch(name)
        if match and match["stem"] not in published:
            orphans.setdefault(match["stem"], []).append(name)
    for stem, names in sorted(orphans.items()):
        findings.append(Finding(Problem.DERIVATIVES_WITHOUT_MANIFEST, store.display_path(f"{web}/{names[0]}"),
                                f"{len(names)} file(s) of {stem} and no manifest "
                                f"({stem}{layout.WEB_MANIFEST_SUFFIX}): a publish was cut short",
                                section=section, relative=f"{web}/{names[0]}",
                                note=f"finish it: blog-images publish {section.post_id} {section.section_id} {stem}"))
    manifests = [(section, f"{web}/{stem}{layout.WEB_MANIFEST_SUFFIX}", set(files)) for stem in sorted(published)]
    return findings, manifests


def _manifest_problem(store: Store, relative: str, present: set[str]) -> tuple[Problem, str] | None:
    """What is wrong with a manifest: unreadable, or naming files not in its folder."""
    try:
        manifest = json.loads(store.read_bytes(relative))
        names = [entry["path"].rsplit("/", 1)[-1] for entry in manifest["derivatives"]]
    except FileNotFoundError:
        return None
    except BlogImagesError as error:
        return Problem.UNREADABLE_MANIFEST, redact(error.message)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
        return Problem.UNREADABLE_MANIFEST, f"not a manifest ({type(error).__name__}: {error_summary(error)})"
    missing = [name for name in names if name not in present]
    if not missing:
        return None
    return (Problem.MANIFEST_NAMES_MISSING_FILES,
            f"{len(missing)} file(s) it names are missing: {', '.join(missing[:5])}"
            + (" ..." if len(missing) > 5 else ""))


def examine(store: Store, *, now: float | None = None,
            on_section: Callable[[SectionRef], None] | None = None) -> Checkup:
    """Walk ``store`` one level at a time and return every problem found (nothing is changed).

    Raises :class:`StoreUnusable` if the store does not exist or cannot be listed.
    """
    now = time.time() if now is None else now
    _check_exists(store)
    checkup = Checkup(store=store.location)
    every_pending = list_pending()
    mine, checkup.other_pending = pending_for(store, every_pending)
    waiting = {(item.section, item.filename) for item in mine}

    for entry in store.list_files(layout.POSTS_DIR):
        if _is_temp(entry.name):
            relative = f"{layout.POSTS_DIR}/{entry.name}"
            checkup.findings.append(Finding(Problem.LEFTOVER_TEMP_FILE, store.display_path(relative),
                                            "a write probe", relative=relative, age_s=_age(entry, now)))
    to_read: list[tuple[SectionRef, str]] = []
    manifests: list[tuple[SectionRef, str, set[str]]] = []
    for post in store.list_posts():
        checkup.posts += 1
        for section_id in store.list_sections(post):
            section = SectionRef(post, section_id)
            checkup.sections += 1
            if on_section is not None:
                on_section(section)
            raw = layout.raw_dir(section)
            files = {entry.name: entry for entry in store.list_files(raw)}
            images: dict[str, str] = {}  # image name -> stem
            for name, entry in files.items():
                stem, dot, ext = name.rpartition(".")
                if _is_temp(name):
                    checkup.findings.append(Finding(
                        Problem.LEFTOVER_TEMP_FILE, store.display_path(f"{raw}/{name}"),
                        "left by a write that never finished", section=section, relative=f"{raw}/{name}",
                        age_s=_age(entry, now)))
                elif dot and not name.startswith(".") and ext.lower() in layout.EXTENSION_FORMATS:
                    images[name] = stem
            checkup.images += len(images)
            by_stem: dict[str, list[str]] = {}
            for name, stem in images.items():
                by_stem.setdefault(stem.lower(), []).append(name)
            for names in by_stem.values():
                if len(names) > 1:
                    for name in sorted(names):
                        checkup.findings.append(Finding(
                            Problem.SHARED_STEM, store.display_path(f"{raw}/{name}"),
                            f"{', '.join(sorted(names))} share one name: one metadata file cannot describe both",
                            section=section, relative=f"{raw}/{name}",
                            note="rename all but one by hand (with its metadata); nothing is deleted"))
            for name, stem in sorted(images.items()):
                if files[name].size_bytes == 0 or layout.metadata_name(stem) not in files:
                    damage = _image_damage(store, f"{raw}/{name}", files[name])
                    if damage:
                        checkup.findings.append(Finding(Problem.DAMAGED_IMAGE, store.display_path(f"{raw}/{name}"),
                                                        damage, section=section, relative=f"{raw}/{name}",
                                                        note="not a usable copy: regenerate it, or delete it"))
                        continue
                if layout.metadata_name(stem) not in files:
                    detail = ("its metadata waits in the recovery folder" if (section, stem) in waiting
                              else "the pair was interrupted before its metadata was written")
                    checkup.findings.append(Finding(Problem.IMAGE_WITHOUT_METADATA,
                                                    store.display_path(f"{raw}/{name}"), detail,
                                                    section=section, relative=f"{raw}/{name}"))
            stems = set(images.values())
            for name in sorted(files):
                if not name.endswith(layout.METADATA_SUFFIX) or _is_temp(name):
                    continue
                stem = name[: -len(layout.METADATA_SUFFIX)]
                if stem not in stems:
                    checkup.findings.append(Finding(Problem.METADATA_WITHOUT_IMAGE,
                                                    store.display_path(f"{raw}/{name}"),
                                                    "its image is missing", section=section,
                                                    relative=f"{raw}/{name}"))
                to_read.append((section, f"{raw}/{name}"))
            web_findings, web_manifests = _examine_web(store, section, now)
            checkup.findings.extend(web_findings)
            manifests.extend(web_manifests)

    # Reading every metadata file is the slow part on S3: a few at a time.
    with ThreadPoolExecutor(max_workers=READ_CONCURRENCY) as pool:
        problems = list(pool.map(lambda item: _metadata_problem(store, item[1]), to_read))
        manifest_problems = list(pool.map(lambda item: _manifest_problem(store, item[1], item[2]), manifests))
    for (section, relative), why in zip(to_read, problems, strict=True):
        if why:
            checkup.findings.append(Finding(Problem.UNREADABLE_METADATA, store.display_path(relative), why,
                                            section=section, relative=relative))
    for (section, relative, _names), found in zip(manifests, manifest_problems, strict=True):
        if found:
            checkup.findings.append(Finding(found[0], store.display_path(relative), found[1],
                                            section=section, relative=relative))

    for item in mine:
        checkup.findings.append(Finding(
            Problem.WAITING_RECOVERY, str(item.folder),
            f"{item.section}, {layout.image_name(item.filename, item.output_format)}: {item.reason}".rstrip(": "),
            section=item.section, pending=item))
    checkup.findings.extend(_unusable_recovery_folders(every_pending))
    return checkup


def repair(store: Store, checkup: Checkup, *, min_temp_age_s: float = SAFE_TEMP_AGE_S) -> Checkup:
    """Fix what is safe to fix; every finding gets a note of what was done or why it was left."""
    finished: set[tuple[SectionRef, str]] = set()
    for finding in checkup.findings:
        if finding.problem is Problem.WAITING_RECOVERY and finding.pending is not None:
            try:
                stored = finish_recovery(finding.pending, store)
            except (BlogImagesError, OSError, ValueError) as error:
                text = str(error) if isinstance(error, BlogImagesError) else error_summary(error)
                finding.note = f"could not finish: {redact(text)}"
                continue
            finding.fixed, finding.note = True, f"stored {stored.image_path}"
            if stored.filename == finding.pending.filename:
                finished.add((finding.pending.section, finding.pending.filename))
            else:
                finding.note += " (under a new name: another image had taken the old one)"
    for finding in checkup.findings:
        if finding.fixed:
            continue
        if finding.problem is Problem.LEFTOVER_TEMP_FILE and finding.relative is not None:
            if finding.age_s is None or finding.age_s < min_temp_age_s:
                finding.note = (f"younger than {min_temp_age_s:g} s: may belong to a write in progress; "
                                "left alone")
                continue
            # A derivative in web/ is made again from raw/ by publishing: never the only copy of anything.
            in_web = finding.section is not None and finding.relative.startswith(layout.web_dir(finding.section) + "/")
            if not in_web and _holds_complete_image(store, finding.relative):
                finding.note = ("holds a complete image (perhaps the only copy of a paid-for one): kept; "
                                "move it in place by hand if its image is missing")
                continue
            try:
                store.remove_file(finding.relative)
            except BlogImagesError as error:
                finding.note = f"could not remove: {redact(error.message)}"
                continue
            finding.fixed, finding.note = True, "removed"
        elif finding.problem is Problem.IMAGE_WITHOUT_METADATA:
            stem = Path(finding.relative or "").stem
            if (finding.section, stem) in finished:
                finding.fixed, finding.note = True, "metadata restored from the recovery folder"
            elif not finding.note:
                finding.note = "no metadata is known for it: keep it as is, regenerate it, or delete it"
        elif finding.problem is Problem.METADATA_WITHOUT_IMAGE:
            finding.note = finding.note or "the image is gone: regenerate it, or delete the metadata"
        elif finding.problem in (Problem.UNREADABLE_METADATA, Problem.UNREADABLE_MANIFEST):
            finding.note = finding.note or "fix or delete the file by hand"
        elif finding.problem is Problem.MANIFEST_NAMES_MISSING_FILES:
            finding.note = finding.note or ("publish the image again: the missing files are made and the "
                                            "manifest rewritten")
    return checkup
