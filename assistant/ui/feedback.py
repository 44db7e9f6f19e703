"""👍 / 👎 and "Wrong source" on each answer of the Chat tab (issue 23), through the same service as
POST /api/feedback (storage.feedback, via Conversations.rate). Gradio's Chatbot draws the thumbs and the flag
(`feedback_options`); the comment box's text goes with the next rating. A comment is text from a user: it
stays in a Textbox and the database, never in HTML; the toasts say only our own words."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gradio as gr

if TYPE_CHECKING:
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
