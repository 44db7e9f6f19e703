"""The durable ingestion queue: job records and their uploads in the database, taken by workers under a lease.

Any replica submits, reads and cancels a job; any worker (`assistant worker`, or the thread each app process
runs by default) claims one. A claim is a lease: the worker renews it while it works (every few seconds, with
each progress report) and a worker that stops renewing it, killed with `kill -9` or cut off, loses the job to
the next claim once `lease_seconds` have passed. On PostgreSQL the claim is `SELECT ... FOR UPDATE SKIP
LOCKED`, so workers never wait on each other; on SQLite (one machine) the same statements run without it.
Every write a worker makes is conditional on still holding the lease (`lease_owner`), so a worker that lost
its job cannot overwrite what the next one reports; a claim is a compare-and-set on (state, attempts), so two
claimers never both win, whatever the backend's locking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from assistant.storage.db import Database
from assistant.storage.models import IngestJob, IngestUpload, utcnow

FINISHED = ("done", "failed", "cancelled")


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


@dataclass(frozen=True)
class JobRecord:
    """A job as stored: its state, the progress its worker last reported, and how to ingest it."""

    id: str
    name: str
    state: str
    cancel_requested: bool
    options: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    lease_owner: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def of(cls, row: IngestJob) -> JobRecord:
        return cls(
            row.id,
            row.name,
            row.state,
            row.cancel_requested,
            dict(row.options or {}),
            dict(row.progress or {}),
            row.result,
            row.error,
            row.attempts,
            row.lease_owner,
            row.created_at.timestamp(),
            _epoch(row.started_at),
            _epoch(row.finished_at),
        )

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def snapshot(self) -> dict[str, Any]:
        """The job as `vectorstore.jobs.Job.snapshot()` shows one: the worker's last report, with the state,
        the cancel flag and the times as the database holds them now."""
        return {
            **self.progress,
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "cancel_requested": self.cancel_requested,
            "error": self.error,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


class JobQueueService:
    """Submit, read, cancel (any replica); claim, renew, report, finish, release (the worker holding it)."""

    def __init__(self, db: Database, lease_seconds: float = 30.0, max_attempts: int = 3) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts

    # -- any replica ------------------------------------------------------------------------------------
    def submit(
        self,
        name: str,
        uploads: Sequence[tuple[str, bytes]],
        options: dict[str, Any],
        progress: dict[str, Any],
    ) -> JobRecord:
        """A queued job with its uploads' bytes, in one transaction: a worker never sees one without the
        other."""
        with self.db.session() as session:
            row = IngestJob(name=name[:300], state="queued", options=options, progress=progress)
            session.add(row)
            session.flush()
            for position, (filename, data) in enumerate(uploads):
                session.add(IngestUpload(job_id=row.id, position=position, name=filename, data=data))
            return JobRecord.of(row)

    def get(self, job_id: str) -> JobRecord | None:
        with self.db.session() as session:
            row = session.get(IngestJob, job_id)
            return None if row is None else JobRecord.of(row)

    def recent(self, limit: int = 100, keep_seconds: float = 3600.0) -> list[JobRecord]:
        """The pending jobs and those finished within `keep_seconds`, newest first."""
        since = utcnow() - timedelta(seconds=keep_seconds)
        with self.db.session() as session:
            rows = session.scalars(
                select(IngestJob)
                .where(or_(IngestJob.finished_at.is_(None), IngestJob.finished_at >= since))
                .order_by(IngestJob.created_at.desc())
                .limit(limit)
            )
            return [JobRecord.of(row) for row in rows]

    def waiting(self) -> int:
        """How many jobs wait for a worker (the queue's bound counts these)."""
        with self.db.session() as session:
            return int(session.scalar(select(func.count()).where(IngestJob.state == "queued")) or 0)

    def cancel(self, job_id: str) -> JobRecord | None:
        """A queued job ends `cancelled` at once; a running one is flagged, and its worker stops at its next
        safe point. None for an unknown id; a finished job is returned as it is."""
        now = utcnow()
        with self.db.session() as session:
            session.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id, IngestJob.state == "queued")
                .values(
                    state="cancelled",
                    cancel_requested=True,
                    error="cancelled before it started",
                    finished_at=now,
                )
            )
            session.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id, IngestJob.state == "running")
                .values(cancel_requested=True)
            )
            row = session.get(IngestJob, job_id)
            if row is not None and row.state == "cancelled" and row.lease_owner is None:
                session.execute(delete(IngestUpload).where(IngestUpload.job_id == job_id))
            return None if row is None else JobRecord.of(row)

    def prune(self, keep_seconds: float = 3600.0) -> int:
        """Forgets the jobs finished more than `keep_seconds` ago (their uploads went when they ended)."""
        since = utcnow() - timedelta(seconds=keep_seconds)
        with self.db.session() as session:
            done = session.execute(delete(IngestJob).where(IngestJob.finished_at < since))
            return int(getattr(done, "rowcount", 0) or 0)

    # -- the worker -------------------------------------------------------------------------------------
    def claim(self, owner: str) -> JobRecord | None:
        """The oldest job no live worker holds (queued, or running under an expired lease), now leased to
        `owner`; None when there is none (or another claimer won it: ask again)."""
        now = utcnow()
        with self.db.session() as session:
            row = session.scalars(
                select(IngestJob)
                .where(
                    or_(
                        IngestJob.state == "queued",
                        and_(IngestJob.state == "running", IngestJob.lease_expires_at < now),
                    )
                )
                .order_by(IngestJob.created_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            if row.attempts >= self.max_attempts:  # it stopped its workers that often: not again
                self._give_up(session, row, now)
                return None
            won = session.execute(
                update(IngestJob)
                .where(
                    IngestJob.id == row.id,
                    IngestJob.state == row.state,
                    IngestJob.attempts == row.attempts,
                )
                .values(
                    state="running",
                    lease_owner=owner,
                    lease_expires_at=now + timedelta(seconds=self.lease_seconds),
                    attempts=row.attempts + 1,
                    started_at=row.started_at or now,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(won, "rowcount", 0) != 1:
                return None
            session.expire(row)
            return JobRecord.of(row)

    def _give_up(self, session: Session, row: IngestJob, now: datetime) -> None:
        row.state, row.finished_at, row.lease_owner = "failed", now, None
        row.error = f"its worker stopped {row.attempts} times while ingesting it; not tried again"
        session.execute(delete(IngestUpload).where(IngestUpload.job_id == row.id))

    def uploads(self, job_id: str) -> list[tuple[str, bytes]]:
        with self.db.session() as session:
            rows = session.scalars(
                select(IngestUpload).where(IngestUpload.job_id == job_id).order_by(IngestUpload.position)
            )
            return [(row.name, row.data) for row in rows]

    def report(self, job_id: str, owner: str, progress: dict[str, Any] | None = None) -> bool | None:
        """Renews the lease (and stores `progress`): whether a cancel was asked for, or None when `owner`
        no longer holds the job (its lease ran out and another worker took it)."""
        values: dict[str, Any] = {"lease_expires_at": utcnow() + timedelta(seconds=self.lease_seconds)}
        if progress is not None:
            values["progress"] = progress
        with self.db.session() as session:
            held = session.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id, IngestJob.lease_owner == owner, IngestJob.state == "running")
                .values(**values)
            )
            if getattr(held, "rowcount", 0) != 1:
                return None
            return bool(session.scalar(select(IngestJob.cancel_requested).where(IngestJob.id == job_id)))

    def finish(
        self,
        job_id: str,
        owner: str,
        state: str,
        error: str | None,
        progress: dict[str, Any],
        result: dict[str, Any] | None,
    ) -> bool:
        """The job's end, if `owner` still holds it; its uploads go with it."""
        with self.db.session() as session:
            done = session.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id, IngestJob.lease_owner == owner, IngestJob.state == "running")
                .values(
                    state=state,
                    error=error,
                    progress=progress,
                    result=result,
                    finished_at=utcnow(),
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
            if getattr(done, "rowcount", 0) != 1:
                return False
            session.execute(delete(IngestUpload).where(IngestUpload.job_id == job_id))
            return True

    def release(self, job_id: str, owner: str, progress: dict[str, Any]) -> bool:
        """Gives the job back to the queue (a worker stopping on SIGTERM): the next claim resumes it."""
        with self.db.session() as session:
            done = session.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id, IngestJob.lease_owner == owner, IngestJob.state == "running")
                .values(
                    state="queued",
                    progress=progress,
                    lease_owner=None,
                    lease_expires_at=None,
                    attempts=IngestJob.attempts - 1,  # a worker stopping on purpose is not a failed try
                )
            )
            return getattr(done, "rowcount", 0) == 1
