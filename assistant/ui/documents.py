"""The Documents tab: what the assistant answers from (a member: the documents of their collections), as a
table with each document's collection, date added, size and chunks; upload through an ingestion job whose
progress the tab follows (stage, chunks embedded, a percentage), with a Cancel button; a Delete button per
row, confirmed first (admins only: the handlers ask the same gate as the API)."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from assistant.access import Gate
from assistant.access.scopes import usable_collections
from assistant.errors import AssistantError
from assistant.ids import new_request_id
from assistant.storage import Storage
from assistant.ui.access import MEMBER_REFUSAL, is_admin, principal_of
from assistant.ui.documents_view import (
    TABLE_JS,
    documents_summary,
    documents_table,
    job_progress,
    plural,
    shown_name,
)
from vectorstore.errors import (
    DocumentExistsError,
    JobCancelled,
    QueueFullError,
    UnknownDocumentError,
    UploadError,
)
from vectorstore.ingest import DocumentInfo, IngestService
from vectorstore.jobs import IngestQueue, Job, ProgressHooks
from vectorstore.loaders import SUPPORTED_SUFFIXES

log = logging.getLogger(__name__)

__all__ = ["build_documents_tab", "shown_name"]

SUPPORTED_TEXT = ", ".join(s for s in SUPPORTED_SUFFIXES if s != ".htm")


POLL_SECONDS = 0.5  # how often the tab re-reads a running upload job's progress


def visible_documents(ingest: IngestService, allowed: Collection[str] | None = None) -> list[DocumentInfo]:
    """The documents listed; only those of the `allowed` collections when given (a member's)."""
    return [d for d in ingest.list_documents() if allowed is None or d.collection in allowed]


REPLACE_LABEL = "Replace documents of the same name"


def ingest_files(
    ingest: IngestService,
    files: list[Any] | None,
    max_bytes: int,
    progress: Any = None,
    replace: bool = False,
) -> str:
    """Adds the uploaded files one by one; a Markdown report, one line per file. Never raises."""
    if not files:
        return "Choose one or more files to add."
    lines = []
    for i, file in enumerate(files):
        path = Path(str(file))
        if progress is not None:
            progress((i, len(files)), desc=f"Reading and indexing {path.name}", unit="files")
        try:
            lines.append(ingest_one(ingest, path, max_bytes, replace))
        finally:
            discard_upload(path)
    if progress is not None:
        progress((len(files), len(files)), desc="Done", unit="files")
    return "\n\n".join(lines)


def ingest_job_files(
    job: Job[str],
    ingest: IngestService,
    paths: list[Path],
    max_bytes: int,
    replace: bool,
    lines: list[str],
) -> str:
    """An upload job's work (in an ingestion worker): `ingest_files` with the job's per-file progress and
    cancel check. Each file's report line is appended to `lines` as it ends, so a cancelled job still shows
    what was added before the cancel."""
    try:
        for index, path in enumerate(paths):
            job.check_cancelled()
            job.file_started(index)
            line = ingest_one(ingest, path, max_bytes, replace, job.hooks(index))
            lines.append(line)
            job.file_finished(index, "done" if line.startswith("✓") else "failed", line)
            discard_upload(path)
    finally:
        for path in paths:
            discard_upload(path)
    return "\n\n".join(lines)


def job_outcome(job: Job[str], lines: list[str], paths: list[Path]) -> str:
    """The final report of an upload job: every file's line, the cancelled ones said so."""
    result = job.result()
    if job.state != "cancelled" and isinstance(result, str):
        return result
    if job.state != "cancelled":
        request_id = new_request_id()
        log.error("upload job %s failed (request id %s): %s", job.id, request_id, job.error)
        return f"✗ The upload could not be completed: an internal error (request id {request_id})."
    done = list(lines)
    for path in paths[len(done) :]:
        done.append(f"✗ **{html.escape(path.name, quote=False)}** was not added: the upload was cancelled.")
    return "\n\n".join(done)


def discard_upload(path: Path) -> None:
    """Deletes a file Gradio cached for an upload, once ingested (or refused): the cache keeps no copy of a
    document, so a deleted document cannot be downloaded from it (S5). Files elsewhere are left alone."""
    try:
        cache = Path(get_upload_folder()).resolve()
        resolved = path.resolve()
        if resolved.is_relative_to(cache) and resolved != cache:
            resolved.unlink(missing_ok=True)
            if resolved.parent != cache:
                resolved.parent.rmdir()  # Gradio keeps each upload in a folder of its own
    except OSError:
        pass  # not empty, or already gone


def ingest_one(
    ingest: IngestService,
    path: Path,
    max_bytes: int,
    replace: bool = False,
    hooks: ProgressHooks | None = None,
) -> str:
    """One file's report line (✓ or ✗, Markdown). Never raises, but for JobCancelled from `hooks`' check."""
    name = path.name
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        suffix = path.suffix or "(none)"
        return (
            f"✗ **{name}** was not added: files of type **{suffix}** cannot be read. "
            f"Supported types: {SUPPORTED_TEXT}."
        )
    try:
        size = path.stat().st_size
        if size > max_bytes:  # never read a file whole to learn it is too big
            limit = f"{max_bytes / 1e6:.1f} MB"
            return f"✗ **{name}** was not added: it is {size / 1e6:.1f} MB; the limit is {limit}."
        data = path.read_bytes()
        if hooks is None:
            report = ingest.add_upload(name, data, max_bytes, replace=replace)
        else:
            report = ingest.add_upload(name, data, max_bytes, replace=replace, **hooks)
    except JobCancelled:
        raise
    except DocumentExistsError:
        return (
            f"✗ **{name}** was not added: a document of that name is already in the library. To replace "
            f"it, tick **{REPLACE_LABEL}** and upload it again."
        )
    except UploadError as exc:
        message = html.escape(str(exc), quote=False)
        ending = "" if message.endswith(".") else "."
        return f"✗ **{name}** was not added: {message[0].upper()}{message[1:]}{ending}"
    except OSError as exc:
        return f"✗ **{name}** could not be read ({exc.strerror or 'error'}). Try uploading it again."
    except Exception:
        request_id = new_request_id()  # S17: details in the log only
        log.exception("upload of %s failed (request id %s)", name, request_id)
        return f"✗ **{name}** could not be added: an internal error (request id {request_id})."
    if report.skipped:
        return (
            f"✗ **{name}** could not be read: {html.escape(report.skipped[0].reason, quote=False)}. "
            "Check that the file opens and contains text (a scanned PDF without a text layer has none)."
        )
    if report.files_unchanged and not report.files_changed:
        return f"✓ **{name}** is already in the library, unchanged."
    replaced = f", {report.chunks_removed} replaced" if report.chunks_removed else ""
    return (
        f"✓ **{name}** added: {plural(report.chunks_added, 'new chunk')}{replaced} "
        f"in {report.seconds:.1f} s. You can ask about it in the Chat tab."
    )


def delete_document(ingest: IngestService, source: str | None) -> str:
    if not source:
        return "Choose a document to delete first."
    name = shown_name(source)
    try:
        removed = ingest.delete(source)
    except UnknownDocumentError:
        return f"✗ **{name}** is no longer in the library (someone may have deleted it already)."
    except Exception:
        request_id = new_request_id()
        log.exception("deleting %s failed (request id %s)", source, request_id)
        return f"✗ **{name}** could not be deleted: an internal error (request id {request_id})."
    return f"✓ Deleted **{name}** ({plural(removed, 'chunk')}). Answers will no longer cite it."


def _upload_components(max_upload_mb: float) -> tuple[Any, Any, Any]:
    """The help text, the file drop and the replace box; call inside the tab."""
    upload_help = gr.Markdown(
        f"**Add documents**: {SUPPORTED_TEXT}, up to {max_upload_mb:g} MB each. "
        "They are indexed as soon as they are uploaded.",
        elem_id="upload-help",
    )
    files = gr.File(
        label="Add documents", show_label=False, file_count="multiple", height=150, elem_id="upload"
    )
    replace = gr.Checkbox(
        label=REPLACE_LABEL,
        value=False,
        info="Off: a file named like a document already here is refused, never silently replaced.",
        elem_id="replace",
    )
    return upload_help, files, replace


def delete_question(ingest: IngestService, source: str | None) -> tuple[Any, Any, Any]:
    """The status, the confirm row's visibility and its question for a document about to be deleted."""
    if not source:
        return "Choose a document to delete first.", gr.update(visible=False), gr.update()
    doc = next((d for d in ingest.list_documents() if d.source == source), None)
    chunks, title = (doc.chunks, doc.title.strip()) if doc is not None else (0, "")
    named = f"**{shown_name(title)}** ({shown_name(source)}, " if title and title != source else ""
    named = named or f"**{shown_name(source)}** ("
    question = (
        f"Delete {named}{plural(chunks, 'chunk')})? Answers will no longer use it. "
        "Documents added through this page are removed from disk too."
    )
    return "", gr.update(visible=True), question


def _visible_to_admins(gate: Gate | None, count: int) -> Any:
    """A page-load event: `count` components shown to admins (and the open app), hidden from members."""

    def controls(request: gr.Request) -> tuple[Any, ...]:
        # an admin's page is left as built: re-rendering the controls would re-render the tab too
        hidden = not is_admin(gate, request)
        return tuple(gr.update(visible=False) if hidden else gr.skip() for _ in range(count))

    return controls


class DocumentsEvents:
    """The tab's event handlers, over the services they need and the gate that says who is asking."""

    def __init__(
        self,
        ingest: IngestService,
        jobs: IngestQueue,
        max_bytes: int,
        gate: Gate | None = None,
        storage: Storage | None = None,
    ) -> None:
        self.ingest = ingest
        self.jobs = jobs
        self.max_bytes = max_bytes
        self.gate = gate
        if storage is None and gate is not None and gate.users is not None:
            storage = Storage.open(gate.users.db)  # the gate's database: members' grants live there
        self.storage = storage

    def allowed(self, request: gr.Request | None) -> list[str] | None:
        """None (everything) for an admin or the open app; a member's collections; [] for no one."""
        principal = principal_of(self.gate, request)
        if principal is None:
            return []
        if principal.is_admin:
            return None
        try:
            return usable_collections(self.storage, principal)
        except AssistantError:  # e.g. the account was removed meanwhile
            return []

    def refresh(self, request: gr.Request | None = None) -> tuple[str, str]:
        """The table (with a Delete button per row for an admin) and its summary line."""
        docs = visible_documents(self.ingest, self.allowed(request))
        return documents_table(docs, is_admin(self.gate, request)), documents_summary(docs)

    async def upload(
        self, files: list[str] | None, replace: bool = False, request: gr.Request | None = None
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Status, table, summary, file drop, job id, Cancel button: progress while the job runs."""
        skip, hidden = gr.skip(), gr.update(visible=False)
        paths = [Path(str(f)) for f in files or []]
        if not is_admin(self.gate, request) or not paths:
            # nothing discarded (N26): a member cannot upload, so the files a member's event names are not
            # theirs; deleting them deleted any file of Gradio's upload folder the event named
            message = MEMBER_REFUSAL if paths else "Choose one or more files to add."
            yield (message, *(await asyncio.to_thread(self.refresh, request)), None, None, hidden)
            return
        lines: list[str] = []
        try:
            job = self.jobs.submit_job(
                paths[0].name,
                lambda job: ingest_job_files(job, self.ingest, paths, self.max_bytes, bool(replace), lines),
                files=[p.name for p in paths],
            )
        except QueueFullError as exc:
            for path in paths:
                discard_upload(path)
            yield (f"✗ Nothing was added: {exc}.", skip, skip, None, None, hidden)
            return
        shown = ""
        cancel = gr.update(visible=True, interactive=True, value="Cancel upload")
        while not job.future.done():
            text = job_progress(job.snapshot())
            if text != shown:
                yield (text, skip, skip, skip, job.id, cancel)
                shown, cancel = text, skip
            await asyncio.sleep(POLL_SECONDS)
        for path in paths:  # a job cancelled before it started never read them
            discard_upload(path)
        outcome = job_outcome(job, lines, paths)
        yield (outcome, *(await asyncio.to_thread(self.refresh, request)), None, None, hidden)

    def cancel(self, job_id: str | None, request: gr.Request | None = None) -> Any:
        """Cancels this page's upload job; the upload's own event reports the outcome."""
        if not job_id or not is_admin(self.gate, request):
            return gr.skip()
        self.jobs.cancel(job_id)
        return gr.update(value="Cancelling…", interactive=False)

    def ask_delete(self, evt: gr.EventData, request: gr.Request) -> tuple[Any, Any, Any, Any]:
        """A row's Delete button: the status, the confirm row, its question, and the document it names."""
        data = getattr(evt, "_data", None)
        source = str(data.get("source") or "") if isinstance(data, dict) else ""
        if not is_admin(self.gate, request):
            return MEMBER_REFUSAL, gr.update(visible=False), gr.skip(), ""
        return (*delete_question(self.ingest, source), source)

    def confirm_delete(self, source: str | None, request: gr.Request | None = None) -> tuple[Any, ...]:
        """The delete itself (also Gradio's `/delete_document` endpoint): an admin's only, like the API's."""
        if not is_admin(self.gate, request):
            return (MEMBER_REFUSAL, gr.update(visible=False), *self.refresh(request), "")
        done = delete_document(self.ingest, source)
        return (done, gr.update(visible=False), *self.refresh(request), "")


def _table() -> tuple[Any, Any]:
    """The summary line and the documents table; call inside the tab."""
    summary = gr.Markdown(elem_id="documents-summary")
    table = gr.HTML("", js_on_load=TABLE_JS, elem_id="documents-table", padding=False)
    return summary, table


def build_documents_tab(
    demo: gr.Blocks,
    ingest: IngestService,
    max_upload_mb: float,
    queue: IngestQueue | None = None,
    gate: Gate | None = None,
    storage: Storage | None = None,
) -> None:
    """The tab's components and events (inside `gr.Tabs()`); with a gate, upload and delete are admins'."""
    events = DocumentsEvents(ingest, queue or IngestQueue(), int(max_upload_mb * 1_000_000), gate, storage)
    with gr.Tab("Documents", id="documents", elem_id="documents-tab") as documents_tab:
        docs_summary, docs = _table()
        upload_help, files, replace = _upload_components(max_upload_mb)
        status = gr.Markdown(elem_id="documents-status")
        job_id = gr.State(None)
        cancel = gr.Button("Cancel upload", variant="secondary", visible=False, elem_id="cancel-upload")
        # the document a row's Delete button named, until confirmed (a textbox: `/delete_document` takes it)
        choice = gr.Textbox(visible=False, elem_id="delete-choice")
        with gr.Column(visible=False, elem_id="confirm-row") as confirm_row:
            confirm_text = gr.Markdown(elem_id="confirm-text")
            with gr.Row():
                yes = gr.Button("Yes, delete", variant="stop", elem_id="confirm-delete")
                no = gr.Button("Cancel", elem_id="cancel-delete")

    outputs = [docs, docs_summary]
    demo.load(events.refresh, None, outputs, api_visibility="private")
    admin_controls = [upload_help, files, replace]
    demo.load(_visible_to_admins(gate, 3), None, admin_controls, queue=False, api_visibility="private")
    documents_tab.select(events.refresh, None, outputs, api_visibility="private")
    files.upload(
        events.upload,
        [files, replace],
        [status, *outputs, files, job_id, cancel],
        api_name="upload",
        show_progress_on=status,
        concurrency_limit=4,  # the ingestion queue bounds the work; this bounds the waiting events
        concurrency_id="upload",
    )
    cancel.click(events.cancel, job_id, cancel, queue=False, api_visibility="private")
    docs.click(events.ask_delete, None, [status, confirm_row, confirm_text, choice], api_visibility="private")
    yes.click(
        events.confirm_delete, choice, [status, confirm_row, *outputs, choice], api_name="delete_document"
    )
    no.click(
        lambda: (gr.update(visible=False), ""),
        None,
        [confirm_row, choice],
        queue=False,
        api_visibility="private",
    )
