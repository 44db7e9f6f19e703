"""/api/jobs: the ingestion jobs (`POST /api/documents?wait=false`): list, follow, cancel. Admins only, like
the uploads that make them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from assistant.errors import NotFoundError
from assistant.server.deps import AdminDep, IngestQueueDep, StorageDep, require_api_key
from assistant.server.errors import error_responses
from assistant.server.schemas import JobInfo, JobLinks, JobList, UploadResult
from assistant.storage import JobRecord, Storage
from vectorstore.jobs import IngestQueue, Job

PREFIX = "/api/jobs"

router = APIRouter(
    prefix=PREFIX,
    tags=["native"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 403, 500),
)


def job_info(job: Job[Any]) -> JobInfo:
    """The job as the API shows it: its state and counters at this moment, the report once it ended."""
    snapshot = job.snapshot()
    result = job.result() if snapshot["state"] in ("done", "failed") else None
    return JobInfo(
        **snapshot,
        report=result if isinstance(result, UploadResult) else None,
        links=JobLinks(job=f"{PREFIX}/{job.id}", documents="/api/documents"),
    )


def record_info(record: JobRecord) -> JobInfo:
    """A job of the durable queue as the API shows it: the same fields and states as one in memory."""
    snapshot = record.snapshot()
    done = record.state in ("done", "failed") and record.result is not None
    return JobInfo(
        **snapshot,
        report=UploadResult.model_validate(record.result) if done else None,
        links=JobLinks(job=f"{PREFIX}/{record.id}", documents="/api/documents"),
    )


def _missing(job_id: str) -> NotFoundError:
    return NotFoundError(
        f"no job {job_id!r} (finished jobs are kept for a while, then forgotten)", param="job_id"
    )


def _find(queue: IngestQueue, storage: Storage | None, job_id: str) -> JobInfo:
    """This process's own job (an awaited upload, the UI's), else the durable queue's, else 404."""
    job = queue.get(job_id)
    if job is not None:
        return job_info(job)
    record = storage.jobs.get(job_id) if storage is not None else None
    if record is None:
        raise _missing(job_id)
    return record_info(record)


def _cancel(queue: IngestQueue, storage: Storage | None, job_id: str) -> JobInfo:
    job = queue.cancel(job_id)
    if job is not None:
        return job_info(job)
    record = storage.jobs.cancel(job_id) if storage is not None else None
    if record is None:
        raise _missing(job_id)
    return record_info(record)


def _all(queue: IngestQueue, storage: Storage | None) -> list[JobInfo]:
    found = [job_info(job) for job in queue.jobs()]
    if storage is not None:
        found += [record_info(r) for r in storage.jobs.recent(queue.keep, queue.keep_seconds)]
    return sorted(found, key=lambda info: info.created_at, reverse=True)


@router.get("", response_model=JobList)
async def list_jobs(queue: IngestQueueDep, storage: StorageDep, _admin: AdminDep) -> JobList:
    return JobList(jobs=await run_in_threadpool(_all, queue, storage))


@router.get("/{job_id}", response_model=JobInfo, responses=error_responses(404))
async def get_job(job_id: str, queue: IngestQueueDep, storage: StorageDep, _admin: AdminDep) -> JobInfo:
    return await run_in_threadpool(_find, queue, storage, job_id)


@router.delete("/{job_id}", response_model=JobInfo, responses=error_responses(404))
async def cancel_job(job_id: str, queue: IngestQueueDep, storage: StorageDep, _admin: AdminDep) -> JobInfo:
    """Cancels the job: a queued one never starts (`cancelled` at once); a running one stops at its next
    embedding batch, taking the file it was ingesting out again (poll until `cancelled`). A finished job is
    returned unchanged."""
    return await run_in_threadpool(_cancel, queue, storage, job_id)
