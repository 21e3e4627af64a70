"""Many runners, one store: jobs claimed through the store itself, no other service.

Runners of one batch file split its jobs into the same chunks (``CHUNK_JOBS``
consecutive jobs). Before paying for a job a runner claims its chunk by an
exclusive create of ``.blog-images/claims/{chunk}.json`` (outside
``content/``: nothing there is ever published), which names the runner and
fixes every job's filename, so a late writer is stopped by the conditional
create of the image itself. All of it goes through the Store's write API.

* A live runner renews its claims with one heartbeat object,
  ``.blog-images/runners/{runner}.json``, replaced every third of the lease.
* A claim is stale when the newer of its own and its runner's heartbeat's
  ``LastModified`` is older than the lease by the store's clock (the
  ``LastModified`` of the checking runner's own fresh heartbeat), never by any
  runner's own clock. A stale claim is taken over with a conditional replace
  on the version it was read at (If-Match on S3), so two runners cannot both
  take it.
* A chunk done is deleted (its stored jobs need no claim any more); one with
  failed jobs is kept with those jobs marked failed, so no one pays for them
  again unless asked (``--retry-failed``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from blog_images_tui import layout
from blog_images_tui.errors import BlogImagesError, Conflict, ExitCode
from blog_images_tui.storage import Store

if TYPE_CHECKING:
    from blog_images_tui.jobs import Job

log = logging.getLogger("blog_images.claims")

COORDINATION_DIR = ".blog-images"
CLAIMS_DIR = f"{COORDINATION_DIR}/claims"
RUNNERS_DIR = f"{COORDINATION_DIR}/runners"
#: jobs per claim: fixed, so every runner of one batch file forms the same chunks
CHUNK_JOBS = 16
DEFAULT_LEASE_S = 120.0
JSON = layout.CONTENT_TYPES["json"]


def chunk_key(job_ids: list[str]) -> str:
    """The claim name of a chunk: a hash of its job ids in batch order."""
    return hashlib.sha256("\n".join(job_ids).encode()).hexdigest()[:24]


def new_runner_id() -> str:
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())[:32] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass
class Claim:
    """A chunk's claim as read from (or written to) the store."""

    key: str
    runner: str
    #: job id -> {"filename": ..., "state": "claimed" | "failed", "error": ...}
    jobs: dict[str, dict[str, Any]]
    version: str | None = None
    modified: float | None = None

    def encode(self) -> bytes:
        return (json.dumps({"runner": self.runner, "jobs": self.jobs}, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def decode(cls, key: str, raw: bytes, version: str | None) -> Claim:
        data = json.loads(raw)
        return cls(key, str(data.get("runner", "")), dict(data.get("jobs") or {}), version)


@dataclass
class Outcome:
    """What claiming a chunk gave: ``mine`` (with the filenames to use) or held by ``holder``."""

    mine: bool
    filenames: dict[str, str] = field(default_factory=dict)
    #: jobs an earlier runner marked failed (skipped unless retrying failed ones): job id -> error
    failed: dict[str, str] = field(default_factory=dict)
    holder: str | None = None


class Coordinator:
    """One runner's side of the claim protocol. Blocking calls; the engine runs them in threads."""

    def __init__(self, store: Store, *, lease_s: float = DEFAULT_LEASE_S, runner_id: str | None = None,
                 retry_failed: bool = False) -> None:
        if lease_s <= 0:
            raise ValueError("the lease must be positive")
        self.store = store
        self.lease_s = lease_s
        self.runner = runner_id or new_runner_id()
        self.retry_failed = retry_failed
        self.mine: dict[str, Claim] = {}
        self._heartbeat_version: str | None = None
        self._heartbeat_written: float | None = None  # monotonic
        #: takeovers of stale claims (for reports and the bench)
        self.taken_over = 0

    # -- paths
    @staticmethod
    def claim_path(key: str) -> str:
        return f"{CLAIMS_DIR}/{key}.json"

    def heartbeat_path(self, runner: str | None = None) -> str:
        return f"{RUNNERS_DIR}/{runner or self.runner}.json"

    # -- claiming
    def claim(self, key: str, wanted: dict[str, str]) -> Outcome:
        """Claim chunk ``key`` for ``wanted`` (job id -> filename this runner would use)."""
        claim = Claim(key, self.runner, {job: {"filename": name, "state": "claimed"} for job, name in wanted.items()})
        try:
            self.store.create(self.claim_path(key), claim.encode(), JSON)
        except FileExistsError:
            return self._claim_existing(key, wanted)
        self.mine[key] = claim
        return Outcome(True, dict(wanted))

    def _claim_existing(self, key: str, wanted: dict[str, str]) -> Outcome:
        try:
            raw, version = self.store.read_versioned(self.claim_path(key))
        except FileNotFoundError:
            return self.claim(key, wanted)  # released meanwhile: try again
        current = Claim.decode(key, raw, version)
        claimed = {job: entry for job, entry in current.jobs.items() if entry.get("state") == "claimed"}
        failed = {job: str(entry.get("error") or "failed") for job, entry in current.jobs.items()
                  if entry.get("state") == "failed"}
        if current.runner == self.runner:
            self.mine[key] = current
            return Outcome(True, {job: e["filename"] for job, e in current.jobs.items()}, {} if self.retry_failed
                           else failed)
        if claimed and not self.is_stale(current):
            return Outcome(False, holder=current.runner)
        if not claimed and not self.retry_failed and set(wanted) <= set(failed):
            return Outcome(False, failed=failed, holder=current.runner)  # nothing left to do here
        # Stale, or done with failures and jobs left to do (or failed ones to retry): take it
        # over, keeping the filenames it fixed and (unless retrying) the failed marks; a job it
        # does not name yet gets the filename this runner chose.
        jobs = {job: {"filename": name, "state": "claimed"} for job, name in wanted.items()}
        for job, entry in current.jobs.items():
            if job in jobs and entry.get("filename"):
                jobs[job]["filename"] = entry["filename"]
            if entry.get("state") == "failed" and not self.retry_failed and job in jobs:
                jobs[job] = dict(entry)
        taken = Claim(key, self.runner, jobs)
        try:
            taken.version = self.store.replace(self.claim_path(key), taken.encode(), JSON, version)
        except Conflict:
            return Outcome(False, holder="another runner taking it over")
        except FileNotFoundError:
            return self.claim(key, wanted)
        self.taken_over += 1
        log.warning("took over claim %s of runner %s (%s)", key, current.runner,
                    f"silent for more than the {self.lease_s:g} s lease" if claimed else "done, with failed jobs")
        self.mine[key] = taken
        still_failed = {job: str(e.get("error") or "failed") for job, e in jobs.items() if e.get("state") == "failed"}
        return Outcome(True, {job: e["filename"] for job, e in jobs.items()}, still_failed)

    def release(self, key: str, failed: dict[str, str]) -> None:
        """The chunk is done: delete the claim, or keep it with the ``failed`` jobs marked."""
        claim = self.mine.pop(key, None)
        if claim is None:
            return
        if not failed:
            self.store.remove_file(self.claim_path(key))
            return
        claim.jobs = {job: {"filename": claim.jobs.get(job, {}).get("filename"), "state": "failed", "error": error}
                      for job, error in failed.items()}
        version = claim.version
        if version is None:
            _raw, version = self.store.read_versioned(self.claim_path(key))
        try:
            self.store.replace(self.claim_path(key), claim.encode(), JSON, version)
        except Conflict:
            log.warning("claim %s was taken over before its failed jobs could be marked", key)

    # -- liveness
    def heartbeat(self) -> float | None:
        """Renew this runner's heartbeat; returns its ``LastModified`` (the store's clock, now)."""
        path = self.heartbeat_path()
        body = (json.dumps({"runner": self.runner, "claims": sorted(self.mine)}) + "\n").encode()
        if self._heartbeat_version is None:
            try:
                self.store.create(path, body, JSON)
            except FileExistsError:
                pass  # a runner id is never reused; an earlier try of ours landed
            _raw, self._heartbeat_version = self.store.read_versioned(path)
        else:
            try:
                self._heartbeat_version = self.store.replace(path, body, JSON, self._heartbeat_version)
            except Conflict:
                _raw, self._heartbeat_version = self.store.read_versioned(path)
        self._heartbeat_written = time.monotonic()
        return self._modified(RUNNERS_DIR, path.rsplit("/", 1)[1])

    def heartbeat_due(self) -> bool:
        if not self.mine:
            return False
        if self._heartbeat_written is None:
            return True
        return time.monotonic() - self._heartbeat_written >= self.lease_s / 3

    def _modified(self, folder: str, name: str) -> float | None:
        for entry in self.store.list_files(folder):
            if entry.name == name:
                return entry.modified
        return None

    def is_stale(self, claim: Claim) -> bool:
        """True when the claim's runner has shown no sign of life for a lease, by the store's clock."""
        store_now = self.heartbeat()  # our own object, written just now: the store's "now"
        if store_now is None:
            return False  # cannot tell: never take over on a guess
        claims = {entry.name: entry.modified for entry in self.store.list_files(CLAIMS_DIR)}
        runners = {entry.name: entry.modified for entry in self.store.list_files(RUNNERS_DIR)}
        signs = [claims.get(f"{claim.key}.json"), runners.get(f"{claim.runner}.json")]
        alive_at = max((s for s in signs if s is not None), default=None)
        return alive_at is not None and store_now - alive_at > self.lease_s

    def close(self) -> None:
        """Remove the heartbeat (nothing claimed any more)."""
        if self._heartbeat_version is not None and not self.mine:
            self.store.remove_file(self.heartbeat_path())
            self._heartbeat_version = None


def _stem_in(filename: str, names: set[str]) -> bool:
    wanted = filename.lower()
    return any(layout.stem_of(name).lower() == wanted for name in names)


class HeldElsewhere(Exception):
    """A job another runner stored while this one waited for its chunk (the job is skipped)."""


@dataclass(eq=False)
class _Chunk:
    key: str
    jobs: list  # the engine's Job objects, in batch order
    outcome: asyncio.Future | None = None
    waiting: asyncio.Future | None = None
    mine: bool = False
    released: bool = False
    #: job ids marked failed by an earlier runner (kept marked, not run): job id -> error
    failed_before: dict[str, str] = field(default_factory=dict)


class BatchClaims:
    """The engine's side of the claims: chunks of one batch, claimed as their jobs come up.

    ``engine`` is the :class:`~blog_images_tui.jobs.JobEngine` (its listing, its names).
    """

    def __init__(self, coordinator: Coordinator, engine: Any, jobs: list) -> None:
        self.coordinator = coordinator
        self.engine = engine
        self.poll_s = max(0.25, min(coordinator.lease_s / 4, 5.0))
        self._by_job: dict[int, _Chunk] = {}
        for start in range(0, len(jobs), CHUNK_JOBS):
            group = jobs[start:start + CHUNK_JOBS]
            chunk = _Chunk(chunk_key([job.id for job in group]), group)
            for job in group:
                self._by_job[id(job)] = chunk
        self._heartbeat: asyncio.Task | None = None

    def chunk_of(self, job: Job) -> _Chunk | None:
        return self._by_job.get(id(job))

    async def filename_for(self, job: Job, release_slot: Callable[[], None],
                           acquire_slot: Callable[[], Awaitable[object]]) -> str:
        """The filename the job's claim fixes, once its chunk is this runner's.

        While another live runner holds the chunk the slot is given back meanwhile.
        Raises :class:`HeldElsewhere` if the job got stored by another runner meanwhile and
        :class:`ClaimedFailed` if an earlier runner marked it failed."""
        chunk = self._by_job[id(job)]
        while True:
            if chunk.outcome is None:
                chunk.outcome = asyncio.ensure_future(self._try_claim(chunk))
            outcome: Outcome = await asyncio.shield(chunk.outcome)
            if job.id in outcome.failed:
                chunk.failed_before[job.id] = outcome.failed[job.id]
                raise ClaimedFailed(f"not sent: an earlier run marked this job failed ({outcome.failed[job.id]})",
                                    hint="re-run with --retry-failed to pay for it again")
            if outcome.mine:
                if job.id not in outcome.filenames:
                    raise HeldElsewhere(job.id)  # found stored when the claim was (re)made
                return outcome.filenames[job.id]
            release_slot()
            try:
                await self._wait(chunk)
            finally:
                await acquire_slot()
            if await self.engine.find_stored(job.request):
                raise HeldElsewhere(job.id)

    async def _try_claim(self, chunk: _Chunk) -> Outcome:
        wanted: dict[str, str] = {}
        for other in chunk.jobs:
            if other.state.finished or (not self.engine.force and await self.engine.find_stored(other.request)):
                continue
            wanted[other.id] = other.request.filename or await self.engine._auto_filename(other.request)
        if not wanted:
            return Outcome(True)
        outcome = await asyncio.to_thread(self.coordinator.claim, chunk.key, wanted)
        if outcome.mine:
            # A done chunk's claim is deleted, so a runner that finished this chunk after our
            # listing looks like no one: list again now that the chunk is ours, and skip what
            # got stored meanwhile (one LIST per chunk).
            self.engine.forget_listings({job.request.section for job in chunk.jobs})
            by_id = {job.id: job for job in chunk.jobs}
            for job_id, filename in list(outcome.filenames.items()):
                job = by_id.get(job_id)
                if job is None:
                    continue
                if await self.engine.find_stored(job.request):
                    del outcome.filenames[job_id]
                elif _stem_in(filename, await self.engine._names_in(job.request.section)):
                    # A taken-over job whose runner died between its image and its metadata:
                    # that image stays (doctor reports it); this job gets a name of its own.
                    outcome.filenames[job_id] = await self.engine._auto_filename(job.request)
            chunk.mine = True
            if self._heartbeat is None or self._heartbeat.done():
                self._heartbeat = asyncio.ensure_future(self._beat())
        return outcome

    async def _wait(self, chunk: _Chunk) -> None:
        if chunk.waiting is None:
            async def wait() -> None:
                try:
                    await asyncio.sleep(self.poll_s)
                finally:
                    chunk.outcome, chunk.waiting = None, None
                    self.engine.forget_listings({job.request.section for job in chunk.jobs})
            chunk.waiting = asyncio.ensure_future(wait())
        await asyncio.shield(chunk.waiting)

    async def _beat(self) -> None:
        while self.coordinator.mine:
            await asyncio.sleep(self.coordinator.lease_s / 3)
            if self.coordinator.heartbeat_due():
                try:
                    await asyncio.to_thread(self.coordinator.heartbeat)
                except Exception as error:  # a missed beat is retried; the lease has room for two
                    log.warning("heartbeat failed: %s", error)

    async def job_finished(self, job: Job, sent: bool) -> None:
        """Release the job's chunk once all its jobs are finished (delete it, or mark failures)."""
        chunk = self._by_job.get(id(job))
        if chunk is None or not chunk.mine or chunk.released or not all(j.state.finished for j in chunk.jobs):
            return
        await asyncio.shield(self._release(chunk))

    async def _release(self, chunk: _Chunk) -> None:
        chunk.released = True
        failed = dict(chunk.failed_before)
        failed.update({job.id: job.error.message if job.error else "failed" for job in chunk.jobs
                       if job.sent_and_failed})
        try:
            await asyncio.to_thread(self.coordinator.release, chunk.key, failed)
        except Exception as error:
            log.warning("could not release claim %s: %s", chunk.key, error)

    async def aclose(self) -> None:
        # Chunks whose last jobs were cancelled before they started: released here.
        for chunk in {id(c): c for c in self._by_job.values()}.values():
            if chunk.mine and not chunk.released:
                await self._release(chunk)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        try:
            await asyncio.to_thread(self.coordinator.close)
        except Exception as error:
            log.warning("could not remove the heartbeat: %s", error)


class ClaimedFailed(BlogImagesError):
    """An earlier runner marked this job failed; it is not paid for again unless asked."""

    exit_code = ExitCode.TEMPORARY
