"""The work of an upload job: each file ingested in turn, its progress and failure recorded on the job.

Run by the in-memory queue of the process that accepted the upload (`wait=true`, the UI) and by the workers
of the durable queue (`wait=false`: `assistant.worker`), where a job may be resumed after its worker died.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from assistant.server.errors import as_assistant_error
from assistant.server.schemas import IngestedFile, UploadResult
from assistant.storage import JobRecord
from vectorstore.ingest import IngestService
from vectorstore.jobs import Job, JobCancelled

log = logging.getLogger(__name__)

# the durable queue's work: the job to report on, its record as claimed, its uploads' bytes, and a list that
# collects each file's report as it ends (stored with the job's progress, for a resumed attempt); the result
StoredWork = Callable[[Job[Any], JobRecord, list[tuple[str, bytes]], list[dict[str, Any]]], dict[str, Any]]


def ingest_uploads(
    job: Job[Any],
    ingest: IngestService,
    uploads: list[tuple[str, bytes]],
    limit: int,
    replace: bool,
    collection: str,
    *,
    ingested: list[IngestedFile] | None = None,
    skip: Collection[int] = (),
    again: Collection[int] = (),
    on_file: Callable[[IngestedFile], None] | None = None,
) -> UploadResult:
    """Each file in turn, in a worker. A file that fails does not stop the others (the job ends `failed`,
    naming it); a cancel stops at a batch. Resuming a job: `skip` the files an earlier attempt finished
    (their reports already in `ingested`), and ingest `again` those it was cut off in, replacing what it
    wrote (chunk ids are content hashes, so the file ends whole, each chunk once)."""
    ingested = [] if ingested is None else ingested
    for index, (name, data) in enumerate(uploads):
        if index in skip:
            continue
        job.check_cancelled()
        job.file_started(index)
        try:
            report = ingest.add_upload(
                name,
                data,
                limit,
                replace=replace or index in again,
                collection=collection,
                **job.hooks(index),
            )
        except JobCancelled:
            raise
        except Exception as exc:
            known = as_assistant_error(exc)
            if known is None:
                log.error("background upload of %s failed (job %s)", name, job.id, exc_info=exc)
            message = known.message if known else "internal error; the details are in the server log"
            job.file_finished(index, "failed", message)
            continue
        if report.skipped:
            job.file_finished(index, "failed", f"'{name}' could not be ingested: {report.skipped[0].reason}")
            continue
        done = IngestedFile(filename=name, **report.as_dict())
        ingested.append(done)
        if on_file is not None:
            on_file(done)
        job.file_finished(index, "done")
    return UploadResult(ingested=ingested)


def stored_upload_work(ingest: IngestService) -> StoredWork:
    """The durable queue's work for an upload job, resuming where an earlier attempt stopped."""

    def work(
        job: Job[Any], record: JobRecord, uploads: list[tuple[str, bytes]], sink: list[dict[str, Any]]
    ) -> dict[str, Any]:
        options = record.options
        state = [str(entry.get("state", "queued")) for entry in record.progress.get("files", [])]
        finished = {
            entry.get("name") for entry in record.progress.get("files", []) if entry.get("state") == "done"
        }
        sink[:] = [
            item for item in sink if item.get("filename") in finished
        ]  # reports of files now redone go
        earlier = [IngestedFile.model_validate(item) for item in sink]
        again = {i for i, s in enumerate(state) if s == "running"}
        try:
            result = ingest_uploads(
                job,
                ingest,
                uploads,
                int(options["limit"]),
                bool(options["replace"]),
                str(options["collection"]),
                ingested=earlier,
                skip={i for i, s in enumerate(state) if s in ("done", "failed")},
                again=again,
                on_file=lambda done: sink.append(done.model_dump(mode="json")),
            )
        except JobCancelled:
            # cancelled before this attempt got back to the file an earlier one was cut off in: what that one
            # wrote goes too (a file this attempt finished has nothing pending). Not when this worker lost
            # the job: the file is the new holder's.
            if not job.abandon_event.is_set():
                for index in again:
                    ingest.discard_unfinished(uploads[index][0])
            raise
        return result.model_dump(mode="json")

    return work
