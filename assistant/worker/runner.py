"""A worker: claims a job from the durable queue, runs it with a lease keeper beside it, stores its end.

The job's progress is followed in a `vectorstore.jobs.Job`, the same object the in-memory queue uses, so the
ingester reports to it as it always does; the lease keeper copies its snapshot to the database. A worker asked
to stop (SIGTERM, the app shutting down) cancels its running job at the next safe point and gives it back to
the queue, where the next claim resumes it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from assistant.storage import JobQueueService, JobRecord
from assistant.worker.lease import LeaseKeeper, stored_progress
from vectorstore.jobs import FileProgress, Job, JobCancelled

if TYPE_CHECKING:
    from assistant.server.ingest_jobs import StoredWork

log = logging.getLogger(__name__)
KEEP_SECONDS = 3600.0  # finished jobs stay listed this long, as in the in-memory queue
PRUNE_EVERY = 60.0


def worker_name() -> str:
    """Unique per worker: host, process and a random tail (a restarted process is a new owner)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def restore(record: JobRecord) -> Job[Any]:
    """The job's progress as its last worker reported it, running again; a file it was cut off in restarts."""
    files = []
    for entry in record.progress.get("files", []):
        progress = FileProgress(**{k: v for k, v in entry.items() if k in FileProgress.__dataclass_fields__})
        if progress.state == "running":
            progress.chunks, progress.chunks_total = 0, None
        files.append(progress)
    job: Job[Any] = Job(record.name, Future(), files, id=record.id, created_at=record.created_at)
    job._start()
    return job


class Worker:
    """One worker: one job at a time. `run()` loops until `stop()`; `run_one()` takes at most one job."""

    def __init__(
        self,
        jobs: JobQueueService,
        work: StoredWork,
        name: str | None = None,
        poll_seconds: float = 1.0,
        report_seconds: float = 0.5,
    ) -> None:
        self.jobs = jobs
        self.work = work
        self.name = name or worker_name()
        self.poll_seconds = poll_seconds
        self.report_seconds = min(report_seconds, jobs.lease_seconds / 3)
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        pruned = 0.0
        while not self.stopping.is_set():
            try:
                took = self.run_one()
                if not took and time.monotonic() - pruned > PRUNE_EVERY:  # idle: forget old finished jobs
                    self.jobs.prune(KEEP_SECONDS)
                    pruned = time.monotonic()
            except SQLAlchemyError as exc:  # the database is away: wait and ask again
                log.warning("worker %s: the job queue is unreachable: %s", self.name, exc)
                took = False
            if not took:
                self.stopping.wait(self.poll_seconds)

    def run_one(self) -> bool:
        """Claims and runs one job; False when none was waiting."""
        record = self.jobs.claim(self.name)
        if record is None:
            return False
        log.info("worker %s took job %s (attempt %d)", self.name, record.id, record.attempts)
        self._run(record)
        return True

    def _run(self, record: JobRecord) -> None:
        job = restore(record)
        reports: list[dict[str, Any]] = list(record.progress.get("ingested", []))
        stop_watch = threading.Thread(target=self._cancel_on_stop, args=(job,), daemon=True)
        stop_watch.start()
        result: dict[str, Any] | None = None
        with LeaseKeeper(self.jobs, job, self.name, reports, self.report_seconds) as keeper:
            keeper.beat()  # a cancel asked for while it waited is seen before any work
            try:
                uploads = self.jobs.uploads(record.id)
                result = self.work(job, record, uploads, reports)
            except JobCancelled as exc:
                if self.stopping.is_set() and not keeper.cancel_requested:
                    self.jobs.release(record.id, self.name, stored_progress(job, reports))
                    log.info("worker %s stopping: job %s back in the queue", self.name, record.id)
                    return
                job._finish("cancelled", str(exc))
            except Exception as exc:
                log.error("job %s failed", record.id, exc_info=exc)
                job._finish("failed", str(exc) or type(exc).__name__)
            else:
                job._finish("done", result=result)
        if keeper.lost:
            return
        progress = stored_progress(job, reports)
        self.jobs.finish(record.id, self.name, job.state, job.error, progress, result)

    def _cancel_on_stop(self, job: Job[Any]) -> None:
        """A worker asked to stop cancels its job at the next safe point (then gives it back)."""
        while not job.finished:
            if self.stopping.wait(0.2):
                job.cancel_event.set()
                return


class WorkerPool:
    """`count` workers, each in its own thread: the app's in-process workers, or `assistant worker`'s."""

    def __init__(self, jobs: JobQueueService, work: StoredWork, count: int = 1) -> None:
        self.workers = [Worker(jobs, work) for _ in range(count)]
        self._threads = [
            threading.Thread(target=w.run, name=f"worker-{i}", daemon=True)
            for i, w in enumerate(self.workers)
        ]

    def start(self) -> WorkerPool:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        """Asks every worker to stop; a running job is given back to the queue at its next safe point."""
        for worker in self.workers:
            worker.stop()
        if wait:
            for thread in self._threads:
                thread.join(timeout)
