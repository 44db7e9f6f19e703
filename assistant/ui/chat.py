"""The Chat tab: a thin adapter over ChatService.

The chat history holds each answer's plain text with its `[n]` markers, exactly as ChatService made it, so the
history sent back for follow-ups (and returned to API clients of `/chat`) is plain text. A small script turns
the markers into links in the browser; clicking one opens that answer's source card in the Sources panel.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.answering.service import Answer, ChatService, Done, TextDelta
from assistant.errors import AssistantError, ModelUnavailableError
from assistant.ids import new_request_id
from assistant.limits import Limits
from assistant.settings import redact_urls
from assistant.ui.assets import CITATION_JS
from assistant.ui.feedback import FEEDBACK_OPTIONS, feedback_comment, wire_feedback
from assistant.ui.sidebar import wire_sidebar
from assistant.ui.sources import source_group, sources_html

if TYPE_CHECKING:
    from assistant.ui.conversations import Conversations

log = logging.getLogger(__name__)

EXAMPLES = [
    "With which country is Russia jointly chairing the Mine Action Centre?",
    "What did Lavrov thank Malaysia for regarding the conflict in Ukraine?",
    "What documents were signed in Vientiane?",
]

ERROR_PREFIX = "⚠ "  # no emoji variant: it renders without an emoji font
# The Chatbot renders no Markdown and escaped text (S10): answers and questions are HTML-escaped by `display`,
# so a document's `<form>`, `![](http://...)` or link shows as text. The UI's own notes are HTML (sanitized by
# Gradio), and cannot be forged by an answer: its `<` are escaped.
STOPPED_NOTE = "\n\n<em>(stopped)</em>"
UNGROUNDED_NOTE = "\n\n⚠ <em>The model cited no passage: this answer is not grounded in the documents.</em>"
UNSUPPORTED_NOTE = "\n\n⚠ <em class='unsupported-note'>Not supported by the passages it cites:</em>"
NOTES = (UNGROUNDED_NOTE, UNSUPPORTED_NOTE, STOPPED_NOTE)
# What the answer's bubble shows until its first words arrive (issue 21): three pulsing dots and, for a screen
# reader, words (the sanitizer keeps no ARIA attributes), instead of an empty bubble with a copy button (the
# CSS hides the buttons under it).
TYPING = (
    "<span class='typing-indicator'><span></span><span></span><span></span>"
    "<em class='visually-hidden'>Writing the answer…</em></span>"
)


def display(text: str) -> str:
    """Text from a document, a model or a user as the chat shows it: as text, never as HTML or Markdown."""
    return html.escape(text, quote=False)


def unsupported_note(answer: Answer) -> str:
    """Under a generated answer: the sentences its cited passages do not hold (S9), or ""."""
    sentences = [s.text for s in answer.support if not s.supported]
    if not sentences:
        return ""
    return UNSUPPORTED_NOTE + "".join(f"\n• {display(_shorten(s, 240))}" for s in sentences)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    """An assistant message as the service made it: without the notes the UI appends, unescaped."""
    cut = min((text.find(note) for note in NOTES if note in text), default=len(text))
    return html.unescape(text[:cut]).strip()


def history_for_service(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Plain-text user/assistant turns; failed or stopped turns are left out with their question."""
    turns: list[dict[str, str]] = []
    for message in history or []:
        role = message.get("role")
        text = _content_text(message.get("content")).strip()
        if role == "user" and text:
            turns.append({"role": "user", "content": html.unescape(text)})
        elif role == "assistant":
            failed = (
                not text or text.startswith((ERROR_PREFIX, TYPING)) or text.endswith(STOPPED_NOTE.strip())
            )
            if failed:
                if turns and turns[-1]["role"] == "user":
                    turns.pop()
                continue
            turns.append({"role": "assistant", "content": plain_answer(text)})
    return turns


def answer_at(history: list[dict[str, Any]], index: int) -> tuple[int, str] | None:
    """The answer shown at `index` of the chat as (its ordinal among the stored answers, its text as
    stored); None when that message is no answer. Failed and stopped turns are not stored: not counted."""
    if not 0 <= index < len(history) or history[index].get("role") != "assistant":
        return None
    ordinal = sum(1 for turn in history_for_service(history[:index]) if turn["role"] == "assistant")
    return ordinal, plain_answer(_content_text(history[index].get("content")))


def _assistant_count(history: list[dict[str, Any]]) -> int:
    return sum(1 for m in history if m.get("role") == "assistant")


# -- chat ------------------------------------------------------------------------------------------------


def answer_turn(
    chat: ChatService,
    message: str,
    history: list[dict[str, Any]] | None,
    k: float | int | None,
    groups: dict[int, str] | None,
    scope: dict[str, Any] | None = None,
    on_done: Callable[[str, Answer], None] | None = None,
) -> Iterator[tuple[list[dict[str, Any]], str, str, dict[int, str]]]:
    """One question: stream the answer into the history, then show its sources. Never raises.
    `scope` keeps retrieval to some collections or documents; `on_done(question, answer)` stores it."""
    history = [{"role": m.get("role"), "content": _content_text(m.get("content"))} for m in history or []]
    groups = {int(t): g for t, g in (groups or {}).items() if int(t) < _assistant_count(history)}
    message = (message or "").strip()
    if not message:
        yield history, sources_html(groups), "", groups
        return
    limits: Limits = getattr(chat, "limits", None) or Limits()  # a test double may have none
    prior = limits.trim(history_for_service(history))  # N15: the oldest turns go, the chat goes on
    turn = _assistant_count(history)
    history = [
        *history,
        {"role": "user", "content": display(message)},
        {"role": "assistant", "content": TYPING},
    ]
    searching = {**groups, turn: source_group(turn, message, None, "Searching the documents…")}
    yield history, sources_html(searching), "", groups
    try:
        writing, raw = False, ""
        options: dict[str, Any] = {"scope": scope} if scope else {}
        for event in chat.stream(message, prior, int(k) if k else None, **options):
            if isinstance(event, TextDelta):
                raw += event.text
                history[-1]["content"] = display(raw)  # the whole text: an escape never splits
                panel: Any = gr.skip()
                if not writing:  # the passages are found: say what happens next
                    writing = True
                    note = "Writing the answer… its sources appear here when it is complete."
                    panel = sources_html({**groups, turn: source_group(turn, message, None, note)})
                yield history, panel, "", groups
            elif isinstance(event, Done):
                answer = event.answer
                text = display(answer.text) + (UNGROUNDED_NOTE if answer.ungrounded else "")
                history[-1]["content"] = text + unsupported_note(answer)
                groups = {**groups, turn: source_group(turn, message, answer)}
                if on_done is not None:
                    on_done(message, answer)
                yield history, sources_html(groups), "", groups
    except Exception as exc:
        history[-1]["content"], note = failure_text(exc)
        groups = {**groups, turn: source_group(turn, message, None, note)}
        yield history, sources_html(groups), "", groups


def failure_text(exc: Exception) -> tuple[str, str]:
    """The chat message and the Sources note for a failed answer: the error's own message, never a trace."""
    if isinstance(exc, ModelUnavailableError):
        return (
            f"{ERROR_PREFIX}<strong>The language model is not available right now.</strong> "
            f"{display(redact_urls(exc.message))}\n\n"
            "Your question is kept: press <strong>Retry</strong> when the model server is running again."
        ), "No answer: the model is unavailable."
    if isinstance(exc, AssistantError):
        message = display(redact_urls(exc.message)).rstrip(".")
        return (
            f"{ERROR_PREFIX}<strong>No answer:</strong> {message}. Press <strong>Retry</strong> to ask again."
        ), "No answer because of an error."
    request_id = new_request_id()  # S17: the details go to the log, the user gets the id to quote
    log.error("answering failed (request id %s)", request_id, exc_info=exc)
    return (
        f"{ERROR_PREFIX}<strong>Something went wrong while answering</strong> (request id {request_id}). "
        "Press <strong>Retry</strong> to ask again."
    ), "No answer because of an error."


def last_question(history: list[dict[str, Any]] | None) -> tuple[str, list[dict[str, Any]]]:
    """The last question asked and the history before it ("", history) when there is none."""
    history = list(history or [])
    for i in range(len(history) - 1, -1, -1):
        if history[i].get("role") == "user":
            return html.unescape(_content_text(history[i].get("content"))).strip(), history[:i]
    return "", history


def show_send() -> tuple[Any, Any]:
    """Fresh updates each time (Gradio may alter an update dict): Send shown, Stop hidden."""
    return gr.update(visible=True), gr.update(visible=False)


def mark_stopped(history: list[dict[str, Any]] | None, groups: dict[int, str] | None) -> tuple[Any, str]:
    history = [{"role": m.get("role"), "content": _content_text(m.get("content"))} for m in history or []]
    groups = dict(groups or {})
    if history and history[-1]["role"] == "assistant" and not history[-1]["content"].endswith(STOPPED_NOTE):
        shown = history[-1]["content"].replace(TYPING, "")  # stopped before the first words: no dots left
        history[-1]["content"] = (shown + STOPPED_NOTE).lstrip()
        turn = _assistant_count(history) - 1
        if turn not in groups:
            question, _ = last_question(history)
            groups[turn] = source_group(turn, question, None, "Stopped before the answer was complete.")
    return history, sources_html(groups)


# How long Stop waits for the answer being written to end before it marks what was shown: the stream ends
# at its next update or when Gradio closes it; a model stuck between two tokens does not hold Stop longer.
STOP_WAIT_SECONDS = 5.0


class Streaming:
    """The answer being written in one browser session: a gr.State, so the answer's generator and the Stop
    handler share this object. Stop once marked the browser's copy of the chat while the cancelled stream
    could still deliver an update after the mark, unmarked: "(stopped)" flashed and was gone. Now Stop
    raises `stopped` and waits (bounded) for the stream to end, and the stream, once `stopped`, sends only
    the marked text and ends: whichever arrives last, the turn is marked."""

    def __init__(self) -> None:
        self.stopped = False
        self.history: list[dict[str, Any]] | None = None  # the last history the stream sent
        self.ended = threading.Event()
        self.ended.set()  # nothing is being written

    def __deepcopy__(self, memo: dict[int, Any]) -> Streaming:
        return Streaming()  # gr.State copies its value once per session; an Event cannot be copied

    def guard(self, outputs: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        """`outputs` ((history, sources, box, groups, ...) each) passed on until Stop, then once marked."""
        self.stopped, self.history = False, None
        self.ended.clear()
        try:
            for out in outputs:
                self.history = out[0]
                if self.stopped:
                    history, sources = mark_stopped(out[0], out[3])
                    yield (history, sources, *out[2:])
                    return
                yield out
        finally:
            close = getattr(outputs, "close", None)
            if close is not None:
                close()  # ends the model's stream too, rather than leaving it to the garbage collector
            self.ended.set()

    def stop(self, shown: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        """Ends the answer being written; returns the history to mark: the stream's last, the browser's
        `shown` when nothing is being written."""
        if self.ended.is_set():
            return shown
        self.stopped = True
        self.ended.wait(STOP_WAIT_SECONDS)
        return self.history if self.history is not None else shown


# -- the tab ---------------------------------------------------------------------------------------------

# Send hidden, Stop shown: the update objects Gradio's front end applies to the event's two outputs.
BUSY_JS = "() => [{__type__: 'update', visible: false}, {__type__: 'update', visible: true}]"


def _example_text(evt: gr.SelectData) -> str:
    value = evt.value
    return str(value.get("text", "")) if isinstance(value, dict) else str(value)


def _picker_components() -> dict[str, Any]:
    """The collection and document pickers; call inside `gr.Tab`."""
    picker = gr.Dropdown(
        label="Ask about collections",
        info="None chosen: every collection you may use.",
        choices=[],
        value=[],
        multiselect=True,
        min_width=160,
        elem_id="collection-picker",
    )
    documents = gr.Dropdown(
        label="Ask about documents",
        info="None chosen: every document of those collections.",
        choices=[],
        value=[],
        multiselect=True,
        min_width=160,
        elem_id="document-picker",
    )
    return {"picker": picker, "documents": documents}


def _chat_components(max_message_chars: int, feedback: bool = False) -> dict[str, Any]:
    """The tab's components, keyed by role; call inside `gr.Tab`. With `feedback`, each answer has 👍 / 👎
    and a "Wrong source" flag (ui/feedback.py), and a comment box goes with them."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            chatbot = gr.Chatbot(
                label="Conversation",
                show_label=False,  # a floating label covered the first message once the chat scrolled
                elem_id="chatbot",
                height=520,
                buttons=["copy"],
                # S10: no Markdown, no LaTeX, no raw HTML tags: the text is escaped (`display`) and shown as
                # text; the [n] markers become links through the citation script (assets.CITATION_JS).
                render_markdown=False,
                sanitize_html=True,
                latex_delimiters=[],
                allow_tags=False,
                placeholder=(
                    "Ask a question about your documents, or pick an example below.<br>"
                    "Answers cite their passages as [1], [2]…: click a number to see the passage."
                ),
                examples=[{"text": q} for q in EXAMPLES],
                feedback_options=FEEDBACK_OPTIONS if feedback else None,
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
                    max_length=max_message_chars,
                    elem_id="question",
                    autofocus=True,
                )
                send = gr.Button("Send", variant="primary", scale=1, min_width=70, elem_id="send")
                stop = gr.Button("Stop", variant="stop", scale=1, min_width=70, visible=False, elem_id="stop")
            with gr.Row(elem_id="chat-actions"):
                retry = gr.Button("Retry", size="sm", elem_id="retry")
                clear = gr.Button("Clear", size="sm", elem_id="clear")
            comment = feedback_comment() if feedback else None
        with gr.Column(scale=2, min_width=280):
            sources = gr.HTML(sources_html(), js_on_load=CITATION_JS, elem_id="sources")
    groups = gr.State({})
    return {
        "streaming": gr.State(Streaming()),
        "chatbot": chatbot,
        "box": box,
        "send": send,
        "stop": stop,
        "retry": retry,
        "clear": clear,
        "sources": sources,
        "groups": groups,
        "comment": comment,
    }


def _responder(chat: ChatService, conversations: Conversations | None) -> Callable[..., Iterator[Any]]:
    """The `/chat` event: one answer; with `conversations`, scoped to the chosen collections and stored."""

    def respond(
        message: str,
        history: list[dict[str, Any]],
        k: float,
        groups: dict[int, str],
        conversation: str | None = None,
        collections: list[str] | None = None,
        documents: list[str] | None = None,
        request: gr.Request | None = None,
        streaming: Streaming | None = None,  # last: Gradio passes `request` by its type, not its place
    ) -> Iterator[Any]:
        turn = answer(message, history, k, groups, conversation, collections, documents, request)
        yield from streaming.guard(turn) if streaming is not None else turn

    def answer(
        message: str,
        history: list[dict[str, Any]],
        k: float,
        groups: dict[int, str],
        conversation: str | None,
        collections: list[str] | None,
        documents: list[str] | None,
        request: gr.Request | None,
    ) -> Iterator[Any]:
        if conversations is None or not (message or "").strip():
            for out in answer_turn(chat, message, history, k, groups):
                yield (*out, conversation)
            return
        try:
            scope = conversations.scope(request, collections, documents)
        except AssistantError as exc:
            gr.Warning(exc.message)
            yield gr.skip(), gr.skip(), message, groups, conversation  # the history not echoed (N23)
            return
        conversation = conversations.start(request, conversation if history else None)

        def keep(question: str, answer: Answer) -> None:
            conversations.store(request, conversation, question, answer, int(k) if k else None, scope)

        for out in answer_turn(chat, message, history, k, groups, scope, keep):
            yield (*out, conversation)

    return respond


def build_chat_tab(
    chat: ChatService,
    k: gr.Slider,
    max_message_chars: int,
    demo: gr.Blocks | None = None,
    conversations: Conversations | None = None,
    bar: dict[str, Any] | None = None,
) -> None:
    """The Chat tab and its events; `k` is the (Settings tab's) slider for passages per question. With
    `conversations` (and `demo`), answers are stored; with the sidebar's components (`bar`, see
    ui/sidebar.py), people list, open, rename and delete them."""
    with gr.Tab("Chat", id="chat", elem_id="chat-tab"):
        c = _chat_components(max_message_chars, feedback=conversations is not None)
        # below the chat: on a phone, the question box stays in view
        scope = _picker_components() if conversations is not None else None
        current = gr.State(None)  # the stored conversation's id (inside the Tab: a child of Tabs is a tab)
        picked = gr.State([])  # the collections chosen (a State: the `/chat` API keeps its parameters)
        picked_documents = gr.State([])  # the documents chosen, likewise
    chatbot = c["chatbot"]
    respond = _responder(chat, conversations)
    chat_inputs = [c["box"], chatbot, k, c["groups"], current, picked, picked_documents, c["streaming"]]
    running, finished = _answer_events(c, chat_inputs, respond, _retrier(respond))
    if conversations is not None and c["comment"] is not None:
        wire_feedback(conversations, chatbot, current, c["comment"], answer_at)
    c["cleared"] = _stop_and_clear_events(c, current, running)
    if conversations is not None and scope is not None and bar is not None and demo is not None:
        pickers = {**scope, "picked": picked, "chosen": picked_documents}
        wire_sidebar(conversations, bar, demo, c, current, pickers, finished, running)


def _retrier(respond: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """Retry's handler: the answer function Send uses, given the last question of the chat."""

    def retry(
        history: list[dict[str, Any]],
        k: float,
        groups: dict[int, str],
        conversation: str | None = None,
        collections: list[str] | None = None,
        documents: list[str] | None = None,
        request: gr.Request | None = None,
        streaming: Streaming | None = None,  # last: Gradio passes `request` by its type, not its place
    ) -> Iterator[Any]:
        """The last question asked again, through the same door as Send: the same scope, the same store."""
        question, before = last_question(history)
        if not question:
            gr.Info("There is no question to ask again yet.")
            yield gr.skip(), gr.skip(), gr.skip(), groups, conversation  # nothing echoed back (N23)
            return
        yield from respond(
            question, before, k, groups, conversation, collections, documents, request, streaming
        )

    return retry


def _answer_events(
    c: dict[str, Any],
    chat_inputs: list[Any],
    respond: Callable[..., Iterator[Any]],
    retry: Callable[..., Iterator[Any]],
) -> tuple[list[Any], list[Any]]:
    """Send, an example and Retry each run an answer: (the running answers, for Stop and Clear to cancel;
    the steps after Send's and an example's answers, for the sidebar to refresh its list)."""
    chatbot, box, send, stop = c["chatbot"], c["box"], c["send"], c["stop"]
    chat_outputs = [chatbot, c["sources"], box, c["groups"], chat_inputs[4]]  # [4]: the conversation
    # Send (or Enter) swaps to Stop while the answer streams; busy → answer → idle, in order. The swap to
    # Stop runs in the browser: as a server call it held the answer back by a round trip (~250 ms measured,
    # benchmarks/bench_first_token.py) before the question was even queued.
    busy = {"fn": None, "js": BUSY_JS, "outputs": [send, stop]}
    idle = {"fn": lambda: (gr.update(visible=True), gr.update(visible=False)), "outputs": [send, stop]}
    # Answers run in parallel (the in-process llama.cpp model serialises itself); one pool for all.
    answer_options: dict[str, Any] = {
        "show_progress": "minimal",
        "show_progress_on": [chatbot],
        "concurrency_limit": 4,
        "concurrency_id": "answer",
    }

    started = gr.on([box.submit, send.click], **busy, queue=False, api_visibility="private")
    submit = started.then(respond, chat_inputs, chat_outputs, api_name="chat", **answer_options)
    submitted = submit.then(**idle, queue=False, api_visibility="private")

    example = chatbot.example_select(_example_text, None, box, queue=False, api_visibility="private")
    example_run = example.then(**busy, queue=False, api_visibility="private").then(
        respond, chat_inputs, chat_outputs, api_visibility="private", **answer_options
    )
    example_done = example_run.then(**idle, queue=False, api_visibility="private")

    retried = (
        c["retry"]
        .click(**busy, queue=False, api_visibility="private")
        .then(retry, [chatbot, *chat_inputs[2:]], chat_outputs, api_visibility="private", **answer_options)
    )
    retried.then(**idle, queue=False, api_visibility="private")
    return [submit, example_run, retried], [submitted, example_done]


def _stop_and_clear_events(c: dict[str, Any], current: gr.State, running: list[Any]) -> dict[str, Any]:
    """Stop ends the answer being written (marked as stopped); Clear empties the chat and starts a new
    conversation. Both cancel. Returns Clear's step (fn and outputs), for New chat to do the same."""
    chatbot, box, send, stop, sources, groups = (
        c["chatbot"], c["box"], c["send"], c["stop"], c["sources"], c["groups"]
    )  # fmt: skip
    # One unqueued step marks the turn and swaps the buttons back: a chained `.then` after a
    # cancelling event was seen not to run on a loaded machine, leaving Stop showing. It marks the text
    # the stream last sent, once the stream has ended (Streaming.stop), not the browser's older copy.
    stop.click(
        lambda history, groups, streaming: (*mark_stopped(streaming.stop(history), groups), *show_send()),
        [chatbot, groups, c["streaming"]],
        [chatbot, sources, send, stop],
        cancels=running,
        queue=False,
        api_visibility="private",
    )
    cleared = {
        "fn": lambda: ([], sources_html(), "", {}, *show_send(), None),
        "outputs": [chatbot, sources, box, groups, send, stop, current],
    }
    c["clear"].click(**cleared, cancels=running, queue=False, api_visibility="private")
    chatbot.clear(**cleared, cancels=running, queue=False, api_visibility="private")
    return cleared
