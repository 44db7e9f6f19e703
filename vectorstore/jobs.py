"""A small bounded worker pool for ingestion, so a large upload never holds the server's request threads.

Uploads from the API and the UI are submitted here and awaited (`asyncio.wrap_future`): while a file
embeds, the event loop and the shared thread pool stay free for `/readyz`, `GET /api/documents` and chat. At
most `workers` ingest at once and at most `capacity` wait; beyond that `submit` refuses at once with
`QueueFullError` (the API answers 503 with Retry-After, the UI says to try again), instead of piling up
blocked threads.

It is meant to grow into the job system (progress, cancel, listing): each submission is a `Job` with an id
and a state; today it carries the future only.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")
JobState = Literal["queued", "running", "done", "failed"]


class QueueFullError(RuntimeError):
    """Too many uploads are waiting; the message is for the user."""

    def __init__(self, capacity: int, retry_after: int = 5) -> None:
        self.capacity = capacity
        self.retry_after = retry_after
        super().__init__(
            f"the ingestion queue is full ({capacity} uploads waiting); try again in a few seconds"
        )


@dataclass
class Job(Generic[T]):
    id: int
    name: str
    future: Future[T] = field(repr=False)
    state: JobState = "queued"


class IngestQueue:
    """A fixed pool of ingestion workers with a bounded queue in front of it."""

    def __init__(self, workers: int = 1, capacity: int = 16) -> None:
        self.workers = workers
        self.capacity = capacity
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest")
        self._slots = threading.BoundedSemaphore(workers + capacity)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._jobs: dict[int, Job[Any]] = {}

    def submit(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Job[T]:
        """Queues `fn(*args, **kwargs)`; QueueFullError at once when `workers + capacity` jobs are pending."""
        if not self._slots.acquire(blocking=False):
            raise QueueFullError(self.capacity)
        job: Job[T] = Job(next(self._ids), name, Future())

        def run() -> None:
            if not job.future.set_running_or_notify_cancel():
                return
            job.state = "running"
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                job.state = "failed"
                job.future.set_exception(exc)
            else:
                job.state = "done"
                job.future.set_result(result)

        with self._lock:
            self._jobs[job.id] = job
        job.future.add_done_callback(lambda _: self._finished(job.id))
        try:
            self._pool.submit(run)
        except BaseException:
            job.future.cancel()  # releases the slot through the callback
            raise
        return job

    def _finished(self, job_id: int) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)
        self._slots.release()

    def pending(self) -> list[Job[Any]]:
        """The jobs queued or running, oldest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.id)

    def shutdown(self, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
