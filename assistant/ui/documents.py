"""The Documents tab: what the assistant answers from; upload, and delete with a confirmation."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from vectorstore.ingest import IngestService, UnknownDocumentError, UploadError
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


def ingest_files(ingest: IngestService, files: list[Any] | None, max_bytes: int, progress: Any = None) -> str:
    """Adds the uploaded files one by one; a Markdown report, one line per file. Never raises."""
    if not files:
        return "Choose one or more files to add."
    lines = []
    for i, file in enumerate(files):
        path = Path(str(file))
        if progress is not None:
            progress((i, len(files)), desc=f"Reading and indexing {path.name}", unit="files")
        lines.append(_ingest_one(ingest, path, max_bytes))
    if progress is not None:
        progress((len(files), len(files)), desc="Done", unit="files")
    return "\n\n".join(lines)


def _ingest_one(ingest: IngestService, path: Path, max_bytes: int) -> str:
    name = path.name
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        suffix = path.suffix or "(none)"
        return (
            f"✗ **{name}** was not added: files of type **{suffix}** cannot be read. "
            f"Supported types: {SUPPORTED_TEXT}."
        )
    try:
        report = ingest.add_upload(name, path.read_bytes(), max_bytes)
    except UploadError as exc:
        message = str(exc)
        ending = "" if message.endswith(".") else "."
        return f"✗ **{name}** was not added: {message[0].upper()}{message[1:]}{ending}"
    except OSError as exc:
        return f"✗ **{name}** could not be read ({exc.strerror or exc}). Try uploading it again."
    except Exception as exc:
        log.exception("upload of %s failed", name)
        return f"✗ **{name}** could not be added: {type(exc).__name__}: {exc}"
    if report.skipped:
        return (
            f"✗ **{name}** could not be read: {report.skipped[0].reason}. "
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
    except Exception as exc:
        log.exception("deleting %s failed", source)
        return f"✗ **{source}** could not be deleted: {type(exc).__name__}: {exc}"
    return f"✓ Deleted **{source}** ({plural(removed, 'chunk')}). Answers will no longer cite it."


def build_documents_tab(demo: gr.Blocks, ingest: IngestService, max_upload_mb: float) -> None:
    """The tab's components and events; call inside `gr.Tabs()`."""
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
        gr.Markdown(
            f"**Add documents**: {SUPPORTED_TEXT}, up to {max_upload_mb:g} MB each. "
            "They are indexed as soon as they are uploaded.",
            elem_id="upload-help",
        )
        files = gr.File(
            label="Add documents", show_label=False, file_count="multiple", height=150, elem_id="upload"
        )
        status = gr.Markdown(elem_id="documents-status")
        with gr.Row(equal_height=False, elem_id="delete-row"):
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

    def upload(files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        return (ingest_files(ingest, files, max_bytes, progress), *refresh(), None)

    def ask_delete(source: str | None) -> tuple[Any, Any, Any]:
        if not source:
            return "Choose a document to delete first.", gr.update(visible=False), gr.update()
        chunks = next((d.chunks for d in ingest.list_documents() if d.source == source), 0)
        question = (
            f"Delete **{source}** ({plural(chunks, 'chunk')})? Answers will no longer use it. "
            "Documents added through this page are removed from disk too."
        )
        return "", gr.update(visible=True), question

    def confirm_delete(source: str | None) -> tuple[Any, ...]:
        return (delete_document(ingest, source), gr.update(visible=False), *refresh())

    outputs = [docs, docs_summary, choice]
    demo.load(refresh, None, outputs, api_visibility="private")
    documents_tab.select(refresh, None, outputs, api_visibility="private")
    files.upload(upload, files, [status, *outputs, files], api_name="upload", show_progress_on=status)
    remove.click(
        ask_delete, choice, [status, confirm_row, confirm_text], api_visibility="private", queue=False
    )
    yes.click(confirm_delete, choice, [status, confirm_row, *outputs], api_name="delete_document")
    no.click(lambda: gr.update(visible=False), None, confirm_row, queue=False, api_visibility="private")
    choice.change(lambda: gr.update(visible=False), None, confirm_row, queue=False, api_visibility="private")
