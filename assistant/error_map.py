"""Errors raised below the assistant (vectorstore) as the AssistantError each stands for, in one mapping that
every door uses: the API's handlers (server/errors.py), the CLI and the MCP tools."""

from __future__ import annotations

from assistant.errors import (
    AssistantError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
    UnreadableFileError,
)
from vectorstore.errors import (
    DataDirBusyError,
    DocumentExistsError,
    EmbeddingMismatchError,
    LoadError,
    QueueFullError,
    StoreUnavailableError,
    UnknownDocumentError,
    UploadError,
)

# Errors raised below the assistant (vectorstore), mapped by class. The first matching class wins.
FOREIGN_ERRORS: list[tuple[type[Exception], type[AssistantError], str]] = [
    (EmbeddingMismatchError, ConflictError, "embedding_mismatch"),
    (StoreUnavailableError, ServiceUnavailableError, "store_unavailable"),
    (DataDirBusyError, ServiceUnavailableError, "store_busy"),
    (QueueFullError, ServiceUnavailableError, "ingest_queue_full"),
    (UnknownDocumentError, NotFoundError, "not_found"),
    (DocumentExistsError, ConflictError, "document_exists"),  # before UploadError, its base class
    (UploadError, InvalidRequestError, "invalid_file"),
    (LoadError, UnreadableFileError, "unreadable_file"),
]


def as_assistant_error(exc: BaseException) -> AssistantError | None:
    """The AssistantError an exception stands for, or None when it is unexpected."""
    if isinstance(exc, AssistantError):
        return exc
    for foreign, ours, code in FOREIGN_ERRORS:
        if isinstance(exc, foreign):
            message = f"no document named {exc.args[0]!r}" if isinstance(exc, KeyError) and exc.args else None
            return ours(message or str(exc), code=code)
    return None
