"""What the Documents tab shows, as text: the documents table (HTML, every name escaped: names and titles
come from uploads), its summary line, and an upload job's progress. Numbers are formatted for people
(1,234 chunks, 90.8 KB); a value not recorded for an old document is shown as "—"."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from vectorstore.ingest import DocumentInfo

MISSING = "—"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|~<>])")

# Installed by the table (gr.HTML js_on_load): a row's Delete button asks the server to confirm the delete
# of that row's document. The server checks who asks; the button is only drawn for admins.
TABLE_JS = r"""
element.addEventListener('click', (event) => {
  const button = event.target.closest('button.delete-doc');
  if (!button || !element.contains(button)) return;
  event.preventDefault();
  trigger('click', { source: button.dataset.source || '' });
});
"""


def shown_name(name: str) -> str:
    """A document's name inside the tab's Markdown (N10): escaped, so `<img onerror>` or `[x](url)` in a file
    name is shown as the characters it is."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(name, quote=False))


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def format_size(size: int | None) -> str:
    """Bytes for people, in the units the upload limit uses (1 MB = 1,000,000 bytes)."""
    if size is None or size < 0:
        return MISSING
    if size < 1000:
        return f"{size:,} B"
    for unit, scale in (("KB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if size < scale * 1000 or unit == "GB":
            value = size / scale
            return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    return MISSING  # not reached: GB takes the rest


def format_date(timestamp: float | None) -> tuple[str, str]:
    """A date added as (shown, full): "2 Dec 2026" and "2026-12-02 20:15 UTC"; "—" when not recorded."""
    if not timestamp or timestamp <= 0:
        return MISSING, "not recorded (added before dates were kept)"
    when = datetime.fromtimestamp(timestamp, UTC)
    return f"{when.day} {when:%b %Y}", f"{when:%Y-%m-%d %H:%M} UTC"


def documents_summary(docs: Sequence[DocumentInfo]) -> str:
    if not docs:
        return "**No documents yet.** Add some below; the assistant can only answer from them."
    chunks = sum(d.chunks for d in docs)
    return f"**{plural(len(docs), 'document')}**, {plural(chunks, 'chunk')} searchable."


COLUMNS = ("Document", "Collection", "Added", "Size", "Chunks")


def _row(doc: DocumentInfo, can_delete: bool) -> str:
    source, title = html.escape(doc.source), doc.title.strip()
    name = f"<span class='doc-title'>{source}</span>"
    if title and title != doc.source:  # the title people know it by, the file name under it
        name = f"<span class='doc-title'>{html.escape(title)}</span><span class='doc-file'>{source}</span>"
    shown, full = format_date(doc.ingested_at)
    cells = [
        f"<td class='doc-name' data-label='Document'>{name}</td>",
        f"<td data-label='Collection'>{html.escape(doc.collection)}</td>",
        f"<td data-label='Added'><span title='{html.escape(full)}'>{shown}</span></td>",
        f"<td class='num' data-label='Size'>{format_size(doc.size)}</td>",
        f"<td class='num' data-label='Chunks'>{doc.chunks:,}</td>",
    ]
    if can_delete:
        cells.append(
            f"<td class='doc-actions'><button type='button' class='delete-doc' data-source='{source}' "
            f"aria-label='Delete {source}' title='Delete {source}'>Delete</button></td>"
        )
    return f"<tr data-source='{source}'>{''.join(cells)}</tr>"


def documents_table(docs: Sequence[DocumentInfo], can_delete: bool) -> str:
    """The table as HTML: one row per document, a Delete button per row for those who may delete."""
    if not docs:
        return "<p class='documents-empty'>No documents yet.</p>"
    head = "".join(
        f"<th scope='col'{' class=num' if c in ('Size', 'Chunks') else ''}>{c}</th>" for c in COLUMNS
    )
    if can_delete:
        head += "<th scope='col' class='doc-actions'><span class='sr-only'>Delete</span></th>"
    rows = "".join(_row(d, can_delete) for d in docs)
    return (
        "<table class='documents' aria-label='Documents the assistant answers from'>"
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )


# -- an upload job's progress -------------------------------------------------------------------------------
FILE_MARKS = {"queued": "·", "running": "→", "done": "✓", "failed": "✗", "cancelled": "✗"}
STAGE_WORDS = {
    "reading": "reading the file",
    "parsing": "extracting the text",
    "chunking": "splitting it into chunks",
    "embedding": "embedding",
    "saving": "saving",
    "indexing": "updating the keyword index",
}


def _percent(done: int, total: int) -> int:
    return min(int(done * 100 / total), 100) if total else 0


def _file_line(entry: dict[str, Any], now: float) -> str:
    """One file of a job: its mark, name and what it is doing (with a count or the seconds spent)."""
    name, state = html.escape(entry["name"], quote=False), entry["state"]
    if state != "running":
        what = "waiting" if state == "queued" else state
        return f"{FILE_MARKS[state]} **{name}**: {what}"
    stage = entry.get("stage") or "reading"
    total = entry.get("chunks_total")
    pages = entry.get("pages_total")
    if stage == "embedding" and total:
        done = entry["chunks"]
        what = f"embedding {done:,} of {plural(total, 'chunk')} ({_percent(done, total)}%)"
    elif stage == "parsing" and pages:
        done = entry.get("pages") or 0
        what = f"extracting the text: page {done:,} of {pages:,} ({_percent(done, pages)}%)"
    else:
        what = STAGE_WORDS.get(stage, stage)
        started = entry.get("stage_started_at")
        if started and now - started >= 1:
            what += f" ({int(now - started)} s)"
        else:
            what += "…"
    return f"{FILE_MARKS[state]} **{name}**: {what}"


def job_progress(snapshot: dict[str, Any], now: float | None = None) -> str:
    """A running upload job as Markdown: the overall percentage and counts, then one line per file."""
    now = time.time() if now is None else now
    total = snapshot["files_total"]
    head = f"**Adding {plural(total, 'file')}: {snapshot.get('percent', 0)}%**"
    running = [i for i, f in enumerate(snapshot["files"]) if f["state"] == "running"]
    if total > 1:
        head += (
            f" · file {running[0] + 1} of {total}"
            if running
            else f" · {snapshot['files_done']} of {total} done"
        )
    if snapshot["chunks_total"] and total > 1:  # one file: its own line says it
        head += f" · {snapshot['chunks_done']:,} of {plural(snapshot['chunks_total'], 'chunk')} embedded"
    if snapshot["cancel_requested"] and snapshot["state"] in ("queued", "running"):
        head += " · cancelling…"
    elif snapshot["state"] == "queued":
        head += " · waiting for the ingestion queue"
    return "\n\n".join([head, *(_file_line(entry, now) for entry in snapshot["files"])])
