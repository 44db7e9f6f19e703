"""The Gradio chat: a thin adapter over ChatService and IngestService.

The chat history holds each answer's plain text with its `[n]` markers, exactly as ChatService made it, so the
history sent back for follow-ups (and returned to API clients of `/chat`) is plain text. A small script turns
the markers into links in the browser; clicking one opens that answer's source card in the Sources panel.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.components import Components
from assistant.errors import ModelUnavailableError
from assistant.service import ChatService, Done, TextDelta
from assistant.ui_assets import CITATION_JS
from assistant.ui_sources import source_group, sources_html
from vectorstore.ingest import IngestService, UnknownDocumentError, UploadError
from vectorstore.loaders import SUPPORTED_SUFFIXES

log = logging.getLogger(__name__)

EXAMPLES = [
    "With which country is Russia jointly chairing the Mine Action Centre?",
    "What did Lavrov thank Malaysia for regarding the conflict in Ukraine?",
    "What documents were signed in Vientiane?",
]

ERROR_PREFIX = "⚠ "  # no emoji variant: it renders without an emoji font
STOPPED_NOTE = "\n\n*(stopped)*"
UNGROUNDED_NOTE = "\n\n⚠ *The model cited no passage: this answer is not grounded in the documents.*"
SUPPORTED_TEXT = ", ".join(s for s in SUPPORTED_SUFFIXES if s != ".htm")

# -- history ---------------------------------------------------------------------------------------------


def _content_text(content: Any) -> str:
    """The text of a chatbot message, whether Gradio normalised it to a list of parts or not."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return (
            str(content.get("text") or content.get("content") or "")
            if content.get("type", "text") == "text"
            else ""
        )
    if isinstance(content, list):
        return "".join(_content_text(part) for part in content)
    return ""


def plain_answer(text: str) -> str:
    """An assistant message as the service made it: without the notes the UI appends."""
    for note in (UNGROUNDED_NOTE, STOPPED_NOTE):
        text = text.replace(note, "")
    return text.strip()


def history_for_service(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Plain-text user/assistant turns; failed or stopped turns are left out with their question."""
    turns: list[dict[str, str]] = []
    for message in history or []:
        role = message.get("role")
        text = _content_text(message.get("content")).strip()
        if role == "user" and text:
            turns.append({"role": "user", "content": text})
        elif role == "assistant":
            failed = not text or text.startswith(ERROR_PREFIX) or text.endswith(STOPPED_NOTE.strip())
            if failed:
                if turns and turns[-1]["role"] == "user":
                    turns.pop()
                continue
            turns.append({"role": "assistant", "content": plain_answer(text)})
    return turns


def _assistant_count(history: list[dict[str, Any]]) -> int:
    return sum(1 for m in history if m.get("role") == "assistant")


# -- chat ------------------------------------------------------------------------------------------------


def answer_turn(
    chat: ChatService,
    message: str,
    history: list[dict[str, Any]] | None,
    k: float | int | None,
    groups: dict[int, str] | None,
) -> Iterator[tuple[list[dict[str, Any]], str, str, dict[int, str]]]:
    """One question: stream the answer into the history, then show its sources. Never raises."""
    history = [{"role": m.get("role"), "content": _content_text(m.get("content"))} for m in history or []]
    groups = {int(t): g for t, g in (groups or {}).items() if int(t) < _assistant_count(history)}
    message = (message or "").strip()
    if not message:
        yield history, sources_html(groups), "", groups
        return
    prior = history_for_service(history)
    turn = _assistant_count(history)
    history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": ""}]
    searching = {**groups, turn: source_group(turn, message, None, "Searching the documents…")}
    yield history, sources_html(searching), "", groups
    try:
        writing = False
        for event in chat.stream(message, prior, int(k) if k else None):
            if isinstance(event, TextDelta):
                history[-1]["content"] += event.text
                panel: Any = gr.skip()
                if not writing:  # the passages are found: say what happens next
                    writing = True
                    note = "Writing the answer… its sources appear here when it is complete."
                    panel = sources_html({**groups, turn: source_group(turn, message, None, note)})
                yield history, panel, "", groups
            elif isinstance(event, Done):
                answer = event.answer
                text = answer.text + (UNGROUNDED_NOTE if answer.ungrounded else "")
                history[-1]["content"] = text
                groups = {**groups, turn: source_group(turn, message, answer)}
                yield history, sources_html(groups), "", groups
    except ModelUnavailableError as exc:
        history[-1]["content"] = (
            f"{ERROR_PREFIX}**The language model is not available right now.** {exc}\n\n"
            "Your question is kept: press **Retry** when the model server is running again."
        )
        groups = {**groups, turn: source_group(turn, message, None, "No answer: the model is unavailable.")}
        yield history, sources_html(groups), "", groups
    except Exception as exc:
        log.exception("answering failed")
        history[-1]["content"] = (
            f"{ERROR_PREFIX}**Something went wrong while answering** ({type(exc).__name__}: {exc}). "
            "Press **Retry** to ask again."
        )
        groups = {**groups, turn: source_group(turn, message, None, "No answer because of an error.")}
        yield history, sources_html(groups), "", groups


def last_question(history: list[dict[str, Any]] | None) -> tuple[str, list[dict[str, Any]]]:
    """The last question asked and the history before it ("", history) when there is none."""
    history = list(history or [])
    for i in range(len(history) - 1, -1, -1):
        if history[i].get("role") == "user":
            return _content_text(history[i].get("content")).strip(), history[:i]
    return "", history


def mark_stopped(history: list[dict[str, Any]] | None, groups: dict[int, str] | None) -> tuple[Any, str]:
    history = [{"role": m.get("role"), "content": _content_text(m.get("content"))} for m in history or []]
    groups = dict(groups or {})
    if history and history[-1]["role"] == "assistant" and not history[-1]["content"].endswith(STOPPED_NOTE):
        history[-1]["content"] = (history[-1]["content"] + STOPPED_NOTE).lstrip()
        turn = _assistant_count(history) - 1
        if turn not in groups:
            question, _ = last_question(history)
            groups[turn] = source_group(turn, question, None, "Stopped before the answer was complete.")
    return history, sources_html(groups)


# -- documents -------------------------------------------------------------------------------------------

DOC_HEADERS = ["Document", "Chunks", "Characters"]


def documents_rows(ingest: IngestService) -> list[list[Any]]:
    return [[d.source, d.chunks, d.chars] for d in ingest.list_documents()]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def documents_summary(rows: list[list[Any]]) -> str:
    if not rows:
        return "**No documents yet.** Add some below; the assistant can only answer from them."
    chunks = sum(int(r[1]) for r in rows)
    return f"**{_plural(len(rows), 'document')}**, {_plural(chunks, 'chunk')} searchable."


def ingest_files(ingest: IngestService, files: list[Any] | None, max_bytes: int, progress: Any = None) -> str:
    """Adds the uploaded files one by one; a Markdown report, one line per file. Never raises."""
    if not files:
        return "Choose one or more files to add."
    lines = []
    for i, file in enumerate(files):
        path = Path(str(file))
        name = path.name
        if progress is not None:
            progress((i, len(files)), desc=f"Reading and indexing {name}", unit="files")
        try:
            data = path.read_bytes()
            report = ingest.add_upload(name, data, max_bytes)
        except UploadError as exc:
            lines.append(f"✗ **{name}** was not added: {_friendly_upload_error(str(exc), name)}")
            continue
        except OSError as exc:
            lines.append(f"✗ **{name}** could not be read ({exc.strerror or exc}). Try uploading it again.")
            continue
        except Exception as exc:
            log.exception("upload of %s failed", name)
            lines.append(f"✗ **{name}** could not be added: {type(exc).__name__}: {exc}")
            continue
        if report.skipped:
            lines.append(
                f"✗ **{name}** could not be read: {report.skipped[0].reason}. "
                "Check that the file opens and contains text (a scanned PDF without a text layer has none)."
            )
        elif report.files_unchanged and not report.files_changed:
            lines.append(f"✓ **{name}** is already in the library, unchanged.")
        else:
            added = _plural(report.chunks_added, "new chunk")
            lines.append(
                f"✓ **{name}** added: {added}"
                f"{f', {report.chunks_removed} replaced' if report.chunks_removed else ''} "
                f"in {report.seconds:.1f} s. You can ask about it in the Chat tab."
            )
    if progress is not None:
        progress((len(files), len(files)), desc="Done", unit="files")
    return "\n\n".join(lines)


def _friendly_upload_error(message: str, name: str) -> str:
    if message.startswith("unsupported file type"):
        suffix = Path(name).suffix or "(none)"
        return f"files of type **{suffix}** cannot be read. Supported types: {SUPPORTED_TEXT}."
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")


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
    return f"✓ Deleted **{source}** ({_plural(removed, 'chunk')}). Answers will no longer cite it."


# -- the app ---------------------------------------------------------------------------------------------


def _example_text(evt: gr.SelectData) -> str:
    value = evt.value
    return str(value.get("text", "")) if isinstance(value, dict) else str(value)


def _mode_text(extractive: bool, model_label: str) -> str:
    if extractive:
        return (
            "**Offline extractive mode.** No language model is used and nothing leaves this machine. "
            "Each answer is made of sentences copied word for word from your documents, each followed by "
            "its citation. It cannot paraphrase, summarise, or combine facts into new sentences, so ask "
            "specific questions. For written answers, start the server with a model: set "
            "`RAG_LLM_PROVIDER` (`openai`, `openai-compatible`, `llamacpp`) or `OPENAI_API_KEY`."
        )
    return (
        f"**Generative mode** with `{model_label}`. Answers are written by the model from the retrieved "
        "passages only, and cite them; an answer that cites nothing is flagged as not grounded."
    )


def build_ui(components: Components) -> gr.Blocks:
    chat, ingest, settings = components.chat, components.ingest, components.settings
    provider = settings.resolved_llm_provider
    extractive = provider == "extractive"
    max_bytes = int(settings.max_upload_mb * 1_000_000)

    def respond(
        message: str, history: list[dict[str, Any]], k: float, groups: dict[int, str]
    ) -> Iterator[Any]:
        yield from answer_turn(chat, message, history, k, groups)

    def retry(history: list[dict[str, Any]], k: float, groups: dict[int, str]) -> Iterator[Any]:
        question, before = last_question(history)
        if not question:
            gr.Info("There is no question to ask again yet.")
            yield history, gr.skip(), gr.skip(), groups
            return
        yield from answer_turn(chat, question, before, k, groups)

    def refresh_documents() -> tuple[Any, str, Any]:
        rows = documents_rows(ingest)
        return rows, documents_summary(rows), gr.update(choices=[r[0] for r in rows], value=None)

    def upload(files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        report = ingest_files(ingest, files, max_bytes, progress)
        return (report, *refresh_documents(), None)

    def ask_delete(source: str | None) -> tuple[Any, Any, Any]:
        if not source:
            return "Choose a document to delete first.", gr.update(visible=False), gr.update()
        chunks = next((d.chunks for d in ingest.list_documents() if d.source == source), 0)
        question = (
            f"Delete **{source}** ({_plural(chunks, 'chunk')})? Answers will no longer use it. "
            "Documents added through this page are removed from disk too."
        )
        return "", gr.update(visible=True), question

    def confirm_delete(source: str | None) -> tuple[Any, ...]:
        return (delete_document(ingest, source), gr.update(visible=False), *refresh_documents())

    with gr.Blocks(title="Grounded assistant", analytics_enabled=False) as demo:
        badge = (
            "<span class='mode-badge offline' id='mode-badge'>offline · extractive</span>"
            if extractive
            else f"<span class='mode-badge' id='mode-badge'>{html.escape(chat.model_label)}</span>"
        )
        gr.HTML(
            f"<div class='app-header'><h1>Grounded assistant</h1>{badge}</div>"
            "<p class='tagline'>Answers only from your documents, and shows where each answer comes from</p>",
            js_on_load=None,
            elem_id="header",
        )
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Chat", id="chat", elem_id="chat-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=300):
                        chatbot = gr.Chatbot(
                            label="Conversation",
                            elem_id="chatbot",
                            height=520,
                            buttons=["copy"],
                            placeholder=(
                                "Ask a question about your documents, or pick an example below.<br>"
                                "Answers cite their passages as [1], [2]…: click a number to see the passage."
                            ),
                            examples=[{"text": q} for q in EXAMPLES],
                        )
                        with gr.Row(elem_id="composer"):
                            box = gr.Textbox(
                                label="Your question",
                                show_label=False,
                                placeholder="Ask about your documents…",
                                scale=5,
                                lines=1,
                                max_lines=6,
                                container=False,
                                max_length=settings.max_message_chars,
                                elem_id="question",
                                autofocus=True,
                            )
                            send = gr.Button("Send", variant="primary", scale=1, min_width=70, elem_id="send")
                            stop = gr.Button(
                                "Stop", variant="stop", scale=1, min_width=70, visible=False, elem_id="stop"
                            )
                        with gr.Row(elem_id="chat-actions"):
                            retry_btn = gr.Button("Retry", size="sm", elem_id="retry")
                            clear = gr.Button("Clear", size="sm", elem_id="clear")
                    with gr.Column(scale=2, min_width=280):
                        sources = gr.HTML(sources_html(), js_on_load=CITATION_JS, elem_id="sources")
                groups = gr.State({})

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
                    f"**Add documents**: {SUPPORTED_TEXT}, up to {settings.max_upload_mb:g} MB each. "
                    "They are indexed as soon as they are uploaded.",
                    elem_id="upload-help",
                )
                files = gr.File(
                    label="Add documents",
                    show_label=False,
                    file_count="multiple",
                    height=150,
                    elem_id="upload",
                )
                status = gr.Markdown(elem_id="documents-status")
                with gr.Row(equal_height=False, elem_id="delete-row"):
                    choice = gr.Dropdown(
                        label="Document to delete",
                        choices=[],
                        scale=3,
                        elem_id="delete-choice",
                        filterable=True,
                    )
                    remove = gr.Button("Delete…", variant="stop", scale=1, min_width=100, elem_id="delete")
                with gr.Column(visible=False, elem_id="confirm-row") as confirm_row:
                    confirm_text = gr.Markdown(elem_id="confirm-text")
                    with gr.Row():
                        yes = gr.Button("Yes, delete", variant="stop", elem_id="confirm-delete")
                        no = gr.Button("Cancel", elem_id="cancel-delete")

            with gr.Tab("Settings", id="settings", elem_id="settings-tab"):
                gr.Markdown(
                    _mode_text(extractive, chat.model_label), elem_id="mode-note", elem_classes=["notice"]
                )
                with gr.Row():
                    gr.Textbox(
                        value=chat.model_label,
                        label="Answering model",
                        interactive=False,
                        elem_id="model-name",
                    )
                    gr.Textbox(
                        value=provider + (" (offline)" if extractive else ""),
                        label="Provider",
                        interactive=False,
                        elem_id="provider",
                    )
                    gr.Textbox(
                        value=f"{settings.embeddings_model} ({settings.embeddings_provider})",
                        label="Embedding model",
                        interactive=False,
                        elem_id="embedding-model",
                    )
                k = gr.Slider(
                    1,
                    20,
                    value=settings.k,
                    step=1,
                    label="Passages retrieved per question (k)",
                    info="More passages can find more, but add noise; applies to your next question.",
                    elem_id="k",
                )
                with gr.Accordion("All effective settings (set by RAG_* environment variables)", open=False):
                    gr.JSON(settings.describe(), label="Effective settings")

        # Chat: Send (or Enter) swaps to Stop while the answer streams; busy → answer → idle, in order.
        busy = {"fn": lambda: (gr.update(visible=False), gr.update(visible=True)), "outputs": [send, stop]}
        idle = {"fn": lambda: (gr.update(visible=True), gr.update(visible=False)), "outputs": [send, stop]}
        chat_inputs, chat_outputs = [box, chatbot, k, groups], [chatbot, sources, box, groups]
        # Answers run in parallel (the in-process llama.cpp model serialises itself); one pool for all.
        answer_options = {
            "show_progress": "minimal",
            "show_progress_on": [chatbot],
            "concurrency_limit": 4,
            "concurrency_id": "answer",
        }

        started = gr.on([box.submit, send.click], **busy, queue=False, api_name=False)
        submit = started.then(respond, chat_inputs, chat_outputs, api_name="chat", **answer_options)
        submit.then(**idle, queue=False, api_name=False)

        picked = chatbot.example_select(_example_text, None, box, queue=False, api_name=False)
        example_run = picked.then(**busy, queue=False, api_name=False).then(
            respond, chat_inputs, chat_outputs, api_name=False, **answer_options
        )
        example_run.then(**idle, queue=False, api_name=False)

        retried = retry_btn.click(**busy, queue=False, api_name=False).then(
            retry, [chatbot, k, groups], chat_outputs, api_name=False, **answer_options
        )
        retried.then(**idle, queue=False, api_name=False)

        running = [submit, example_run, retried]
        stop.click(mark_stopped, [chatbot, groups], [chatbot, sources], cancels=running, api_name=False).then(
            **idle, queue=False, api_name=False
        )
        cleared = {
            "fn": lambda: ([], sources_html(), "", {}, gr.update(visible=True), gr.update(visible=False)),
            "outputs": [chatbot, sources, box, groups, send, stop],
        }
        clear.click(**cleared, cancels=running, queue=False, api_name=False)
        chatbot.clear(**cleared, cancels=running, queue=False, api_name=False)

        # Documents
        doc_outputs = [docs, docs_summary, choice]
        demo.load(refresh_documents, None, doc_outputs, api_name=False)
        documents_tab.select(refresh_documents, None, doc_outputs, api_name=False)
        files.upload(upload, files, [status, *doc_outputs, files], api_name="upload", show_progress_on=status)
        remove.click(ask_delete, choice, [status, confirm_row, confirm_text], api_name=False, queue=False)
        yes.click(confirm_delete, choice, [status, confirm_row, *doc_outputs], api_name="delete_document")
        no.click(lambda: gr.update(visible=False), None, confirm_row, queue=False, api_name=False)
        choice.change(lambda: gr.update(visible=False), None, confirm_row, queue=False, api_name=False)
    return demo
