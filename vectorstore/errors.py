"""The documents side's errors, in one hierarchy: every error `vectorstore` raises on purpose, its message
written for the user (the API maps each class to a status in `assistant/server/errors.py`; the UI and the
CLI show the message).

```
VectorstoreError
├── LoadError                 a file that cannot be ingested: reported and skipped
├── UploadError               an upload refused before anything was written          (also a ValueError)
│   └── DocumentExistsError   a document of that name exists; retry with replace=True
├── UnknownDocumentError      no document by that name                                (also a KeyError)
├── QueueFullError            too many uploads waiting; retry after a few seconds      (also a RuntimeError)
├── JobCancelled              an ingestion job stopped at a safe point, on request
├── StoreError                the store cannot serve                                  (also a RuntimeError)
│   ├── StoreUnavailableError   the Chroma server cannot be reached
│   ├── EmbeddingMismatchError  the collection was built with another embedding model
│   └── DataDirBusyError        another process held the data dir's lock too long
└── ProviderError             an embedding model that cannot be built                 (also a RuntimeError)
    └── ExportError             the local model cannot be exported to ONNX
```

The builtin second bases are the ones these classes had before the hierarchy: callers that catch
`ValueError` or `KeyError` keep working. This module imports nothing from the project, so any module can
raise these without an import cycle.
"""

from __future__ import annotations


class VectorstoreError(Exception):
    """Base of the documents side's errors: raised on purpose, the message says what to do."""


class LoadError(VectorstoreError):
    """A file that cannot be ingested; the message says why, for the ingest report."""


class UploadError(VectorstoreError, ValueError):
    """An upload refused before anything was written; the message is for the user."""


class DocumentExistsError(UploadError):
    """An upload named like a document already in the store (an upload, or a file from an ingested folder).

    Nothing was written. Adapters answer 409 and let the caller retry with `replace=True`.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a document named '{name}' already exists; pass replace=true to replace it")


class UnknownDocumentError(VectorstoreError, KeyError):
    """No document by that name in the store (a delete or a lookup of a name nobody ingested)."""


class QueueFullError(VectorstoreError, RuntimeError):
    """Too many uploads are waiting; the message is for the user."""

    def __init__(self, capacity: int, retry_after: int = 5) -> None:
        self.capacity = capacity
        self.retry_after = retry_after
        super().__init__(
            f"the ingestion queue is full ({capacity} uploads waiting); try again in a few seconds"
        )


class JobCancelled(VectorstoreError):
    """The job was cancelled: raised by the work at a safe point, or set on a queued job's future."""

    def __init__(self, message: str = "the job was cancelled") -> None:
        super().__init__(message)


class StoreError(VectorstoreError, RuntimeError):
    """The store cannot serve the request as it stands."""


class StoreUnavailableError(StoreError):
    """The Chroma server cannot be reached."""


class EmbeddingMismatchError(StoreError):
    """The collection was built with another embedding model: mixing vector spaces gives garbage."""


class DataDirBusyError(StoreError):
    """Another process held a data dir lock for longer than we were willing to wait."""


class ProviderError(VectorstoreError, RuntimeError):
    """A provider that cannot be built; the message says what to install or set."""


class ExportError(ProviderError):
    """The local model cannot be exported; the message says why."""
