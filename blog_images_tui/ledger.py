"""The local job ledger: one JSON line per job, stored or not.

Metadata in the store only knows about images that landed; the ledger also
remembers what failed, what was skipped, cancelled or kept for recovery, so
``blog-images stats`` can say what was spent and what went wrong. It is local
state, not part of the store: one file per store and month under
``$XDG_STATE_HOME/blog-images/ledger/`` (``BLOG_IMAGES_LEDGER_DIR`` overrides).

Each line holds nothing the metadata would not (no prompt, no error text,
never a key). Writing it never fails a job: any error is logged and dropped.
Each line is one ``write`` on a file opened with ``O_APPEND``, so processes
appending to the same file at once never interleave their lines, and a line
written before a Ctrl-C or a kill is on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blog_images_tui.secrets import redact

log = logging.getLogger("blog_images.ledger")

LEDGER_ENV = "BLOG_IMAGES_LEDGER_DIR"
FORMAT_VERSION = 1
OPERATIONS = ("generate", "edit", "publish")
#: what became of a job (``kept``: paid for, not stored, waiting in the recovery folder)
OUTCOMES = ("stored", "skipped", "failed", "cancelled", "kept")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def ledger_root() -> Path:
    """``$BLOG_IMAGES_LEDGER_DIR``, else ``$XDG_STATE_HOME/blog-images/ledger``."""
    if os.environ.get(LEDGER_ENV):
        return Path(os.environ[LEDGER_ENV]).expanduser()
    from blog_images_tui.recovery import state_home

    return state_home() / "ledger"


def store_id(store: Any) -> str:
    """The store as the ledger names it, one name for every spelling of it: ``./static``,
    ``/srv/static/`` and ``file:///srv/static`` are one store, ``s3://b/p/`` and ``s3://b/p`` too."""
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(store.fs, LocalFileSystem):
        return str(store.root)
    protocol = store.fs.protocol
    protocol = protocol[0] if isinstance(protocol, (tuple, list)) else protocol
    return f"{protocol}://{str(store.root).strip('/')}"


def store_key(location: str) -> str:
    """The file-name stem of a store's ledger: readable, and unique by a hash of the location."""
    readable = _UNSAFE.sub("-", location).strip("-.")[-48:].lstrip("-.") or "store"
    return f"{readable}-{hashlib.sha256(location.encode('utf-8')).hexdigest()[:10]}"


def ledger_file(location: str, when: datetime) -> Path:
    """The file one store's jobs of ``when``'s month (UTC) go to."""
    return ledger_root() / f"{store_key(location)}.{when.astimezone(UTC):%Y-%m}.jsonl"


def ledger_files(location: str) -> list[Path]:
    """Every month file of one store, oldest first."""
    root = ledger_root()
    if not root.is_dir():
        return []
    pattern = re.compile(re.escape(store_key(location)) + r"\.\d{4}-\d{2}\.jsonl")
    return sorted(path for path in root.iterdir() if pattern.fullmatch(path.name))


def append(location: str, entry: dict[str, Any]) -> bool:
    """Append one line to the store's ledger; False (and a log line) if it could not be written.

    Never raises: the ledger must not fail the job it describes.
    """
    try:
        when = datetime.fromisoformat(entry["time"]) if "time" in entry else datetime.now(UTC)
        line = {"v": FORMAT_VERSION, "time": when.isoformat(timespec="milliseconds"), "store": redact(location),
                **{key: value for key, value in entry.items() if key != "time"}}
        # Redacted as a whole: a store URL or path could carry a secret too (never the API key).
        data = (redact(json.dumps(line, ensure_ascii=False, separators=(",", ":"))) + "\n").encode("utf-8")
        path = ledger_file(location, when)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            # One write: O_APPEND puts it at the end as a whole, whoever else is appending.
            written = os.write(fd, data)
        finally:
            os.close(fd)
        if written != len(data):
            log.warning("job ledger %s: short write (%d of %d bytes)", path, written, len(data))
            return False
        return True
    except Exception as error:  # noqa: BLE001 - a ledger problem is never the job's problem
        log.warning("could not write the job ledger: %s", redact(f"{type(error).__name__}: {error}"))
        return False


def record_job(store: Any, job: Any, *, billed: bool) -> bool:
    """One ledger line for a settled engine job (:class:`blog_images_tui.jobs.Job`).

    ``billed``: the image was, or may have been, paid for (stored, kept, or
    cancelled after the request was sent).
    """
    try:
        return record(store, job.request, outcome=outcome_of(job.state.value, job.error), error=job.error,
                      duration_s=job.elapsed_s, billed=billed,
                      results=getattr(job, "results", None) or ([job.result] if job.result else []), job_id=job.id,
                      estimated_usd=job.estimated_cost.usd if job.estimated_cost else None, actual_usd=job.cost_usd)
    except Exception as error:  # noqa: BLE001
        log.warning("could not describe a job for the ledger: %s", redact(f"{type(error).__name__}: {error}"))
        return False


def record(store: Any, request: Any, *, outcome: str, error: BaseException | None, duration_s: float,
           billed: bool, results: list[Any] | None = None, job_id: str | None = None,
           estimated_usd: float | None = None, actual_usd: float | None = None) -> bool:
    """One ledger line for one job on ``store`` (any operation); never raises.

    ``request`` is the job's :class:`~blog_images_tui.generation.ImageRequest`
    (or anything with its fields); ``results`` the
    :class:`~blog_images_tui.storage.StoredImage` s that landed (``n`` variants: each).
    """
    try:
        paths = [item.image_path for item in results or []]
        image_path = paths[0] if paths else _intended_path(store, request, outcome)
        return append(store_id(store), {
            "operation": getattr(request, "operation", None) or "generate",
            "post_id": request.section.post_id, "section_id": request.section.section_id,
            "model": request.model, "size": request.size, "quality": request.quality,
            "n": getattr(request, "n", 1) or 1,
            "outcome": outcome, **_error_fields(error if outcome in ("failed", "kept") else None),
            "duration_s": round(duration_s, 3),
            "cost_estimated_usd": _round(estimated_usd),
            "cost_usd": _round(actual_usd),
            "billed": bool(billed),
            "job_id": job_id or getattr(request, "job_id", None),
            "image_path": image_path,
            **({"image_paths": paths} if len(paths) > 1 else {}),
        })
    except Exception as caught:  # noqa: BLE001
        log.warning("could not describe a job for the ledger: %s", redact(f"{type(caught).__name__}: {caught}"))
        return False


@dataclass
class PublishJob:
    """What :func:`publish_job` needs to know: the publish result, once there is one."""

    result: Any = None


@contextmanager
def publish_job(store: Any, section: Any, filename: str) -> Iterator[PublishJob]:
    """Time one publish and leave its ledger line: stored (files written), skipped (unchanged),
    failed or cancelled. Nothing is billed; the line's ``image_path`` is the manifest's."""
    job, started, error = PublishJob(), time.monotonic(), None
    try:
        yield job
    except BaseException as caught:
        error = caught
        raise
    finally:
        if job.result is not None:
            outcome = "stored" if job.result.changed else "skipped"
        elif isinstance(error, (asyncio.CancelledError, KeyboardInterrupt)):
            outcome = "cancelled"
        else:
            outcome = "failed"
        append(store_id(store), {
            "operation": "publish", "post_id": section.post_id, "section_id": section.section_id,
            "model": None, "size": None, "quality": None, "n": 1, "outcome": outcome,
            **_error_fields(error if outcome == "failed" else None),
            "duration_s": round(time.monotonic() - started, 3), "cost_estimated_usd": None, "cost_usd": None,
            "billed": False, "job_id": None, "name": filename,
            "image_path": job.result.manifest_path if job.result is not None else None,
        })


def outcome_of(state: str, error: BaseException | None) -> str:
    """A job's ledger outcome from its final state and error."""
    from blog_images_tui.errors import NotStored

    if state == "failed" and isinstance(error, NotStored):
        return "kept"
    return state if state in OUTCOMES else "failed"


def _error_fields(error: BaseException | None) -> dict[str, Any]:
    if error is None:
        return {}
    from blog_images_tui.errors import ExitCode

    code = getattr(error, "code", None)
    return {"error": {"type": type(error).__name__, "code": code if isinstance(code, str) else None,
                      "exit_code": int(getattr(error, "exit_code", ExitCode.INTERNAL))}}


def _intended_path(store: Any, request: Any, outcome: str) -> str | None:
    """Where a kept image was going: recovering it later puts it there, and stats must not count it twice."""
    if outcome != "kept" or not request.filename:
        return None
    from blog_images_tui import layout

    return store.display_path(layout.image_path(request.section, request.filename, request.output_format))


def _round(usd: float | None) -> float | None:
    return None if usd is None else round(float(usd), 6)


@dataclass(frozen=True)
class DamagedLine:
    """A ledger line that could not be read (skipped, reported)."""

    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"job ledger {self.path}, line {self.line}: {self.reason} (skipped)"


def read(location: str, *, damaged: list[DamagedLine] | None = None) -> Iterator[dict[str, Any]]:
    """Every readable line of one store's ledger, oldest file first.

    A damaged line (not JSON, not an object, no valid time or outcome, another
    store's) is skipped and appended to ``damaged``; it never stops the rest.
    """
    written_as = redact(location)  # what append() wrote in each line's "store"
    for path in ledger_files(location):
        try:
            handle = path.open("rb")
        except OSError as error:
            if damaged is not None:
                damaged.append(DamagedLine(path, 0, f"cannot read the file: {error.strerror or error}"))
            continue
        with handle:
            for number, raw in enumerate(handle, start=1):
                entry, reason = _parse_line(raw, written_as)
                if entry is not None:
                    yield entry
                elif reason and damaged is not None:
                    damaged.append(DamagedLine(path, number, reason))


def _parse_line(raw: bytes, written_as: str) -> tuple[dict[str, Any] | None, str | None]:
    if not raw.strip():
        return None, None
    if not raw.endswith(b"\n"):
        # A writer killed mid-line (or still writing): not a line yet.
        return None, "incomplete line"
    try:
        entry = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None, "not valid JSON"
    if not isinstance(entry, dict):
        return None, "not a JSON object"
    if entry.get("outcome") not in OUTCOMES:
        return None, f"unknown outcome {str(entry.get('outcome'))[:40]!r}"
    try:
        when = datetime.fromisoformat(str(entry["time"]))
    except (KeyError, ValueError):
        return None, "no valid time"
    if not all(isinstance(entry.get(key), (int, str)) for key in ("post_id", "section_id")):
        return None, "no post or section id"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if entry.get("store") != written_as:
        return None, "written for another store"
    entry["time"] = when
    return entry, None
