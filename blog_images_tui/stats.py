"""What was spent, how long it took, what failed: the job ledger plus the store's metadata.

Every job this machine ran has a line in the local job ledger
(:mod:`blog_images_tui.ledger`). Images made elsewhere, or before the ledger
existed, are found in the store's metadata (one listing per level, as
everywhere) and counted as stored jobs, unless a ledger line already accounts
for them: matched by image path first, then by job id, each line claiming at
most one image, so nothing is counted twice.

Spend is actual where known (the metadata's ``cost_usd``, from the API's
usage) and estimated where not (the price table's estimate for the request);
``cost_estimated_usd`` says how much of ``cost_usd`` is estimated. Jobs that
were not billed (failed before an image, skipped) cost nothing; a job
cancelled after its request was sent may have been billed and counts.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from blog_images_tui import layout, ledger
from blog_images_tui.errors import BadInput
from blog_images_tui.ids import PostId, SectionRef
from blog_images_tui.storage import Store

GROUP_BY = ("post", "section", "model", "day", "outcome")
#: the operations stats counts: those that ask the API for an image (publish lines are a record only)
COUNTED_OPERATIONS = ("generate", "edit")
#: outcomes that produced an image: their durations are the "how long it took"
PRODUCED = ("stored", "kept")
#: metadata reads at once (S3 round trips), per section
READ_CONCURRENCY = 8


def parse_date(text: str, *, what: str = "--since", end: bool = False) -> datetime:
    """``YYYY-MM-DD`` or an ISO date-time (UTC unless it says otherwise), as an aware datetime.

    With ``end`` a bare date means the end of that day: ``--until 2026-12-01``
    includes the whole of December 1st.
    """
    value = (text or "").strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"invalid {what} {text!r}: use YYYY-MM-DD or an ISO date-time like 2026-12-01T09:30") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StatsQuery:
    """Which jobs to count: a post or section, a time window (since inclusive, until exclusive)."""

    post_id: PostId | None = None
    section_id: PostId | None = None
    since: datetime | None = None
    until: datetime | None = None
    by: str | None = None

    def __post_init__(self) -> None:
        if self.section_id is not None and self.post_id is None:
            raise BadInput("a section needs its post")
        if self.by is not None and self.by not in GROUP_BY:
            raise BadInput(f"invalid --by {self.by!r}: choose from {', '.join(GROUP_BY)}")
        if self.since and self.until and self.since >= self.until:
            raise BadInput("--since must be before --until")

    def covers(self, post_id: Any, section_id: Any) -> bool:
        return ((self.post_id is None or post_id == self.post_id)
                and (self.section_id is None or section_id == self.section_id))

    def in_window(self, when: datetime | None) -> bool:
        if self.since is None and self.until is None:
            return True
        if when is None:
            return False  # an image of unknown date is outside any window
        return (self.since is None or when >= self.since) and (self.until is None or when < self.until)


def query_from_text(post: str | None = None, section: str | None = None, since: str | None = None,
                    until: str | None = None, by: str | None = None) -> StatsQuery:
    """A :class:`StatsQuery` from what a user typed (the CLI's arguments, the API's query string);
    :class:`BadInput` before anything is read."""
    from blog_images_tui.ids import parse_id

    return StatsQuery(post_id=parse_id(post, what="post id") if post is not None else None,
                      section_id=parse_id(section, what="section id") if section is not None else None,
                      since=parse_date(since, what="--since") if since else None,
                      until=parse_date(until, what="--until", end=True) if until else None, by=by)


@dataclass(frozen=True)
class JobRecord:
    """One job as stats sees it, from a ledger line or from a store image's metadata."""

    time: datetime | None
    post_id: PostId
    section_id: PostId
    model: str | None
    outcome: str
    duration_s: float | None
    #: what it cost (None: unknown, or not billed when ``billed`` is False)
    cost_usd: float | None
    cost_is_estimate: bool
    billed: bool
    source: str  # "ledger" or "store"

    def key(self, by: str) -> Any:
        if by == "post":
            return self.post_id
        if by == "section":
            return f"{self.post_id}/{self.section_id}"
        if by == "model":
            return self.model or "unknown"
        if by == "day":
            return self.time.astimezone(UTC).date().isoformat() if self.time else "unknown"
        return self.outcome


@dataclass
class Tally:
    """Counts, success rate, spend and durations of some jobs."""

    jobs: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ledger.OUTCOMES, 0))
    cost_usd: float = 0.0
    cost_estimated_usd: float = 0.0
    #: billed jobs whose cost nobody knows (not in cost_usd)
    unknown_cost: int = 0
    durations: list[float] = field(default_factory=list)

    def add(self, record: JobRecord) -> None:
        self.jobs += 1
        self.counts[record.outcome] += 1
        if record.billed:
            if record.cost_usd is None:
                self.unknown_cost += 1
            else:
                self.cost_usd += record.cost_usd
                if record.cost_is_estimate:
                    self.cost_estimated_usd += record.cost_usd
        if record.outcome in PRODUCED and record.duration_s is not None:
            self.durations.append(record.duration_s)

    @property
    def success_rate(self) -> float | None:
        """Stored out of the jobs that tried (stored, failed, kept); None when none tried."""
        tried = self.counts["stored"] + self.counts["failed"] + self.counts["kept"]
        return self.counts["stored"] / tried if tried else None

    def to_json(self) -> dict[str, Any]:
        rate = self.success_rate
        return {"jobs": self.jobs, **self.counts,
                "success_rate": None if rate is None else round(rate, 4),
                "cost_usd": round(self.cost_usd, 6), "cost_estimated_usd": round(self.cost_estimated_usd, 6),
                "duration_s": {"median": _rounded(statistics.median(self.durations) if self.durations else None),
                               "p95": _rounded(percentile(self.durations, 95))}}


def percentile(values: Iterable[float], pct: float) -> float | None:
    """Nearest-rank percentile (an observed value, never an interpolation); None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def describe_spend(data: dict[str, Any]) -> str:
    """``$0.112 ($0.101 actual, ~$0.011 estimated)`` from a tally's JSON (the CLI's and the app's words)."""
    from blog_images_tui.pricing import format_usd

    total, estimated = data["cost_usd"], data["cost_estimated_usd"]
    if not estimated:
        return f"{format_usd(total)} (actual)"
    if estimated >= total - 1e-9:
        return f"~{format_usd(total)} (estimated)"
    return f"{format_usd(total)} ({format_usd(total - estimated)} actual, ~{format_usd(estimated)} estimated)"


def describe_duration(data: dict[str, Any]) -> str:
    """``median 2.4s, p95 6.0s`` from a tally's JSON; says so when no job produced an image."""
    duration = data["duration_s"]
    if duration["median"] is None:
        return "no durations known"
    return f"median {duration['median']:.1f}s, p95 {duration['p95']:.1f}s"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class StatsReport:
    """The totals, the groups (``--by``), and what could not be read."""

    query: StatsQuery
    total: Tally
    groups: list[tuple[Any, Tally]]
    damaged: list[ledger.DamagedLine]
    #: metadata that could not be read (path: reason), skipped
    unreadable: list[str]
    #: jobs found only in the store (made elsewhere or before the ledger)
    from_store: int

    def to_json(self) -> dict[str, Any]:
        return {**self.total.to_json(), "groups": [{"key": key, **tally.to_json()} for key, tally in self.groups]}

    def warnings(self) -> list[str]:
        return [str(line) for line in self.damaged] + [f"unreadable metadata {item} (skipped)"
                                                        for item in self.unreadable]


def collect(store: Store, query: StatsQuery) -> StatsReport:
    """Read the ledger and walk the store (one listing per level) into a :class:`StatsReport`."""
    damaged: list[ledger.DamagedLine] = []
    lines = [entry for entry in ledger.read(ledger.store_id(store), damaged=damaged)
             if entry.get("operation", "generate") in COUNTED_OPERATIONS
             and query.covers(entry.get("post_id"), entry.get("section_id"))]
    records = [_from_ledger(entry) for entry in lines if query.in_window(entry["time"])]
    unreadable: list[str] = []
    # Every line in scope may claim its image, whatever its date: the image is accounted for.
    found = _store_only(store, query, [entry for entry in lines if entry["outcome"] in PRODUCED], unreadable)
    from_store = [record for record in found if query.in_window(record.time)]
    records.extend(from_store)
    total = Tally()
    groups: dict[Any, Tally] = {}
    for record in records:
        total.add(record)
        if query.by:
            groups.setdefault(record.key(query.by), Tally()).add(record)
    ordered = sorted(groups.items(), key=lambda item: _sort_key(item[0]))
    return StatsReport(query, total, ordered, damaged, unreadable, len(from_store))


def _sort_key(key: Any) -> tuple[int, Any, str]:
    return (0, key, "") if isinstance(key, int) else (1, 0, str(key))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _from_ledger(entry: dict[str, Any]) -> JobRecord:
    actual, estimated = _number(entry.get("cost_usd")), _number(entry.get("cost_estimated_usd"))
    return JobRecord(time=entry["time"], post_id=entry["post_id"], section_id=entry["section_id"],
                     model=entry.get("model"), outcome=entry["outcome"], duration_s=_number(entry.get("duration_s")),
                     cost_usd=actual if actual is not None else estimated,
                     cost_is_estimate=actual is None and estimated is not None,
                     billed=bool(entry.get("billed")), source="ledger")


def _sections(store: Store, query: StatsQuery) -> list[SectionRef]:
    """The sections in scope, one listing per level."""
    if query.post_id is not None and query.section_id is not None:
        return [SectionRef(query.post_id, query.section_id)]
    posts = [query.post_id] if query.post_id is not None else store.list_posts()
    return [SectionRef(post, section) for post in posts for section in store.list_sections(post)]


def _store_only(store: Store, query: StatsQuery, claiming: list[dict[str, Any]],
                unreadable: list[str]) -> list[JobRecord]:
    """Images in the store that no ledger line accounts for, as stored jobs (variants of one
    request, sharing a ``group_id``, as one job)."""
    # What each line may still account for: its images (``n`` of them for variants).
    left = {id(entry): max(_count(entry.get("n")), len(_paths(entry))) for entry in claiming}
    by_path: dict[str, list[dict[str, Any]]] = {}
    for entry in claiming:
        for path in _paths(entry):
            by_path.setdefault(path, []).append(entry)
    unmatched: list[tuple[SectionRef, str]] = []
    for section in _sections(store, query):
        names = store.list_raw_names(section)
        images = {name.rpartition(".")[0]: name for name in names
                  if name.rpartition(".")[2].lower() in layout.EXTENSION_FORMATS and not name.startswith(".")}
        for name in names:
            if not name.endswith(layout.METADATA_SUFFIX) or name.startswith("."):
                continue
            stem = name[:-len(layout.METADATA_SUFFIX)]
            image = images.get(stem)
            path = store.display_path(f"{layout.raw_dir(section)}/{image}") if image else ""
            claim = next((entry for entry in by_path.get(path, []) if left[id(entry)] > 0), None)
            if claim is not None:
                left[id(claim)] -= 1  # accounted for by its ledger line: not even read
            else:
                unmatched.append((section, stem))
    by_job: dict[str, int] = {}
    for entry in claiming:
        if left[id(entry)] > 0 and entry.get("job_id"):
            by_job[entry["job_id"]] = by_job.get(entry["job_id"], 0) + left[id(entry)]

    def read(item: tuple[SectionRef, str]) -> dict[str, Any] | None:
        section, stem = item
        try:
            metadata = store.read_metadata(section, stem)
            if not isinstance(metadata, dict):
                raise ValueError("not a JSON object")
            return metadata
        except Exception as error:  # noqa: BLE001 - one bad file must not hide the rest
            unreadable.append(f"{store.display_path(layout.metadata_path(section, stem))}: "
                              f"{type(error).__name__}: {str(error)[:200]}")
            return None

    jobs: dict[Any, tuple[SectionRef, list[dict[str, Any]]]] = {}
    with ThreadPoolExecutor(max_workers=READ_CONCURRENCY) as pool:
        for (section, stem), metadata in zip(unmatched, pool.map(read, unmatched), strict=True):
            if metadata is None:
                continue
            if metadata.get("operation", "generate") not in COUNTED_OPERATIONS:
                continue  # an imported image: no API job made it
            job_id = metadata.get("job_id")
            if job_id and by_job.get(job_id, 0) > 0:
                by_job[job_id] -= 1  # a kept image recovered since, or one renamed
                continue
            group = metadata.get("group_id")
            key = ("group", str(section), group) if isinstance(group, str) and group else ("image", str(section), stem)
            jobs.setdefault(key, (section, []))[1].append(metadata)
    return [_from_metadata(section, variants) for section, variants in jobs.values()]


def _paths(entry: dict[str, Any]) -> list[str]:
    paths = entry.get("image_paths") or [entry.get("image_path")]
    return [path for path in paths if isinstance(path, str) and path]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _from_metadata(section: SectionRef, variants: list[dict[str, Any]]) -> JobRecord:
    """One stored job from its images' metadata (one image, or the variants of one request)."""
    first = variants[0]
    costs = [_number(metadata.get("cost_usd")) for metadata in variants]
    actual = None if None in costs else sum(cost for cost in costs if cost is not None)
    estimated = _estimate(first, len(variants)) if actual is None else None
    when: datetime | None
    try:
        when = datetime.fromisoformat(str(first.get("generated_at")))
    except ValueError:
        when = None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    durations = [d for d in (_number(metadata.get("duration_s")) for metadata in variants) if d is not None]
    return JobRecord(time=when, post_id=section.post_id, section_id=section.section_id,
                     model=first.get("model"), outcome="stored", duration_s=max(durations) if durations else None,
                     cost_usd=actual if actual is not None else estimated,
                     cost_is_estimate=actual is None and estimated is not None, billed=True, source="store")


def _estimate(metadata: dict[str, Any], images: int = 1) -> float | None:
    """The price table's estimate for an image whose metadata has no cost (made before costs were kept)."""
    from blog_images_tui import pricing
    from blog_images_tui.generation import ImageRequest

    model = metadata.get("model")
    if not isinstance(model, str):
        return None
    try:
        request = ImageRequest(prompt=str(metadata.get("prompt") or ""), section=SectionRef(1, 1), model=model,
                               size=metadata.get("size"), quality=metadata.get("quality"), n=images)
        return pricing.estimate(request).usd
    except Exception:  # noqa: BLE001 - an odd old metadata file costs "unknown"
        return None
