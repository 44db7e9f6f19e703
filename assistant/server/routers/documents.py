"""/api/documents: list, upload (ingested in the background queue: awaited, or `wait=false` for a job to
poll) and delete documents."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from assistant.access.scopes import visible_documents
from assistant.errors import (
    ConflictError,
    FileTooLargeError,
    InvalidRequestError,
    UnreadableFileError,
    UnsupportedFileTypeError,
)
from assistant.server.deps import (
    AdminDep,
    IngestDep,
    IngestQueueDep,
    PrincipalDep,
    SettingsDep,
    StorageDep,
    require_api_key,
)
from assistant.server.errors import error_responses
from assistant.server.ingest_jobs import ingest_uploads
from assistant.server.routers.jobs import job_info, record_info
from assistant.server.schemas import DeleteResult, DocumentList, IngestedFile, JobInfo, UploadResult
from assistant.storage import JobRecord, Storage
from assistant.storage.users import check_name
from vectorstore.errors import DocumentExistsError, JobCancelled, QueueFullError
from vectorstore.ingest import (
    DEFAULT_COLLECTION,
    IngestReport,
    IngestService,
    safe_upload_name,
)
from vectorstore.jobs import FileProgress, IngestQueue, Job
from vectorstore.loaders import SUPPORTED_SUFFIXES

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/api/documents",
    tags=["native"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 500, 503),
)


@router.get("", response_model=DocumentList)
async def list_documents(ingest: IngestDep, storage: StorageDep, principal: PrincipalDep) -> DocumentList:
    documents = await run_in_threadpool(visible_documents, ingest, storage, principal)
    return DocumentList(documents=documents)


@router.post(
    "",
    response_model=UploadResult,
    responses={
        **error_responses(400, 403, 409, 413, 415, 422),
        202: {"model": JobInfo, "description": "`wait=false`: queued; follow it at `links.job`"},
    },
)
async def upload_documents(
    files: Annotated[
        list[UploadFile],
        File(description=f"Files of the supported types: {', '.join(SUPPORTED_SUFFIXES)}", min_length=1),
    ],
    settings: SettingsDep,
    ingest: IngestDep,
    queue: IngestQueueDep,
    _admin: AdminDep,
    storage: StorageDep,
    replace: Annotated[
        bool, Query(description="Replace a document of the same name (else 409 when one exists).")
    ] = False,
    wait: Annotated[
        bool,
        Query(
            description="true: answer when ingested (200, the report). false: answer at once (202, the job "
            "to poll at GET /api/jobs/{id}, cancel with DELETE); the same checks come first."
        ),
    ] = True,
    collection: Annotated[
        str | None,
        Form(description="The collection the files go to (created if new; default: 'default'). Admins only."),
    ] = None,
) -> UploadResult | JSONResponse:
    if len(files) > settings.max_upload_files:  # N5: the body's size is bounded before; the count here
        raise InvalidRequestError(
            f"{len(files)} files in one upload; the limit is {settings.max_upload_files} "
            "(RAG_MAX_UPLOAD_FILES): send them in several requests",
            param="files",
            code="too_many_files",
        )
    limit = int(settings.max_upload_mb * 1_000_000)
    target = DEFAULT_COLLECTION
    if collection is not None:
        check_name(collection, "collection")  # 400 for a name the collections cannot hold
        await run_in_threadpool(ensure_collection, storage, collection)
        target = collection
    if not wait:
        uploads = [await read_upload(upload, limit, settings.max_upload_mb) for upload in files]
        return await start_upload_job(queue, storage, ingest, uploads, limit, replace, target)
    into: dict[str, Any] = {"collection": collection} if collection is not None else {}
    ingested = []
    for upload in files:
        name, data = await read_upload(upload, limit, settings.max_upload_mb)
        # S6: ingested by the bounded worker pool and awaited, so no request thread waits on the embedding;
        # QueueFullError (503 + Retry-After) when too many uploads wait; DocumentExistsError 409.
        job = queue.submit_job(name, awaited_upload(ingest, name, data, limit, replace, into), files=[name])
        try:
            report = await asyncio.wrap_future(job.future)
        except JobCancelled as exc:  # DELETE /api/jobs/{id} meanwhile
            raise ConflictError(f"the upload of '{name}' was cancelled", code="cancelled") from exc
        if report.skipped:
            raise UnreadableFileError(
                f"'{name}' could not be ingested: {report.skipped[0].reason}", param="files"
            )
        ingested.append(IngestedFile(filename=name, **report.as_dict()))
    return UploadResult(ingested=ingested)


def awaited_upload(
    ingest: IngestService, name: str, data: bytes, limit: int, replace: bool, into: dict[str, Any]
) -> Callable[[Job[IngestReport]], IngestReport]:
    """The work of a `wait=true` upload: listed in /api/jobs like the others, cancelled only while queued
    (the request waits on it; the ingester is called as before, without progress hooks)."""

    def work(job: Job[IngestReport]) -> IngestReport:
        job.file_started(0)
        report = ingest.add_upload(name, data, limit, replace=replace, **into)
        if report.skipped:
            job.file_finished(0, "failed", f"'{name}' could not be ingested: {report.skipped[0].reason}")
        else:
            job.file_finished(0, "done")
        return report

    return work


async def read_upload(upload: UploadFile, limit: int, limit_mb: float) -> tuple[str, bytes]:
    """The file's name and bytes, after the checks every upload passes first (415, 400, 413)."""
    name = upload.filename or ""
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileTypeError(
            f"unsupported file type for {name!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})",
            param="files",
        )
    safe_upload_name(name)  # UploadError (400): a path, a hidden file, a name too long for the disk
    data = await upload.read(limit + 1)  # never more than the limit + 1 byte in memory
    if len(data) > limit:
        raise FileTooLargeError(f"'{name}' is larger than the {limit_mb:g} MB limit", param="files")
    return name, data


async def start_upload_job(
    queue: IngestQueue,
    storage: Storage | None,
    ingest: IngestService,
    uploads: list[tuple[str, bytes]],
    limit: int,
    replace: bool,
    collection: str,
) -> JSONResponse:
    """Queues the uploads as one job and answers 202 with it; a name taken is 409 now, not a failed job.
    The job goes to the durable queue in the database, where any worker takes it and any replica answers for
    it; without a database, to this process's own queue."""
    if not replace:
        for name, _ in uploads:
            if await run_in_threadpool(ingest.has_document, name):
                raise DocumentExistsError(name)
    names = [name for name, _ in uploads]
    label = names[0] + (f" (+{len(names) - 1} more)" if len(names) > 1 else "")
    if storage is None:
        job = queue.submit_job(  # QueueFullError: 503 + Retry-After
            label,
            lambda job: ingest_uploads(job, ingest, uploads, limit, replace, collection),
            files=names,
        )
        info = job_info(job)
    else:
        options = {"replace": replace, "collection": collection, "limit": limit}
        info = record_info(await run_in_threadpool(submit_stored, storage, queue, label, uploads, options))
    return JSONResponse(info.model_dump(mode="json"), status_code=202, headers={"Location": info.links.job})


def submit_stored(
    storage: Storage,
    queue: IngestQueue,
    label: str,
    uploads: list[tuple[str, bytes]],
    options: dict[str, Any],
) -> JobRecord:
    """The job and its uploads stored; QueueFullError (503) when the queue's bound of waiting jobs is met."""
    if storage.jobs.waiting() >= queue.capacity:
        raise QueueFullError(queue.capacity)
    names = [name for name, _ in uploads]
    progress = Job(label, Future(), [FileProgress(name) for name in names]).snapshot()
    return storage.jobs.submit(label, uploads, options, progress)


def ensure_collection(storage: Storage | None, name: str) -> None:
    """The collection exists in the database (so it can be granted), created on first use."""
    if storage is not None and storage.collections.get(name) is None:
        with contextlib.suppress(ConflictError):  # made meanwhile by another request
            storage.collections.add(name)


@router.delete("/{source:path}", response_model=DeleteResult, responses=error_responses(403, 404))
async def delete_document(source: str, ingest: IngestDep, _admin: AdminDep) -> DeleteResult:
    removed = await run_in_threadpool(ingest.delete, source)  # UnknownDocumentError: 404
    return DeleteResult(deleted=source, chunks_removed=removed)
