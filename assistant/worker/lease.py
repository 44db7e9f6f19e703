"""The lease keeper: while a worker ingests a job, a thread beside it stores the job's progress, renews the
worker's hold on the job and brings back a cancel asked for through any replica."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from assistant.storage import JobQueueService
from vectorstore.jobs import Job

log = logging.getLogger(__name__)


def stored_progress(job: Job[Any], reports: list[dict[str, Any]]) -> dict[str, Any]:
    """What the database keeps of a running job: its snapshot (files, counters) and the finished files'
    reports, for an attempt that resumes it."""
    return {**job.snapshot(), "ingested": list(reports)}


class LeaseKeeper:
    """Every `interval` seconds: the progress written and the lease renewed in one statement; a cancel seen
    there sets the job's cancel event, which the ingester checks between files and embedding batches."""

    def __init__(
        self,
        jobs: JobQueueService,
        job: Job[Any],
        owner: str,
        reports: list[dict[str, Any]],
        interval: float,
    ) -> None:
        self.jobs = jobs
        self.job = job
        self.owner = owner
        self.reports = reports
        self.interval = interval
        self.cancel_requested = False  # by a user (not by this worker stopping)
        self.lost = False  # the lease ran out and another worker took the job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job.id[:8]}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        try:
            cancel = self.jobs.report(self.job.id, self.owner, stored_progress(self.job, self.reports))
        except SQLAlchemyError as exc:  # the database is away for a moment: the lease has time to spare
            log.warning("could not renew the lease of job %s: %s", self.job.id, exc)
            return
        if cancel is None:
            # Another worker holds the job now: this one stops at its next safe point and leaves what it
            # wrote (the same chunk ids as the other's, which keeps them or, cancelled, takes them out).
            # Going on to the end of the file, it would write chunks after a cancel the other carried out.
            if not self.lost:
                log.warning("worker %s lost the lease of job %s", self.owner, self.job.id)
            self.lost = True
            self.job.abandon_event.set()
            self.job.cancel_event.set()
        elif cancel:
            self.cancel_requested = True
            self.job.cancel_event.set()
