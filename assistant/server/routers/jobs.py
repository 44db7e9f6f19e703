"""/api/jobs: the ingestion jobs (`POST /api/documents?wait=false`): list, follow, cancel. Admins only, like
the uploads that make them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from assistant.errors import NotFoundError
from assistant.server.deps import AdminDep, IngestQueueDep, require_api_key
from assistant.server.errors import error_responses
from assistant.server.schemas import JobInfo, JobLinks, JobList, UploadResult
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


def _job(queue: IngestQueue, job_id: str) -> Job[Any]:
    job = queue.get(job_id)
    if job is None:
        raise NotFoundError(
            f"no job {job_id!r} (finished jobs are kept for a while, then forgotten)", param="job_id"
        )
    return job


@router.get("", response_model=JobList)
async def list_jobs(queue: IngestQueueDep, _admin: AdminDep) -> JobList:
    return JobList(jobs=[job_info(job) for job in queue.jobs()])


@router.get("/{job_id}", response_model=JobInfo, responses=error_responses(404))
async def get_job(job_id: str, queue: IngestQueueDep, _admin: AdminDep) -> JobInfo:
    return job_info(_job(queue, job_id))


@router.delete("/{job_id}", response_model=JobInfo, responses=error_responses(404))
async def cancel_job(job_id: str, queue: IngestQueueDep, _admin: AdminDep) -> JobInfo:
    """Cancels the job: a queued one never starts (`cancelled` at once); a running one stops at its next
    embedding batch, taking the file it was ingesting out again (poll until `cancelled`). A finished job is
    returned unchanged."""
    return job_info(queue.cancel(job_id) or _job(queue, job_id))
