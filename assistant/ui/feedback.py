"""👍 / 👎 and "Wrong source" on each answer of the Chat tab (issue 23), through the same service as
POST /api/feedback (storage.feedback, via Conversations.rate). Gradio's Chatbot draws the thumbs and the flag
(`feedback_options`); the comment box's text goes with the next rating. A comment is text from a user: it
stays in a Textbox and the database, never in HTML; the toasts say only our own words."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

if TYPE_CHECKING:
    from assistant.storage import FeedbackRecord
    from assistant.ui.conversations import Conversations

LIKE, DISLIKE, WRONG_SOURCE = "Like", "Dislike", "Wrong source"
FEEDBACK_OPTIONS = (LIKE, DISLIKE, WRONG_SOURCE)  # Like and Dislike are drawn as thumbs, others by a flag
COMMENT_CHARS = 2000


def rating_of(liked: bool | str | None) -> tuple[str, bool] | None:
    """Gradio's `LikeData.liked` as (rating, wrong_source); None when a thumb was taken back."""
    if liked is True:
        return "up", False
    if liked is False:
        return "down", False
    if liked == WRONG_SOURCE:
        return "down", True
    return None


# (the chat shown, the index of a message) → (its ordinal among the stored answers, its text as stored)
Locate = Callable[[list[dict[str, Any]], int], tuple[int, str] | None]


def feedback_handler(conversations: Conversations, locate: Locate) -> Any:
    def give(
        history: list[dict[str, Any]] | None,
        conversation: str | None,
        comment: str | None,
        data: gr.LikeData,
        request: gr.Request,
    ) -> Any:
        rated = rating_of(data.liked)
        index = data.index if isinstance(data.index, int) else data.index[0]
        found = locate(list(history or []), index)
        if rated is None or found is None:
            return gr.skip()
        rating, wrong_source = rated
        ordinal, text = found
        comment = (comment or "").strip()[:COMMENT_CHARS]
        if not conversations.rate(request, conversation, ordinal, text, rating, wrong_source, comment):
            gr.Warning("This answer was not kept, so it cannot be rated (a failed or stopped answer).")
            return gr.skip()
        mark = "👍" if rating == "up" else "👎" + (" (wrong source)" if wrong_source else "")
        gr.Info(f"Thanks: your {mark} is kept with this answer{' and your comment' if comment else ''}.")
        return ""

    return give


def feedback_comment() -> gr.Textbox:
    """The optional comment that goes with the next rating; call inside the chat column."""
    return gr.Textbox(
        label="Comment on an answer (optional)",
        placeholder="Sent with your next 👍, 👎 or flag (Wrong source) on an answer",
        lines=1,
        max_lines=4,
        max_length=COMMENT_CHARS,
        elem_id="feedback-comment",
    )


def wire_feedback(
    conversations: Conversations,
    chatbot: gr.Chatbot,
    current: gr.State,
    comment: gr.Textbox,
    locate: Locate,
) -> None:
    chatbot.like(
        feedback_handler(conversations, locate),
        [chatbot, current, comment],
        [comment],
        api_visibility="private",  # queued: the toasts (gr.Info) reach the page only through the queue
    )


# -- the Feedback tab: the ratings the caller may read, as an HTML table with every cell escaped -------------


def _cell(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"<td>{html.escape(text)}</td>"


def feedback_html(records: Sequence[FeedbackRecord], everyone: bool) -> str:
    """The table (N10: questions, answers, comments and names are text from people and documents: escaped)."""
    if not records:
        return "<p id='feedback-empty'>No feedback yet: rate an answer with 👍 or 👎 in the Chat tab.</p>"
    head = ["When", *(["Who"] if everyone else []), "Rating", "Question", "Answer", "Comment"]
    rows = []
    for r in records:
        rating = ("👍" if r.rating == "up" else "👎") + (" wrong source" if r.wrong_source else "")
        cells = [_cell(r.updated_at.strftime("%Y-%m-%d %H:%M"))]
        cells += [_cell(r.user or "local")] if everyone else []
        cells += [_cell(rating), _cell(r.question), _cell(r.answer), _cell(r.comment)]
        rows.append(f"<tr class='feedback-row'>{''.join(cells)}</tr>")
    header = "".join(f"<th>{h}</th>" for h in head)
    scope = "everyone's (you are an admin)" if everyone else "yours"
    return (
        f"<p>{len(records)} ratings, {scope}, newest first. <code>assistant feedback export</code> turns "
        f"them into evaluation cases.</p><table id='feedback-list'><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def build_feedback_tab(conversations: Conversations) -> None:
    """The Feedback tab (inside `gr.Tabs()`): read again each time it is opened."""
    with gr.Tab("Feedback", id="feedback", elem_id="feedback-tab") as tab:
        table = gr.HTML(feedback_html([], False), elem_id="feedback-table")

    def show(request: gr.Request) -> str:
        return feedback_html(*conversations.feedback(request))

    tab.select(show, None, table, api_visibility="private")
