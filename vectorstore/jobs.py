"""A small bounded worker pool for ingestion, with jobs a client can follow and cancel.

Uploads from the API and the UI are submitted here: while a file embeds, the event loop and the shared thread
pool stay free for `/readyz`, `GET /api/documents` and chat. At most `workers` ingest at once and at most
`capacity` wait; beyond that `submit` refuses at once with `QueueFullError` (the API answers 503 with
Retry-After, the UI says to try again), instead of piling up blocked threads.

Each submission is a `Job`: an unguessable id, a state (queued, running, done, failed, cancelled), per-file
progress (the stage a file is in: reading, parsing, chunking, embedding, saving, indexing; chunks embedded of
chunks to embed; an overall percentage) and its own cancel event. Cancelling a queued job means it never
starts; a running one is asked to stop and the work checks `job.cancelled()` at its own safe points (the
ingester: between files and embedding batches, and every 50 ms while a file is parsed, whose parser
process is then killed: `vectorstore.sandbox`), raising `JobCancelled`. Finished jobs stay listed for a
while (the last `keep`, at most `keep_seconds` old) so a client can poll after the end.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypedDict, TypeVar

from vectorstore.errors import JobCancelled, QueueFullError

T = TypeVar("T")
JobState = Literal["queued", "running", "done", "failed", "cancelled"]
FileState = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled"})
# What a running file is doing, in order: its bytes read and hashed, its text extracted (the parser
# process), split into chunks, the new chunks embedded, the chunks' metadata saved, the keyword index
# brought up to date.
Stage = Literal["reading", "parsing", "chunking", "embedding", "saving", "indexing"]
STAGES: tuple[str, ...] = ("reading", "parsing", "chunking", "embedding", "saving", "indexing")
# A PDF's share of its progress that is its parse (page by page); the rest is its embedding. Measured: a
# 255-chunk manual parsed in 29 s and embedded in 60 s on two busy cores.
PARSE_SHARE = 0.25


class ProgressHooks(TypedDict):
    """The keyword arguments `IngestService.add_upload` and `ingest` take to report to a job."""

    progress: Callable[[int, int], None]
    cancelled: Callable[[], bool]
    stage: Callable[[Stage], None]
    pages: Callable[[int, int], None]
    keep_written: Callable[[], bool]


@dataclass
class FileProgress:
    """One file of a job: `chunks` embedded so far of `chunks_total` (None until the file is chunked),
    `pages` parsed of `pages_total` (a PDF's; None for other files), and the `stage` it is in since
    `stage_started_at` (None before it starts and once it ended)."""

    name: str
    state: FileState = "queued"
    chunks: int = 0
    chunks_total: int | None = None
    error: str | None = None
    stage: Stage | None = None
    stage_started_at: float | None = None
    pages: int = 0
    pages_total: int | None = None

    def fraction(self) -> float:
        """How much of this file is done, 0 to 1 (1 once it ended): its share of chunks embedded; for a
        PDF, whose parse takes a while, its pages parsed count for the first `PARSE_SHARE`."""
        if self.state in FINISHED:
            return 1.0
        if self.state == "queued":
            return 0.0
        embedded = min(self.chunks / self.chunks_total, 1.0) if self.chunks_total else 0.0
        if not self.pages_total:
            return embedded
        parsed = 1.0 if self.chunks_total is not None else min(self.pages / self.pages_total, 1.0)
        return PARSE_SHARE * parsed + (1 - PARSE_SHARE) * embedded


@dataclass
class Job(Generic[T]):
    """A unit of queued work; its counters are written by the worker and read by pollers, under `_lock`."""

    name: str
    future: Future[T] = field(repr=False)
    files: list[FileProgress] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: JobState = "queued"
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    # set with `cancel_event` when another worker took the job over: stop, but leave what was written
    abandon_event: threading.Event = field(default_factory=threading.Event, repr=False)
    _result: T | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- read by anyone ---------------------------------------------------------------------------------
    def cancelled(self) -> bool:
        """Whether a cancel was asked for: the work's check at each safe point."""
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise JobCancelled()

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def result(self) -> T | None:
        """The work's return value once it returned (the job `done`, or `failed` for some of its files)."""
        with self._lock:
            return self._result

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the state and counters (the worker may be writing meanwhile)."""
        with self._lock:
            files = [FileProgress(**vars(f)) for f in self.files]
            state, error = self.state, self.error
        totals = [f.chunks_total for f in files if f.chunks_total is not None]
        done = sum(f.fraction() for f in files) / len(files) if files else float(state in FINISHED)
        return {
            "id": self.id,
            "name": self.name,
            "state": state,
            "cancel_requested": self.cancel_event.is_set(),
            "files_done": sum(f.state in ("done", "failed") for f in files),
            "files_total": len(files),
            "chunks_done": sum(f.chunks for f in files),
            "chunks_total": sum(totals),
            # floored: 100 only once every file has ended
            "percent": 100 if state in FINISHED else min(int(done * 100), 99),
            "files": [vars(f) for f in files],
            "error": error,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }

    # -- written by the work ----------------------------------------------------------------------------
    def file_started(self, index: int) -> None:
        with self._lock:
            entry = self.files[index]
            entry.state, entry.stage, entry.stage_started_at = "running", "reading", time.time()

    def file_stage(self, index: int, stage: Stage) -> None:
        """File `index` entered `stage`: the ingester's stage callback."""
        with self._lock:
            entry = self.files[index]
            if entry.stage != stage:
                entry.stage, entry.stage_started_at = stage, time.time()

    def file_progress(self, index: int, done: int, total: int) -> None:
        """`done` of `total` chunks of file `index` are written: the ingester's progress callback."""
        with self._lock:
            self.files[index].chunks = done
            self.files[index].chunks_total = total

    def file_pages(self, index: int, done: int, total: int) -> None:
        """`done` of `total` pages of file `index` are parsed: the ingester's pages callback."""
        with self._lock:
            self.files[index].pages = done
            self.files[index].pages_total = total

    def file_finished(self, index: int, state: FileState, error: str | None = None) -> None:
        with self._lock:
            entry = self.files[index]
            entry.state, entry.error = state, error
            entry.stage = entry.stage_started_at = None
            if state == "done" and entry.chunks_total is None:
                entry.chunks_total = entry.chunks

    def hooks(self, index: int) -> ProgressHooks:
        """The ingester's `progress`, `cancelled` and `stage` keyword arguments for file `index`."""
        return ProgressHooks(
            progress=lambda done, total: self.file_progress(index, done, total),
            cancelled=self.cancel_event.is_set,
            stage=lambda stage: self.file_stage(index, stage),
            pages=lambda done, total: self.file_pages(index, done, total),
            keep_written=self.abandon_event.is_set,
        )

    # -- the queue's transitions ------------------------------------------------------------------------
    def _start(self) -> bool:
        with self._lock:
            if self.state != "queued":
                return False  # cancelled while it waited: it never starts
            self.state, self.started_at = "running", time.time()
            return True

    def _finish(self, state: JobState, error: str | None = None, result: T | None = None) -> None:
        with self._lock:
            self._finish_locked(state, error)
            self._result = result

    def _finish_locked(self, state: JobState, error: str | None) -> None:
        """The end state, set before the future completes: whoever the future wakes sees it final."""
        leftover: FileState = "done" if state == "done" else state
        for entry in self.files:
            if entry.state in ("queued", "running"):  # files the work did not report on end with the job
                entry.state = leftover
            entry.stage = entry.stage_started_at = None
        failed = [f for f in self.files if f.state == "failed"]
        if state == "done" and failed:  # the work went on past a file it could not ingest
            state = "failed"
            error = "; ".join(f.error or f"'{f.name}' failed" for f in failed)
        self.state, self.error, self.finished_at = state, error, time.time()

    def _cancel_if_queued(self) -> bool:
        with self._lock:
            if self.state != "queued":
                return False
            self._finish_locked("cancelled", "cancelled before it started")
            return True


class IngestQueue:
    """A fixed pool of ingestion workers with a bounded queue in front of it, and the recent jobs."""

    def __init__(
        self,
        workers: int = 1,
        capacity: int = 16,
        keep: int = 100,
        keep_seconds: float = 3600.0,
        on_finish: Callable[[Job[Any]], None] | None = None,
    ) -> None:
        self.on_finish = on_finish  # each job as it ends, done, failed or cancelled (the metrics)
        self.workers = workers
        self.capacity = capacity
        self.keep = keep
        self.keep_seconds = keep_seconds
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest")
        self._slots = threading.BoundedSemaphore(workers + capacity)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job[Any]] = {}
        self._done: OrderedDict[str, Job[Any]] = OrderedDict()

    def submit(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Job[T]:
        """Queues `fn(*args, **kwargs)`; QueueFullError at once when `workers + capacity` jobs are pending."""
        return self.submit_job(name, lambda _job: fn(*args, **kwargs))

    def submit_job(self, name: str, fn: Callable[[Job[T]], T], files: Sequence[str] = ()) -> Job[T]:
        """Queues `fn(job)`: the work gets its job, to report per-file progress and check for a cancel."""
        if not self._slots.acquire(blocking=False):
            raise QueueFullError(self.capacity)
        job: Job[T] = Job(name, Future(), [FileProgress(f) for f in files])
        with self._lock:
            self._jobs[job.id] = job
        job.future.add_done_callback(lambda _: self._finished(job))
        try:
            self._pool.submit(self._run, job, fn)
        except BaseException:
            job._finish("failed", "the ingestion queue is shut down")
            job.future.set_exception(RuntimeError("the ingestion queue is shut down"))  # frees the slot
            raise
        return job

    @staticmethod
    def _run(job: Job[T], fn: Callable[[Job[T]], T]) -> None:
        if not job._start() or not job.future.set_running_or_notify_cancel():
            return
        try:
            result = fn(job)
        except JobCancelled as exc:
            job._finish("cancelled", str(exc))
            job.future.set_exception(exc)
        except BaseException as exc:
            job._finish("failed", str(exc) or type(exc).__name__)
            job.future.set_exception(exc)
        else:
            job._finish("done", result=result)
            job.future.set_result(result)

    def _finished(self, job: Job[Any]) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)
            self._done[job.id] = job
            self._prune()
        self._slots.release()
        if self.on_finish is not None:
            self.on_finish(job)

    def _prune(self) -> None:
        """Forgets finished jobs beyond the last `keep` or older than `keep_seconds` (under `_lock`)."""
        oldest = time.time() - self.keep_seconds
        while self._done and (
            len(self._done) > self.keep or (next(iter(self._done.values())).finished_at or 0) < oldest
        ):
            self._done.popitem(last=False)

    def get(self, job_id: str) -> Job[Any] | None:
        with self._lock:
            self._prune()
            return self._jobs.get(job_id) or self._done.get(job_id)

    def jobs(self) -> list[Job[Any]]:
        """The pending and the recently finished jobs, newest first."""
        with self._lock:
            self._prune()
            found = [*self._jobs.values(), *self._done.values()]
        return sorted(found, key=lambda j: j.created_at, reverse=True)

    def cancel(self, job_id: str) -> Job[Any] | None:
        """Cancels a job: a queued one never starts, a running one stops at its next safe point. None when
        the id is unknown; a finished job is returned as it is."""
        job = self.get(job_id)
        if job is None or job.finished:
            return job
        job.cancel_event.set()
        if job._cancel_if_queued():
            job.future.set_exception(JobCancelled("cancelled before it started"))  # frees its slot now
        return job

    def pending(self) -> list[Job[Any]]:
        """The jobs queued or running, oldest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created_at)

    def shutdown(self, wait: bool = False) -> None:
        for job in self.pending():
            self.cancel(job.id)
        self._pool.shutdown(wait=wait, cancel_futures=True)
