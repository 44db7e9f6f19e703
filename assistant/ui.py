"""The Gradio chat: a thin adapter over ChatService and IngestService."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.citations import Citation
from assistant.components import Components
from assistant.errors import ModelUnavailableError
from assistant.service import Answer, Done, TextDelta
from vectorstore.ingest import UnknownDocumentError, UploadError

log = logging.getLogger(__name__)

EXAMPLES = [
    "With which country is Russia jointly chairing the Mine Action Centre?",
    "What did Lavrov thank Malaysia for regarding the conflict in Ukraine?",
    "What documents were signed in Vientiane?",
]

CSS = """
.source-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 6px 10px; margin: 6px 0; }
.source-card summary { cursor: pointer; font-weight: 600; }
.source-card .meta { color: var(--body-text-color-subdued); font-size: 0.85em; }
.source-card .passage { white-space: pre-wrap; margin-top: 6px; line-height: 1.5; }
.source-card mark { background: #fde68a; color: inherit; padding: 0 2px; border-radius: 3px; }
.mode-note { font-size: 0.9em; color: var(--body-text-color-subdued); }
"""


def _history_for_service(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    turns = []
    for message in history:
        content = message.get("content")
        if isinstance(content, str) and message.get("role") in ("user", "assistant") and content:
            turns.append({"role": message["role"], "content": content})
    return turns


def _highlight(passage: str, answer: str) -> str:
    """The passage with the sentences the answer quotes marked; everything escaped."""
    quoted = [s.strip() for s in re.split(r"\s*\[\d+\]\s*", answer) if len(s.strip()) > 20]
    spans = []
    for sentence in quoted:
        at = passage.find(sentence)
        if at >= 0:
            spans.append((at, at + len(sentence)))
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out += [html.escape(passage[pos:start]), "<mark>", html.escape(passage[start:end]), "</mark>"]
        pos = end
    out.append(html.escape(passage[pos:]))
    return "".join(out)


def sources_html(answer: Answer | None) -> str:
    if answer is None:
        return "<p class='mode-note'>Sources of the latest answer appear here.</p>"
    if not answer.citations:
        note = "No passage was cited." if not answer.refused else "Nothing in the documents answers this."
        return f"<p class='mode-note'>{note}</p>"
    cards = []
    for c in answer.citations:
        cards.append(_card(c, answer.text, open_=len(answer.citations) == 1))
    return "".join(cards)


def _card(c: Citation, answer_text: str, open_: bool) -> str:
    return (
        f"<details class='source-card' id='source-{c.n}' {'open' if open_ else ''}>"
        f"<summary>[{c.n}] {html.escape(c.source)}</summary>"
        f"<div class='meta'>characters {c.start}–{c.end}</div>"
        f"<div class='passage'>{_highlight(c.text, answer_text)}</div></details>"
    )


def build_ui(components: Components) -> gr.Blocks:
    chat, ingest, settings = components.chat, components.ingest, components.settings
    extractive = settings.resolved_llm_provider == "extractive"

    def respond(message: str, history: list[dict[str, Any]], k: int) -> Iterator[tuple[Any, str, str]]:
        message = (message or "").strip()
        if not message:
            yield history, sources_html(None), ""
            return
        prior = _history_for_service(history)
        history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        yield history, "<p class='mode-note'>Searching the documents…</p>", ""
        try:
            for event in chat.stream(message, prior, int(k)):
                if isinstance(event, TextDelta):
                    history[-1]["content"] += event.text
                    yield history, gr.skip(), ""
                elif isinstance(event, Done):
                    text = event.answer.text
                    if event.answer.ungrounded:
                        text += "\n\n⚠️ *The model cited no passage: this answer is not grounded in the documents.*"
                    history[-1]["content"] = text
                    yield history, sources_html(event.answer), ""
        except ModelUnavailableError as exc:
            history[-1]["content"] = f"⚠️ {exc}"
            yield history, sources_html(None), ""
        except Exception as exc:
            log.exception("answering failed")
            history[-1]["content"] = f"⚠️ Something went wrong: {type(exc).__name__}: {exc}"
            yield history, sources_html(None), ""

    def documents_table() -> list[list[Any]]:
        return [[d.source, d.chunks, d.chars] for d in ingest.list_documents()]

    def upload(files: list[str] | None) -> tuple[str, list[list[Any]], Any]:
        if not files:
            return "Choose a file first.", documents_table(), gr.update()
        lines = []
        limit = int(settings.max_upload_mb * 1_000_000)
        for file in files:
            path = Path(file)
            try:
                report = ingest.add_upload(path.name, path.read_bytes(), limit)
            except UploadError as exc:
                lines.append(f"❌ {exc}")
                continue
            if report.skipped:
                lines.append(f"❌ {path.name}: {report.skipped[0].reason}")
            else:
                lines.append(f"✅ {path.name}: {report.summary()}")
        table = documents_table()
        return "\n\n".join(lines), table, gr.update(choices=[row[0] for row in table], value=None)

    def delete(source: str | None) -> tuple[str, list[list[Any]], Any]:
        if not source:
            return "Choose a document to delete.", documents_table(), gr.update()
        try:
            removed = ingest.delete(source)
            message = f"🗑️ Deleted {source} ({removed} chunks)."
        except UnknownDocumentError:
            message = f"❌ No document named {source}."
        table = documents_table()
        return message, table, gr.update(choices=[row[0] for row in table], value=None)

    with gr.Blocks(title="Grounded assistant", analytics_enabled=False) as demo:
        gr.Markdown(
            f"## Grounded assistant\nAnswers only from your documents, and cites them. "
            f"**Model:** `{chat.model_label}`"
        )
        if extractive:
            gr.Markdown(
                "Offline mode: answers are sentences quoted from the documents (no generative model). "
                "Set `RAG_LLM_PROVIDER` or `OPENAI_API_KEY` for written answers.",
                elem_classes=["mode-note"],
            )
        with gr.Tab("Chat"), gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Conversation", height=460, elem_id="chatbot")
                with gr.Row():
                    box = gr.Textbox(
                        label="Your question", placeholder="Ask about your documents…", scale=5,
                        elem_id="question", autofocus=True,
                    )
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                with gr.Row():
                    stop = gr.Button("Stop", elem_id="stop")
                    clear = gr.Button("Clear", elem_id="clear")
                gr.Examples(EXAMPLES, inputs=box, label="Examples")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(sources_html(None), elem_id="sources")
        with gr.Tab("Documents"):
            docs = gr.Dataframe(
                headers=["document", "chunks", "characters"], value=documents_table, label="Ingested documents",
                interactive=False,
            )
            files = gr.File(label="Add documents", file_count="multiple",
                            file_types=[".txt", ".md", ".html", ".htm", ".pdf", ".docx"])
            add = gr.Button("Ingest", variant="primary", elem_id="ingest")
            choice = gr.Dropdown(label="Document to delete", choices=[row[0] for row in documents_table()])
            remove = gr.Button("Delete", variant="stop", elem_id="delete")
            status = gr.Markdown(elem_id="documents-status")
        with gr.Tab("Settings"):
            k = gr.Slider(1, 20, value=settings.k, step=1, label="Passages retrieved (k)")
            gr.JSON(settings.describe(), label="Effective settings (set by RAG_* environment variables)")

        submit = gr.on([box.submit, send.click], respond, [box, chatbot, k], [chatbot, sources, box], api_name="chat")
        stop.click(None, cancels=[submit])
        clear.click(lambda: ([], sources_html(None), ""), None, [chatbot, sources, box], api_name=False)
        add.click(upload, files, [status, docs, choice], api_name="upload")
        remove.click(delete, choice, [status, docs, choice], api_name="delete_document")
    return demo
