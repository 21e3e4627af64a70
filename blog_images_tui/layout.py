"""Where things live under a store root. Pure string work: no I/O.

    {root}/content/posts/{post_id}/sections/{section_id}/raw/{filename}.{ext}
    {root}/content/posts/{post_id}/sections/{section_id}/raw/{filename}_metadata.json
    {root}/content/posts/{post_id}/sections/{section_id}/web/{filename}-{width}w-{hash}.{avif,webp,jpg,png}
    {root}/content/posts/{post_id}/sections/{section_id}/web/{filename}_web.json
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from blog_images_tui.ids import PostId, SectionRef

POSTS_DIR = "content/posts"
METADATA_SUFFIX = "_metadata.json"
WEB_MANIFEST_SUFFIX = "_web.json"
IMAGE_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
EXTENSION_FORMATS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp"}
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "avif": "image/avif",
                 "json": "application/json"}


def sections_dir(post_id: PostId) -> str:
    return f"{POSTS_DIR}/{post_id}/sections"


def raw_dir(section: SectionRef) -> str:
    """Relative path of a section's ``raw/`` folder."""
    return f"{POSTS_DIR}/{section.post_id}/sections/{section.section_id}/raw"


def web_dir(section: SectionRef) -> str:
    """Relative path of a section's ``web/`` folder: published derivatives and their manifests."""
    return f"{POSTS_DIR}/{section.post_id}/sections/{section.section_id}/web"


def web_manifest_path(section: SectionRef, filename: str) -> str:
    return f"{web_dir(section)}/{filename}{WEB_MANIFEST_SUFFIX}"


def image_name(filename: str, output_format: str) -> str:
    return f"{filename}.{IMAGE_EXTENSIONS[output_format]}"


def metadata_name(filename: str) -> str:
    return f"{filename}{METADATA_SUFFIX}"


def stem_of(name: str) -> str:
    """The stem a file name takes: ``hero`` for ``hero.png``, ``Hero.JPG`` and ``hero_metadata.json``.

    Any other name (a folder, a symlink, a file with an unknown extension) takes
    everything before its last dot, or all of itself.
    """
    if name.lower().endswith(METADATA_SUFFIX):
        return name[: -len(METADATA_SUFFIX)]
    stem, dot, _ext = name.rpartition(".")
    return stem if dot and stem else name


def image_path(section: SectionRef, filename: str, output_format: str) -> str:
    return f"{raw_dir(section)}/{image_name(filename, output_format)}"


def metadata_path(section: SectionRef, filename: str) -> str:
    return f"{raw_dir(section)}/{metadata_name(filename)}"


def variant_filenames(filename: str, count: int) -> list[str]:
    """The names of ``count`` variants of one request: ``NAME`` alone, else ``NAME-1`` ... ``NAME-K``."""
    return [filename] if count == 1 else [f"{filename}-{index}" for index in range(1, count + 1)]


#: hex characters after the time in an automatic name
AUTO_NAME_SUFFIX = 12


def automatic_filename(suffix: str | None = None, now: datetime | None = None) -> str:
    """The one rule for a name nobody chose (CLI, app, batch, import): ``20261124T101500Z-3fa2c1d4e5f6``.

    UTC to the second, so names sort by time, then :data:`AUTO_NAME_SUFFIX`
    hex characters: a job's id start when there is a job (a re-run recognises
    its image from one listing), else random (48 bits; exclusive create
    catches the rest).
    """
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{suffix or secrets.token_hex(AUTO_NAME_SUFFIX // 2)}"


def timestamp_filename(now: datetime | None = None) -> str:
    """An automatic name without a job (one ``generate``, an import): see :func:`automatic_filename`."""
    return automatic_filename(None, now)


def job_filename(job_suffix: str, now: datetime | None = None) -> str:
    """An engine job's automatic name: see :func:`automatic_filename`."""
    return automatic_filename(job_suffix, now)
