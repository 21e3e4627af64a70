"""The snippets a published image is pasted with: a ``<picture>`` and a Markdown image.

Pure string work, no I/O. The HTML follows what static-site tools (Eleventy
Image, Hugo) produce and avoids their known trap: every width-described
``srcset`` carries a ``sizes`` (a ``srcset`` with ``w`` descriptors and no
``sizes`` is invalid HTML). Every attribute value is HTML-escaped, so text
from a prompt (``"``, ``<``, ``&``...) can never break out of the markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import quote

#: alt text derived from a prompt is cut near this many characters (screen readers read it whole)
DERIVED_ALT_LENGTH = 125
#: what a person may set as alt text
MAX_ALT_LENGTH = 1000

# Template prompts look like "STYLE: flat vector. SUBJECT: a lighthouse.": the subject is the alt.
_LABELLED = re.compile(r"\b(?:SUBJECT|SCENE|CONTENT)\s*:\s*(?P<text>[^\n]+?)(?=\s+[A-Z][A-Z ]{2,}:|$)")
_LABEL = re.compile(r"^[A-Z][A-Z ]{2,}:\s*")
#: characters kept as they are in a URL (a space or a ``<``/``>`` is percent-encoded)
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Candidate:
    """One file of a ``srcset``: its URL and its width in pixels."""

    url: str
    width: int


@dataclass(frozen=True)
class PictureSource:
    """One ``<source>``: a format (MIME type) and its files, narrowest first."""

    content_type: str
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class Fallback:
    """The ``<img>``: its files, and the intrinsic size of its largest one."""

    candidates: tuple[Candidate, ...]
    width: int
    height: int


def srcset_url(url: str) -> str:
    """``url`` safe inside a ``srcset``: spaces and commas would split a candidate."""
    return quote(url, safe=_URL_SAFE.replace(",", ""))


def srcset(candidates: tuple[Candidate, ...]) -> str:
    return ", ".join(f"{srcset_url(candidate.url)} {candidate.width}w" for candidate in candidates)


def default_sizes(widest: int) -> str:
    """Full width of the viewport, never more than the widest file."""
    return f"(max-width: {widest}px) 100vw, {widest}px"


def _attrs(**values: str | int) -> str:
    return " ".join(f'{name.replace("_", "-")}="{html.escape(str(value), quote=True)}"'
                    for name, value in values.items())


def picture_html(sources: list[PictureSource], fallback: Fallback, *, sizes: str, alt: str) -> str:
    """A ``<picture>``: one ``<source>`` per modern format in the given order, then the ``<img>``.

    The ``<img>`` names its widest file in ``src`` (what browsers without
    ``srcset`` load), lists every width in ``srcset`` with ``sizes``, and
    carries ``width``/``height`` (no layout shift), ``loading="lazy"``,
    ``decoding="async"`` and ``alt``.
    """
    if not fallback.candidates:
        raise ValueError("a picture needs at least one fallback file")
    lines = ["<picture>"]
    for source in sources:
        lines.append(f"  <source {_attrs(type=source.content_type, srcset=srcset(source.candidates), sizes=sizes)}>")
    widest = max(fallback.candidates, key=lambda candidate: candidate.width)
    img = _attrs(src=srcset_url(widest.url), srcset=srcset(fallback.candidates), sizes=sizes,
                 width=fallback.width, height=fallback.height, alt=alt, loading="lazy", decoding="async")
    lines.append(f"  <img {img}>")
    lines.append("</picture>")
    return "\n".join(lines)


def markdown_image(url: str, alt: str) -> str:
    """``![alt](url)``: the alt's Markdown and HTML punctuation escaped, the URL kept in one piece."""
    text = re.sub(r"([\\\[\]<>`*_])", r"\\\1", " ".join(alt.split()))
    # Parentheses and spaces percent-encoded: the URL cannot end the link early in any renderer.
    return f"![{text}]({quote(url, safe=_URL_SAFE.replace('(', '').replace(')', ''))})"


def derive_alt(prompt: str) -> str:
    """A short alt text from an image's prompt, for a person to review.

    Takes a template's SUBJECT when there is one, else the first sentence, and
    cuts it at a word near :data:`DERIVED_ALT_LENGTH` characters.
    """
    text = " ".join(_CONTROL.sub(" ", prompt).split())
    labelled = _LABELLED.search(text)
    if labelled:
        text = labelled.group("text")
    text = _LABEL.sub("", text)
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    text = first.rstrip(" .") or text
    if len(text) > DERIVED_ALT_LENGTH:
        cut = text[:DERIVED_ALT_LENGTH].rsplit(" ", 1)[0] or text[:DERIVED_ALT_LENGTH]
        text = cut.rstrip(" ,;:-") + "…"
    return text[:1].upper() + text[1:]


def clean_alt(text: str) -> str:
    """Alt text as a person gave it, checked: one line, no control characters, not too long.

    Raises ``ValueError`` with the reason (the caller turns it into bad input).
    """
    if _CONTROL.search(text.replace("\n", " ").replace("\t", " ")):
        raise ValueError("alt text must not contain control characters")
    text = " ".join(text.split())
    if len(text) > MAX_ALT_LENGTH:
        raise ValueError(f"alt text is {len(text)} characters; at most {MAX_ALT_LENGTH}")
    return text
