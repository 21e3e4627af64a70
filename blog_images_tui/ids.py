"""Validation of post ids, section ids and filenames, by allowlist, before any I/O.

An id is a positive integer (kept as a JSON number in metadata, as the original
design did) or a slug ``[A-Za-z0-9][A-Za-z0-9_-]{0,99}``. Filenames follow the
same slug rule. Nothing else can reach a path: no separators, dots, NULs,
control characters or non-ASCII look-alikes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from blog_images_tui.errors import BadInput

SLUG_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
MAX_SLUG_LENGTH = 100

PostId = int | str


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"


def parse_id(value: object, *, what: str = "id") -> PostId:
    """Return a validated id: an ``int`` for digit strings, else the slug itself.

    Raises :class:`BadInput` with a one-line message for anything else.
    """
    if isinstance(value, bool):
        raise BadInput(f"invalid {what} {_describe(value)}: use a positive integer or a slug like 'intro-2'")
    if isinstance(value, int):
        if value <= 0:
            raise BadInput(f"invalid {what} {value}: must be a positive integer or a slug")
        if value >= 10**MAX_SLUG_LENGTH:  # more digits than the longest slug has characters
            raise BadInput(f"invalid {what}: a number of more than {MAX_SLUG_LENGTH} digits")
        return value
    if not isinstance(value, str) or not SLUG_PATTERN.fullmatch(value):
        raise BadInput(
            f"invalid {what} {_describe(value)}: use a positive integer or a slug "
            f"of letters, digits, '-' and '_' (max {MAX_SLUG_LENGTH}, starting with a letter or digit)"
        )
    if value.isdigit():
        number = int(value)
        if number <= 0:
            raise BadInput(f"invalid {what} {_describe(value)}: must be a positive integer or a slug")
        # "007" and "7" would be different folders for the same number: refuse.
        if str(number) != value:
            raise BadInput(f"invalid {what} {_describe(value)}: no leading zeros in numeric ids")
        return number
    return value


def parse_filename(value: object) -> str:
    """Return a validated base filename (no extension), or raise :class:`BadInput`."""
    if not isinstance(value, str) or not SLUG_PATTERN.fullmatch(value):
        raise BadInput(
            f"invalid filename {_describe(value)}: use letters, digits, '-' and '_' only "
            f"(max {MAX_SLUG_LENGTH}, no extension, no path)"
        )
    if value.lower().endswith("_metadata"):
        raise BadInput(f"invalid filename {_describe(value)}: the suffix '_metadata' is reserved")
    return value


@dataclass(frozen=True, order=True)
class SectionRef:
    """A validated (post, section) pair: the address of one ``raw/`` folder."""

    post_id: PostId
    section_id: PostId

    @classmethod
    def parse(cls, post_id: object, section_id: object) -> SectionRef:
        return cls(parse_id(post_id, what="post id"), parse_id(section_id, what="section id"))

    def __str__(self) -> str:
        return f"post {self.post_id} / section {self.section_id}"
