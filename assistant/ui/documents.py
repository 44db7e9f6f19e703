"""The Documents tab: what the assistant answers from; upload, and delete with a confirmation."""

from __future__ import annotations

import asyncio
import html
import logging
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from assistant.server.auth import Gate
from assistant.ui.access import MEMBER_REFUSAL, is_admin
from vectorstore.ingest import DocumentExistsError, IngestService, UnknownDocumentError, UploadError
from vectorstore.jobs import IngestQueue, QueueFullError
from vectorstore.loaders import SUPPORTED_SUFFIXES

log = logging.getLogger(__name__)

DOC_HEADERS = ["Document", "Chunks", "Characters"]
SUPPORTED_TEXT = ", ".join(s for s in SUPPORTED_SUFFIXES if s != ".htm")


def documents_rows(ingest: IngestService) -> list[list[Any]]:
    return [[d.source, d.chunks, d.chars] for d in ingest.list_documents()]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def documents_summary(rows: list[list[Any]]) -> str:
    if not rows:
        return "**No documents yet.** Add some below; the assistant can only answer from them."
    chunks = sum(int(r[1]) for r in rows)
    return f"**{plural(len(rows), 'document')}**, {plural(chunks, 'chunk')} searchable."


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


async def ingest_files_queued(
    queue: IngestQueue,
    ingest: IngestService,
    files: list[Any] | None,
    max_bytes: int,
    progress: Any = None,
    replace: bool = False,
) -> str:
    """`ingest_files` through the ingestion queue (S6): each file is ingested by a worker and awaited, so the
    UI's request threads stay free; a full queue is a message, not a wait."""
    if not files:
        return "Choose one or more files to add."
    lines = []
    for i, file in enumerate(files):
        path = Path(str(file))
        if progress is not None:
            progress((i, len(files)), desc=f"Reading and indexing {path.name}", unit="files")
        try:
            job = queue.submit(path.name, ingest_one, ingest, path, max_bytes, replace)
            lines.append(await asyncio.wrap_future(job.future))
        except QueueFullError as exc:
            lines.append(f"✗ **{path.name}** was not added: {exc}.")
        finally:
            discard_upload(path)
    if progress is not None:
        progress((len(files), len(files)), desc="Done", unit="files")
    return "\n\n".join(lines)


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


def ingest_one(ingest: IngestService, path: Path, max_bytes: int, replace: bool = False) -> str:
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
        report = ingest.add_upload(name, path.read_bytes(), max_bytes, replace=replace)
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
        request_id = uuid.uuid4().hex[:16]  # S17: details in the log only
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
    try:
        removed = ingest.delete(source)
    except UnknownDocumentError:
        return f"✗ **{source}** is no longer in the library (someone may have deleted it already)."
    except Exception:
        request_id = uuid.uuid4().hex[:16]
        log.exception("deleting %s failed (request id %s)", source, request_id)
        return f"✗ **{source}** could not be deleted: an internal error (request id {request_id})."
    return f"✓ Deleted **{source}** ({plural(removed, 'chunk')}). Answers will no longer cite it."


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
    chunks = next((d.chunks for d in ingest.list_documents() if d.source == source), 0)
    question = (
        f"Delete **{source}** ({plural(chunks, 'chunk')})? Answers will no longer use it. "
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


def build_documents_tab(
    demo: gr.Blocks,
    ingest: IngestService,
    max_upload_mb: float,
    queue: IngestQueue | None = None,
    gate: Gate | None = None,
) -> None:
    """The tab's components and events (inside `gr.Tabs()`); with a gate, upload and delete are admins'."""
    max_bytes = int(max_upload_mb * 1_000_000)
    with gr.Tab("Documents", id="documents", elem_id="documents-tab") as documents_tab:
        docs_summary = gr.Markdown(elem_id="documents-summary")
        docs = gr.Dataframe(
            headers=DOC_HEADERS,
            datatype=["str", "number", "number"],
            column_widths=["54%", "18%", "28%"],
            label="Documents the assistant answers from",
            interactive=False,
            wrap=True,
            elem_id="documents-table",
        )
        upload_help, files, replace = _upload_components(max_upload_mb)
        status = gr.Markdown(elem_id="documents-status")
        with gr.Row(equal_height=False, elem_id="delete-row") as delete_row:
            choice = gr.Dropdown(
                label="Document to delete", choices=[], scale=3, elem_id="delete-choice", filterable=True
            )
            remove = gr.Button("Delete…", variant="stop", scale=1, min_width=100, elem_id="delete")
        with gr.Column(visible=False, elem_id="confirm-row") as confirm_row:
            confirm_text = gr.Markdown(elem_id="confirm-text")
            with gr.Row():
                yes = gr.Button("Yes, delete", variant="stop", elem_id="confirm-delete")
                no = gr.Button("Cancel", elem_id="cancel-delete")

    def refresh() -> tuple[Any, str, Any]:
        rows = documents_rows(ingest)
        return rows, documents_summary(rows), gr.update(choices=[r[0] for r in rows], value=None)

    jobs = queue or IngestQueue()

    async def upload(
        files: list[str] | None,
        replace: bool = False,
        request: gr.Request | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[Any, ...]:
        if not is_admin(gate, request):
            for file in files or []:
                discard_upload(Path(file))
            return (MEMBER_REFUSAL, *(await asyncio.to_thread(refresh)), None)
        report = await ingest_files_queued(jobs, ingest, files, max_bytes, progress, bool(replace))
        return (report, *(await asyncio.to_thread(refresh)), None)

    def ask_delete(source: str | None) -> tuple[Any, Any, Any]:
        return delete_question(ingest, source)

    def confirm_delete(source: str | None, request: gr.Request | None = None) -> tuple[Any, ...]:
        if not is_admin(gate, request):
            return (MEMBER_REFUSAL, gr.update(visible=False), *refresh())
        return (delete_document(ingest, source), gr.update(visible=False), *refresh())

    outputs = [docs, docs_summary, choice]
    demo.load(refresh, None, outputs, api_visibility="private")
    admin_controls = [upload_help, files, replace, delete_row]
    demo.load(_visible_to_admins(gate, 4), None, admin_controls, queue=False, api_visibility="private")
    documents_tab.select(refresh, None, outputs, api_visibility="private")
    files.upload(
        upload,
        [files, replace],
        [status, *outputs, files],
        api_name="upload",
        show_progress_on=status,
        concurrency_limit=4,  # the ingestion queue bounds the work; this bounds the waiting events
        concurrency_id="upload",
    )
    remove.click(
        ask_delete, choice, [status, confirm_row, confirm_text], api_visibility="private", queue=False
    )
    yes.click(confirm_delete, choice, [status, confirm_row, *outputs], api_name="delete_document")
    no.click(lambda: gr.update(visible=False), None, confirm_row, queue=False, api_visibility="private")
    choice.change(lambda: gr.update(visible=False), None, confirm_row, queue=False, api_visibility="private")
