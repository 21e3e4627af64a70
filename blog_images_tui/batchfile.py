"""Batch files: many image requests in JSON Lines, CSV or TOML, checked up front.

Every entry has the same fields, whatever the format:

==============  ==========================================================
``post_id``     required: positive integer or slug
``section_id``  required: positive integer or slug
``prompt``      the prompt, or else:
``template``    a template name, filled from ``vars`` (and ``var.NAME``)
``vars``        variables for the template (JSON object / TOML table)
``size``        optional, then ``model``, ``quality``, ``format``,
                ``background``, ``style``: default from the command line,
                then the config files, then the model
``filename``    optional file name without extension (default: time + job id)
``id``          optional explicit job id (default: a hash of the request)
``n``           optional variants from one request (1..10 per model), stored
                as ``NAME-1`` ... ``NAME-K``
``moderation``  optional ``auto`` or ``low`` (generations only)
``compression`` optional 0-100 (jpeg and webp)
``edit``        makes the entry an edit: ``POST/SECTION/NAME`` of a store image;
                then ``images`` (a list of local files or store references),
                ``mask`` (a PNG path) and ``input_fidelity``; the result goes
                to ``post_id``/``section_id`` if given, else the source's section
==============  ==========================================================

The whole file is read and every entry validated (ids, sizes, templates,
duplicates) before anything is sent; a bad entry is reported with its line
number. The entry's own value beats the command line, which beats the config.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from blog_images_tui.config import Defaults
from blog_images_tui.errors import BadInput
from blog_images_tui.generation import ImageRequest
from blog_images_tui.ids import SLUG_PATTERN, SectionRef
from blog_images_tui.jobs import prepare_job_request
from blog_images_tui.pricing import CostEstimate, estimate
from blog_images_tui.templates import PromptTemplate, find_template

if TYPE_CHECKING:
    from blog_images_tui.storage import Store

FORMATS = ("jsonl", "csv", "toml")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".toml": "toml"}
#: entry fields -> ImageRequest fields (None: handled specially)
OPTION_FIELDS = {"size": "size", "model": "model", "quality": "quality", "format": "output_format",
                 "background": "background", "style": "style"}
#: integer fields (a CSV cell or TOML string of digits is accepted too)
INT_FIELDS = ("n", "compression")
EDIT_FIELDS = ("edit", "images", "mask", "input_fidelity")
FIELDS = ("post_id", "section_id", "prompt", "template", "vars", "filename", "id", *OPTION_FIELDS,
          "moderation", *INT_FIELDS, *EDIT_FIELDS)
VAR_PREFIX = "var."
_ENTRY_NAMES = {request_name: entry_name for entry_name, request_name in OPTION_FIELDS.items()}
MAX_REPORTED = 20
_TOML_IMAGE_HEADER = re.compile(r"^\s*\[\[\s*image\s*\]\]")


@dataclass(frozen=True)
class BatchEntry:
    """One raw entry and the line it starts on (1-based)."""

    line: int
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class PlannedJob:
    """A validated entry: the request to submit and what it is expected to cost."""

    line: int
    request: ImageRequest  # validated, with its job_id
    template: str | None = None
    cost: CostEstimate = field(default_factory=lambda: CostEstimate(None, "unknown"))


class BatchFileError(BadInput):
    """One or more bad entries; ``problems`` are (line, message), all of them."""

    def __init__(self, source: str, problems: Sequence[tuple[int | None, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        first_line, first = problems[0]
        text = f"{source}, line {first_line}: {first}" if first_line else f"{source}: {first}"
        if len(problems) > 1:
            others = [str(line) for line, _ in problems[1:] if line]
            text += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''}"
            text += f", lines {', '.join(others[:10])}{', ...' if len(others) > 10 else ''})" if others else ")"
        super().__init__(text)

    def lines(self) -> list[str]:
        """One line per problem, for printing all of them."""
        return [f"{self.source}, line {line}: {message}" if line else f"{self.source}: {message}"
                for line, message in self.problems[:MAX_REPORTED]]


#: Defaults for fields an entry leaves out (command line merged over the config
#: files with ``Defaults.merged_over``); an entry reads only the image fields.
OptionDefaults = Defaults


def detect_format(path: str, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise BadInput(f"unknown batch format {explicit!r}; use one of: {', '.join(FORMATS)}")
        return explicit
    if path == "-":
        return "jsonl"
    kind = EXTENSIONS.get(Path(path).suffix.lower())
    if kind is None:
        raise BadInput(f"cannot tell the format of {path}: name it .jsonl, .csv or .toml "
                       f"(or pass --input-format)")
    return kind


def read_entries(text: str, kind: str, source: str) -> list[BatchEntry]:
    """Split a file's text into raw entries (syntax only); BatchFileError with line numbers."""
    reader = {"jsonl": _jsonl_entries, "csv": _csv_entries, "toml": _toml_entries}[kind]
    entries = reader(text, source)
    if not entries:
        raise BatchFileError(source, [(None, "no images in the file")])
    return entries


def _jsonl_entries(text: str, source: str) -> list[BatchEntry]:
    entries, problems = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # blank lines and "# comments" are allowed
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as error:
            problems.append((number, f"not valid JSON: {error.msg} (column {error.colno})"))
            continue
        except ValueError as error:  # a number of thousands of digits, say
            problems.append((number, f"not valid JSON: {str(error).split(';')[0][:120]}"))
            continue
        if not isinstance(value, dict):
            problems.append((number, f"expected a JSON object {{...}}, got {type(value).__name__}"))
            continue
        entries.append(BatchEntry(number, value))
    if problems:
        raise BatchFileError(source, problems)
    return entries


#: CSV cells whose text is used exactly as written (never trimmed)
EXACT_CELLS = ("prompt",)


def _csv_entries(text: str, source: str) -> list[BatchEntry]:
    lines = io.StringIO(text.lstrip("\ufeff"), newline="")
    # strict: a quote left open is an error at its line, not the rest of the file read as one cell
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as error:
        raise BatchFileError(source, [(1, f"not valid CSV: {error}")]) from None
    header = [name.strip() for name in header]
    problems: list[tuple[int | None, str]] = []
    for name in header:
        if name not in FIELDS and not (name.startswith(VAR_PREFIX) and len(name) > len(VAR_PREFIX)):
            problems.append((1, f"unknown column {name!r} (known: {', '.join(FIELDS)}, var.NAME)"))
    if len(set(header)) != len(header):
        problems.append((1, "a column name appears twice in the header"))
    if problems:
        raise BatchFileError(source, problems)
    entries = []
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problems.append((start, f"not valid CSV: {error}"))
            break
        last_line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) > len(header):
            problems.append((start, f"{len(row)} cells but the header has {len(header)} columns"))
            continue
        # Empty cells are "not given", so command-line and config defaults apply. Text is
        # kept exactly as written (a prompt is sent as it is); ids and options are trimmed.
        values = {name: cell if name in EXACT_CELLS or name.startswith(VAR_PREFIX) else cell.strip()
                  for name, cell in zip(header, row, strict=True) if cell.strip() != ""}
        if "vars" in values:
            try:
                values["vars"] = json.loads(values["vars"])
            except json.JSONDecodeError:
                problems.append((start, 'the vars cell must be a JSON object like {"subject": "a cat"}'))
                continue
        entries.append(BatchEntry(start, values))
    if problems:
        raise BatchFileError(source, problems)
    return entries


def _toml_entries(text: str, source: str) -> list[BatchEntry]:
    try:
        data = tomllib.loads(text)
    except ValueError as error:
        if not isinstance(error, tomllib.TOMLDecodeError):  # a number of thousands of digits
            raise BatchFileError(source, [(None, f"not valid TOML: {str(error).split(';')[0][:120]}")]) from None
        match = re.search(r"at line (\d+)", str(error))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error))
        raise BatchFileError(source, [(int(match[1]) if match else None, f"not valid TOML: {message}")]) from None
    unknown = sorted(set(data) - {"image"})
    if unknown:
        raise BatchFileError(source, [(None, f"unknown table or key {unknown[0]!r}: a batch file holds "
                                             "[[image]] tables")])
    images = data.get("image", [])
    if not isinstance(images, list) or not all(isinstance(item, dict) for item in images):
        raise BatchFileError(source, [(None, "image must be an array of tables: write [[image]]")])
    # tomllib keeps no positions: the n-th [[image]] header is the n-th entry.
    header_lines = [n for n, line in enumerate(text.splitlines(), start=1) if _TOML_IMAGE_HEADER.match(line)]
    if len(header_lines) != len(images):
        header_lines = [0] * len(images)
    return [BatchEntry(line, item) for line, item in zip(header_lines, images, strict=True)]


def _text_field(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadInput(f"{name} must be text, not {type(value).__name__}")
    return str(value)


def _template_vars(fields: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    given = fields.get("vars")
    if given is not None:
        if not isinstance(given, dict):
            raise BadInput("vars must be an object of NAME: value")
        values.update(given)
    for key, value in fields.items():
        if key.startswith(VAR_PREFIX):
            values[key[len(VAR_PREFIX):]] = value
    return values


def _int_field(fields: Mapping[str, Any], name: str) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"{name} must be a whole number, not {value!r}")
    return value


def _list_field(fields: Mapping[str, Any], name: str) -> list[str]:
    value = fields.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadInput(f"{name} must be a list of image files or POST/SECTION/NAME references")
    return list(value)


@dataclass(frozen=True)
class VariantDefaults:
    """Command-line defaults of the options the config files do not hold."""

    n: int | None = None
    moderation: str | None = None
    compression: int | None = None


def plan_entry(entry: BatchEntry, defaults: OptionDefaults,
               templates: Mapping[str, PromptTemplate], *, store: Store | None = None,
               variants: VariantDefaults = VariantDefaults(), local_files: bool = True) -> PlannedJob:
    """Validate one entry into a job; BadInput (without the line number) if it is bad.

    An ``edit`` entry reads its source, references and mask now (from
    ``store`` and local files): their sha256 are part of its job id. With
    ``local_files=False`` (the web server) it reads from the store only.
    """
    fields = entry.fields
    unknown = [key for key in fields if key not in FIELDS and not key.startswith(VAR_PREFIX)]
    if unknown:
        raise BadInput(f"unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
    edit = _text_field(fields, "edit")
    if edit is None:
        given = [name for name in EDIT_FIELDS if fields.get(name) is not None]
        if given:
            raise BadInput(f"{given[0]} needs edit (POST/SECTION/NAME of the image to edit)")
    for name in ("post_id", "section_id"):
        if fields.get(name) in (None, "") and edit is None:
            raise BadInput(f"missing {name}")
    section = (SectionRef.parse(fields["post_id"], fields["section_id"])
               if fields.get("post_id") not in (None, "") or fields.get("section_id") not in (None, "") else None)
    prompt, template_name = _text_field(fields, "prompt"), _text_field(fields, "template")
    values = _template_vars(fields)
    if prompt is not None and template_name is not None:
        raise BadInput("give prompt or template, not both")
    template_used = None
    if template_name is not None:
        template = find_template(templates, template_name)
        prompt, template_used = template.render(values), template.used(values)
    elif values:
        raise BadInput("vars given without a template")
    elif prompt is None:
        raise BadInput("missing prompt (or template)")
    options: dict[str, Any] = {}
    for entry_name, request_name in OPTION_FIELDS.items():
        value = _text_field(fields, entry_name)
        options[request_name] = value if value is not None else getattr(defaults, request_name)
    if options["model"] is None:
        del options["model"]  # the model table's default
    if options["output_format"] is None:
        options["output_format"] = "png"
    job_id = _text_field(fields, "id")
    if job_id is not None and not SLUG_PATTERN.fullmatch(job_id):
        raise BadInput(f"invalid id {job_id!r}: use letters, digits, '-' and '_' (max 100)")
    n = _int_field(fields, "n") or variants.n or 1
    compression = _int_field(fields, "compression")
    compression = compression if compression is not None else variants.compression
    filename = _text_field(fields, "filename")
    if edit is not None:
        if store is None:
            raise BadInput("edit entries need a store to read the edited image from")
        from blog_images_tui.editing import EditOptions, plan_edit

        for name in ("style", "moderation"):
            if fields.get(name) is not None:
                raise BadInput(f"{name} is not available for edits (the Images API's edit endpoint does not take it)")

        chosen = {name: value for name, value in options.items() if _text_field(fields, _ENTRY_NAMES[name])}
        request = plan_edit(store, edit, EditOptions(
            prompt=prompt, references=_list_field(fields, "images"), mask=_text_field(fields, "mask"),
            filename=filename, section=section, model=chosen.get("model"), size=chosen.get("size"),
            quality=options.get("quality"), output_format=chosen.get("output_format"),
            background=options.get("background"), n=n, compression=compression,
            input_fidelity=_text_field(fields, "input_fidelity"), local_files=local_files),
            default_model=defaults.model)
    else:
        assert section is not None
        moderation = _text_field(fields, "moderation") or variants.moderation
        request = ImageRequest(prompt=prompt, section=section, filename=filename, n=n, moderation=moderation,
                               compression=compression, **options)
    if template_used is not None:
        request = replace(request, template=template_used)
    request = prepare_job_request(request, job_id)
    return PlannedJob(entry.line, request, template_name, estimate(request))


def plan_batch(entries: list[BatchEntry], defaults: OptionDefaults, templates: Mapping[str, PromptTemplate],
               source: str, *, store: Store | None = None,
               variants: VariantDefaults = VariantDefaults()) -> list[PlannedJob]:
    """Validate every entry; BatchFileError listing every bad one (nothing is sent then)."""
    planned: list[PlannedJob] = []
    problems: list[tuple[int | None, str]] = []
    by_job: dict[str, int] = {}
    by_name: dict[tuple[SectionRef, str], int] = {}
    for entry in entries:
        line = entry.line or None
        try:
            job = plan_entry(entry, defaults, templates, store=store, variants=variants)
        except BadInput as error:
            problems.append((line, str(error)))
            continue
        request = job.request
        assert request.job_id is not None  # plan_entry prepared it
        if request.job_id in by_job:
            problems.append((line, f"the same image as line {by_job[request.job_id]} (job id {request.job_id}); "
                                   "give one of them a filename or an id to make both"))
            continue
        by_job[request.job_id] = entry.line
        if request.filename is not None:
            key = (request.section, request.filename)
            if key in by_name:
                problems.append((line, f"filename {request.filename!r} is also used on line {by_name[key]} "
                                       f"for {request.section}"))
                continue
            by_name[key] = entry.line
        planned.append(job)
    if problems:
        raise BatchFileError(source, problems)
    return planned


def read_batch_text(path: str, stdin: TextIO | None = None) -> str:
    """The file's text (``-`` is standard input); BadInput if unreadable."""
    try:
        if path == "-":
            import sys

            return (stdin or sys.stdin).read()
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"batch file not found: {path}") from None
    except IsADirectoryError:
        raise BadInput(f"{path} is a folder, not a batch file") from None
    except UnicodeDecodeError as error:
        raise BadInput(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise BadInput(f"cannot read {path}: {error.strerror or error}") from None


def load_batch(path: str, *, defaults: OptionDefaults, templates: Mapping[str, PromptTemplate],
               kind: str | None = None, stdin: TextIO | None = None, store: Store | None = None,
               variants: VariantDefaults = VariantDefaults()) -> list[PlannedJob]:
    """Read, parse and validate a batch file into planned jobs, in file order."""
    kind = detect_format(path, kind)
    source = "<stdin>" if path == "-" else path
    entries = read_entries(read_batch_text(path, stdin), kind, source)
    return plan_batch(entries, defaults, templates, source, store=store, variants=variants)
