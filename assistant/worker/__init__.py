"""Workers of the durable ingestion queue (`assistant.storage.jobs`): `assistant worker` processes, or the
threads an app process runs itself (RAG_INGEST_IN_PROCESS)."""

from assistant.worker.runner import Worker, WorkerPool

__all__ = ["Worker", "WorkerPool"]
