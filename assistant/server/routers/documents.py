"""/api/documents: list, upload (ingested at once) and delete the documents the assistant answers from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, UploadFile
from starlette.concurrency import run_in_threadpool

from assistant.errors import FileTooLargeError, UnreadableFileError, UnsupportedFileTypeError
from assistant.server.auth import require_api_key
from assistant.server.deps import IngestDep, SettingsDep
from assistant.server.errors import error_responses
from assistant.server.schemas import DeleteResult, DocumentList, IngestedFile, UploadResult
from vectorstore.loaders import SUPPORTED_SUFFIXES

router = APIRouter(
    prefix="/api/documents",
    tags=["native"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 500, 503),
)


@router.get("", response_model=DocumentList)
async def list_documents(ingest: IngestDep) -> DocumentList:
    return DocumentList(documents=await run_in_threadpool(ingest.list_documents))


@router.post("", response_model=UploadResult, responses=error_responses(400, 409, 413, 415, 422))
async def upload_documents(
    files: Annotated[list[UploadFile], File(description="txt, md, html, pdf, docx", min_length=1)],
    settings: SettingsDep,
    ingest: IngestDep,
) -> UploadResult:
    limit = int(settings.max_upload_mb * 1_000_000)
    ingested = []
    for upload in files:
        name = upload.filename or ""
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise FileTooLargeError(
                f"'{name}' is larger than the {settings.max_upload_mb:g} MB limit", param="files"
            )
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            raise UnsupportedFileTypeError(
                f"unsupported file type for {name!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})",
                param="files",
            )
        report = await run_in_threadpool(ingest.add_upload, name, data, limit)  # UploadError: 400
        if report.skipped:
            raise UnreadableFileError(
                f"'{name}' could not be ingested: {report.skipped[0].reason}", param="files"
            )
        ingested.append(IngestedFile(filename=name, **report.as_dict()))
    return UploadResult(ingested=ingested)


@router.delete("/{source:path}", response_model=DeleteResult, responses=error_responses(404))
async def delete_document(source: str, ingest: IngestDep) -> DeleteResult:
    removed = await run_in_threadpool(ingest.delete, source)  # UnknownDocumentError: 404
    return DeleteResult(deleted=source, chunks_removed=removed)
