"""/api/documents: list, upload (ingested in the background queue, awaited) and delete documents."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from assistant.errors import ConflictError, FileTooLargeError, UnreadableFileError, UnsupportedFileTypeError
from assistant.server.auth import AdminDep, PrincipalDep, require_api_key
from assistant.server.deps import IngestDep, IngestQueueDep, SettingsDep, StorageDep
from assistant.server.errors import error_responses
from assistant.server.schemas import DeleteResult, DocumentList, IngestedFile, UploadResult
from assistant.server.scope import usable_collections
from assistant.storage import Storage
from assistant.storage.users import check_name
from vectorstore.ingest import safe_upload_name
from vectorstore.loaders import SUPPORTED_SUFFIXES

router = APIRouter(
    prefix="/api/documents",
    tags=["native"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 500, 503),
)


@router.get("", response_model=DocumentList)
async def list_documents(ingest: IngestDep, storage: StorageDep, principal: PrincipalDep) -> DocumentList:
    documents = await run_in_threadpool(ingest.list_documents)
    if not principal.is_admin:  # a member sees the documents of the collections granted to them
        allowed = set(await run_in_threadpool(usable_collections, storage, principal))
        documents = [d for d in documents if d.collection in allowed]
    return DocumentList(documents=documents)


@router.post("", response_model=UploadResult, responses=error_responses(400, 403, 409, 413, 415, 422))
async def upload_documents(
    files: Annotated[
        list[UploadFile],
        File(description="txt, md, rst, html, pdf, docx, pptx, xlsx, csv, tsv", min_length=1),
    ],
    settings: SettingsDep,
    ingest: IngestDep,
    queue: IngestQueueDep,
    _admin: AdminDep,
    storage: StorageDep,
    replace: Annotated[
        bool, Query(description="Replace a document of the same name (else 409 when one exists).")
    ] = False,
    collection: Annotated[
        str | None,
        Form(description="The collection the files go to (created if new; default: 'default'). Admins only."),
    ] = None,
) -> UploadResult:
    limit = int(settings.max_upload_mb * 1_000_000)
    into: dict[str, str] = {}
    if collection is not None:
        check_name(collection, "collection")  # 400 for a name the collections cannot hold
        await run_in_threadpool(ensure_collection, storage, collection)
        into = {"collection": collection}
    ingested = []
    for upload in files:
        name = upload.filename or ""
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            raise UnsupportedFileTypeError(
                f"unsupported file type for {name!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})",
                param="files",
            )
        safe_upload_name(name)  # UploadError (400): a path, a hidden file, a name too long for the disk
        data = await upload.read(limit + 1)  # never more than the limit + 1 byte in memory
        if len(data) > limit:
            raise FileTooLargeError(
                f"'{name}' is larger than the {settings.max_upload_mb:g} MB limit", param="files"
            )
        # S6: ingested by the bounded worker pool and awaited, so no request thread waits on the embedding;
        # QueueFullError (503 + Retry-After) when too many uploads wait; DocumentExistsError 409.
        job = queue.submit(name, ingest.add_upload, name, data, limit, replace=replace, **into)
        report = await asyncio.wrap_future(job.future)
        if report.skipped:
            raise UnreadableFileError(
                f"'{name}' could not be ingested: {report.skipped[0].reason}", param="files"
            )
        ingested.append(IngestedFile(filename=name, **report.as_dict()))
    return UploadResult(ingested=ingested)


def ensure_collection(storage: Storage | None, name: str) -> None:
    """The collection exists in the database (so it can be granted), created on first use."""
    if storage is not None and storage.collections.get(name) is None:
        with contextlib.suppress(ConflictError):  # made meanwhile by another request
            storage.collections.add(name)


@router.delete("/{source:path}", response_model=DeleteResult, responses=error_responses(403, 404))
async def delete_document(source: str, ingest: IngestDep, _admin: AdminDep) -> DeleteResult:
    removed = await run_in_threadpool(ingest.delete, source)  # UnknownDocumentError: 404
    return DeleteResult(deleted=source, chunks_removed=removed)
