"""The Gradio chat: a thin adapter over ChatService and IngestService.

The chat history holds each answer's plain text with its `[n]` markers, exactly as ChatService made it, so the
history sent back for follow-ups (and returned to API clients of `/chat`) is plain text. A small script turns
the markers into links in the browser; clicking one opens that answer's source card in the Sources panel.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.citations import Citation, RetrievedPassage
from assistant.components import Components
from assistant.errors import ModelUnavailableError
from assistant.service import Answer, ChatService, Done, TextDelta
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

# Turns the [n] markers of each answer into links to its source cards, and opens a card when one is clicked.
# Installed once per page by the Sources panel (gr.HTML js_on_load); works for streamed and re-rendered text.
CITATION_JS = r"""
if (!window.__groundedCitations) {
  window.__groundedCitations = true;
  const MARK = /\[(\d{1,3})\]/g;
  const decorate = () => {
    const bots = document.querySelectorAll('#chatbot [data-testid="bot"]');
    bots.forEach((bot, turn) => {
      bot.querySelectorAll('.message-content .md').forEach((md) => {
        const walker = document.createTreeWalker(md, NodeFilter.SHOW_TEXT);
        const nodes = [];
        while (walker.nextNode()) {
          const node = walker.currentNode;
          if (node.parentElement.closest('a, code, pre')) continue;
          MARK.lastIndex = 0;
          if (MARK.test(node.nodeValue)) nodes.push(node);
        }
        nodes.forEach((node) => {
          const text = node.nodeValue;
          const frag = document.createDocumentFragment();
          let last = 0;
          MARK.lastIndex = 0;
          for (let m = MARK.exec(text); m; m = MARK.exec(text)) {
            frag.append(text.slice(last, m.index));
            const a = document.createElement('a');
            a.className = 'cite';
            a.href = '#source-' + turn + '-' + m[1];
            a.textContent = m[0];
            a.setAttribute('aria-label', 'Show source ' + m[1]);
            frag.append(a);
            last = m.index + m[0].length;
          }
          frag.append(text.slice(last));
          node.replaceWith(frag);
        });
      });
      bot.querySelectorAll('a.cite').forEach((a) => {
        const card = document.getElementById(a.getAttribute('href').slice(1));
        const hint = card && card.dataset.hint;
        if (hint && a.title !== hint) a.title = hint;
      });
    });
  };
  let queued = false;
  new MutationObserver(() => {
    if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; decorate(); }); }
  }).observe(document.body, { childList: true, subtree: true, characterData: true });
  const reveal = (id) => {
    const card = document.getElementById(id);
    if (!card) return false;
    const group = card.closest('.source-group');
    document.querySelectorAll('#sources .source-group').forEach((g) => { g.hidden = g !== group; });
    card.open = true;
    card.classList.remove('flash');
    void card.offsetWidth;
    card.classList.add('flash');
    card.scrollIntoView({ behavior: 'smooth', block: window.innerWidth < 700 ? 'start' : 'nearest' });
    const summary = card.querySelector('summary');
    if (summary) summary.focus({ preventScroll: true });
    return true;
  };
  document.addEventListener('click', (ev) => {
    const back = ev.target.closest && ev.target.closest('a.back-to-chat');
    if (back) {
      ev.preventDefault();
      const chat = document.getElementById('chatbot');
      if (chat) chat.scrollIntoView({ behavior: 'smooth', block: 'start' });
      return;
    }
    const link = ev.target.closest && ev.target.closest('a[href^="#source-"]');
    if (!link) return;
    ev.preventDefault();
    ev.stopPropagation();
    reveal(link.getAttribute('href').slice(1));
  }, true);
  decorate();
}
"""

# Gradio scopes custom CSS to `.contain`, except top-level rules (also emitted as written): the page padding
# rule must stay top-level, outside any @media block, to reach the element around `.contain`.
CSS = """
.gradio-container .main.app { padding-left: clamp(8px, 2.5vw, 32px) !important;
  padding-right: clamp(8px, 2.5vw, 32px) !important; }
#header .html-container { padding-left: 0; padding-right: 0; }
#sources .html-container { padding: 0 4px; }
.app-header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; }
.app-header h1 { font-size: 1.35rem; margin: 0; }
.mode-badge { display: inline-block; font-size: 0.8rem; padding: 1px 8px; border-radius: 999px;
  border: 1px solid var(--border-color-primary); color: var(--body-text-color-subdued); }
.mode-badge.offline { background: #fef3c7; color: #78350f; border-color: #fcd34d; }
.tagline { color: var(--body-text-color); opacity: 0.75; margin: 2px 0 0; font-size: 0.95rem; }
#chatbot a.cite { font-weight: 600; text-decoration: none; padding: 0 2px; border-radius: 4px;
  color: var(--link-text-color, #2563eb); background: var(--color-accent-soft, #e0e7ff); cursor: pointer; }
#chatbot a.cite:hover, #chatbot a.cite:focus { text-decoration: underline; }
#chatbot .placeholder { padding: 0 16px; text-align: center; }
#composer { align-items: stretch; }
#composer button { min-width: 84px; }
#chat-actions { gap: 8px; }
#chat-actions button { flex: 1 1 0; min-width: 0; }
.sources-title { font-weight: 600; margin: 0 0 6px; font-size: 1rem; }
.sources-question { color: var(--body-text-color); opacity: 0.8; font-size: 0.85rem; margin: 0 0 6px; }
.source-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 6px 10px;
  margin: 6px 0; background: var(--background-fill-primary); }
.source-card summary { cursor: pointer; font-weight: 600; overflow-wrap: anywhere; }
.source-card summary .n { color: var(--link-text-color, #2563eb); margin-right: 4px; }
.source-card .meta { color: var(--body-text-color-subdued); font-size: 0.8rem; margin-top: 2px; }
.source-card .passage { white-space: pre-wrap; margin-top: 6px; line-height: 1.5; font-size: 0.9rem;
  max-height: 320px; overflow-y: auto; overflow-wrap: anywhere; }
.source-card mark { background: #fde68a; color: #1f2937; padding: 0 2px; border-radius: 3px; }
.source-card.flash { animation: cite-flash 1.2s ease-out; }
@keyframes cite-flash { from { box-shadow: 0 0 0 3px #f59e0b; } to { box-shadow: 0 0 0 0 transparent; } }
a.back-to-chat { display: none; font-size: 0.85rem; margin-top: 6px; }
.other-passages { font-size: 0.85rem; margin-top: 8px; color: var(--body-text-color-subdued); }
.other-passages summary { cursor: pointer; }
.other-passages li { margin: 4px 0; overflow-wrap: anywhere; }
.mode-note { font-size: 0.9em; color: var(--body-text-color); opacity: 0.8; }
#delete-row { align-items: flex-end; }
#delete-row > button { max-height: 44px; margin-bottom: 10px; }
.notice { border-left: 4px solid #f59e0b; padding: 8px 12px; border-radius: 4px;
  background: var(--background-fill-secondary); }
#documents-status p { margin: 4px 0; }
#confirm-row { border: 1px solid #fca5a5; border-radius: 8px; padding: 8px; }
@media (max-width: 640px) {
  a.back-to-chat { display: inline-block; }
  .app-header h1 { font-size: 1.15rem; }
  .tagline { font-size: 0.85rem; }
  #chatbot { height: 58vh !important; min-height: 300px; }
  #composer { flex-wrap: nowrap !important; }
  #composer > div:first-child { min-width: 0 !important; }
  #composer button { min-width: 64px; }
  .source-card .passage { max-height: 240px; }
  #documents-table table { font-size: 0.78rem; }
}
"""

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


# -- sources ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)
# A sentence ends at . ! ? (not after an initial such as "S.") or at a blank line.
_SENTENCE_END = re.compile(r"(?<!\b[A-Z]\.)(?<=[.!?…])[\"'”’)\]]*\s+|\n\s*\n")
_STOPWORDS = frozenset(
    "the and for that with this from was were are has have had its his her their they them which who "  # noqa: SIM905
    "what when where will would can could should not but all also into than then there these those".split()
)


def cited_segments(answer_text: str) -> list[tuple[str, list[int]]]:
    """The answer cut at its markers: each stretch of text with the passage numbers that cite it."""
    parts = re.split(r"((?:\s*\[\d{1,3}\])+)", answer_text)
    out = []
    for i in range(0, len(parts) - 1, 2):
        text = parts[i].strip().lstrip(".,;:!? ").strip()
        numbers = [int(x) for x in re.findall(r"\d+", parts[i + 1])]
        if text:
            out.append((text, numbers))
    return out


def _sentence_spans(passage: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for match in _SENTENCE_END.finditer(passage):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(passage)))
    return [(s, e) for s, e in spans if passage[s:e].strip()]


def _words(text: str) -> set[str]:
    return {w for w in (w.lower() for w in _WORD.findall(text)) if len(w) > 2 and w not in _STOPWORDS}


def _find_verbatim(passage: str, text: str) -> tuple[int, int] | None:
    words = text.split()
    if not words:
        return None
    found = re.search(r"\s+".join(re.escape(w) for w in words), passage)
    return (found.start(), found.end()) if found else None


def highlight_spans(passage: str, claims: list[str]) -> list[tuple[int, int]]:
    """Where each claim sits in the passage: verbatim (ignoring spaces), else its most similar sentence."""
    spans: list[tuple[int, int]] = []
    sentences = None
    for claim in claims:
        whole = _find_verbatim(passage, claim)
        if whole:
            spans.append(whole)
            continue
        # The text before a marker may hold several sentences: find each; a paraphrase (a generated answer)
        # gets the passage sentence sharing most of its words.
        for piece in (p for p in _SENTENCE_END.split(claim) if p and p.strip()):
            found = _find_verbatim(passage, piece)
            if found:
                spans.append(found)
                continue
            sentences = sentences if sentences is not None else _sentence_spans(passage)
            wanted = _words(piece)
            if len(wanted) < 3:
                continue
            best, score = None, 0.0
            for start, end in sentences:
                overlap = len(wanted & _words(passage[start:end])) / len(wanted)
                if overlap > score:
                    best, score = (start, end), overlap
            if best and score >= 0.5:
                spans.append(best)
    return sorted(set(spans))


_BLANK_LINES = re.compile(r"\n[ \t\u00a0]*(?:\n[ \t\u00a0]*)+")


def _display(text: str) -> str:
    """Escaped passage text with runs of blank lines collapsed (offsets are computed before this)."""
    return html.escape(_BLANK_LINES.sub("\n\n", text))


def marked_passage(passage: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in spans:
        if start < pos:
            continue
        out += [_display(passage[pos:start]), "<mark>", _display(passage[start:end]), "</mark>"]
        pos = end
    out.append(_display(passage[pos:]))
    return "".join(out)


def _hint(citation: Citation, spans: list[tuple[int, int]]) -> str:
    quote = citation.text[spans[0][0] : spans[0][1]] if spans else citation.text
    quote = " ".join(quote.split())
    if len(quote) > 180:
        quote = quote[:177] + "…"
    return f"{citation.source}: {quote}"


def source_card(
    turn: int, citation: Citation, answer_text: str, similarity: float | None, open_: bool
) -> str:
    claims = [text for text, numbers in cited_segments(answer_text) if citation.n in numbers]
    spans = highlight_spans(citation.text, claims)
    score = f" · relevance {similarity:.2f}" if similarity is not None else ""
    return (
        f"<details class='source-card' id='source-{turn}-{citation.n}' data-n='{citation.n}' "
        f"data-hint='{html.escape(_hint(citation, spans), quote=True)}'{' open' if open_ else ''}>"
        f"<summary><span class='n'>[{citation.n}]</span>{html.escape(citation.source)}</summary>"
        f"<div class='meta'>characters {citation.start:,}–{citation.end:,}{score}</div>"
        f"<div class='passage'>{marked_passage(citation.text, spans)}</div></details>"
    )


def _other_passages(retrieved: list[RetrievedPassage], cited: set[int], title: str) -> str:
    rest = [p for p in retrieved if p.n not in cited]
    if not rest:
        return ""
    items = "".join(
        f"<li><b>{html.escape(p.source)}</b> · characters {p.start:,}–{p.end:,} · relevance "
        f"{p.similarity:.2f}<br>{html.escape(_shorten(p.text, 160))}</li>"
        for p in rest
    )
    return (
        f"<details class='other-passages'><summary>{title} ({len(rest)})</summary><ul>{items}</ul></details>"
    )


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def source_group(turn: int, question: str, answer: Answer | None, note: str = "") -> str:
    """The sources of one answer: a card per cited passage, the cited sentences highlighted."""
    head = (
        f"<p class='sources-question'>For: “{html.escape(_shorten(question, 120))}”</p>" if question else ""
    )
    if answer is None:
        body = f"<p class='mode-note'>{html.escape(note or 'No sources.')}</p>"
    elif not answer.citations:
        text = (
            "Nothing in the documents answers this question, so nothing is cited."
            if answer.refused
            else "This answer cites no passage."
        )
        body = f"<p class='mode-note'>{text}</p>" + _other_passages(
            answer.retrieved, set(), "Closest passages searched"
        )
    else:
        similarity = {p.n: p.similarity for p in answer.retrieved}
        single = len(answer.citations) == 1
        body = "".join(
            source_card(turn, c, answer.text, similarity.get(c.n), open_=single or i == 0)
            for i, c in enumerate(answer.citations)
        )
        body += _other_passages(answer.retrieved, {c.n for c in answer.citations}, "Also searched, not cited")
    back = "<a class='back-to-chat' href='#chatbot'>↑ Back to the conversation</a>"
    return f"<section class='source-group' data-turn='{turn}'>{head}{body}{back}</section>"


def sources_html(groups: dict[int, str] | None = None, current: int | None = None) -> str:
    """The Sources panel: every answer's group, only the current one shown (a marker click shows another)."""
    title = "<p class='sources-title' role='heading' aria-level='2'>Sources</p>"
    if not groups:
        return (
            f"<div class='sources-root' role='region' aria-label='Sources'>{title}<p class='mode-note'>"
            "The passages an answer cites appear here. Click a [n] marker in an answer to open its "
            "passage.</p></div>"
        )
    current = max(groups) if current is None else current
    parts = []
    for turn in sorted(groups):
        block = groups[turn]
        if turn != current:
            block = block.replace("<section class='source-group'", "<section hidden class='source-group'", 1)
        parts.append(block)
    return f"<div class='sources-root' role='region' aria-label='Sources'>{title}{''.join(parts)}</div>"


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
