"""What the chat routes share: the limits on a question and its history, and the call into ChatService."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool

from assistant.errors import InvalidRequestError
from assistant.service import Answer, ChatService
from assistant.settings import Settings


def check_question(settings: Settings, question: str, history: Sequence[dict[str, str]], param: str) -> None:
    """InvalidRequestError (400) for an empty question, or one or a history over the configured limits."""
    if not question.strip():
        raise InvalidRequestError("the question is empty", param=param)
    if len(question) > settings.max_message_chars:
        raise InvalidRequestError(
            f"the message is {len(question)} characters; the limit is {settings.max_message_chars}",
            param=param,
            code="message_too_long",
        )
    turns = sum(1 for m in history if m["role"] == "user")
    if turns > settings.max_history_turns:
        raise InvalidRequestError(
            f"the conversation has {turns} earlier turns; the limit is {settings.max_history_turns}",
            param=param,
            code="history_too_long",
        )


async def answer(
    chat: ChatService, question: str, history: list[dict[str, str]], k: int | None = None
) -> Answer:
    """ChatService.answer off the event loop; its errors (AssistantError, store errors) propagate."""
    return await run_in_threadpool(chat.answer, question, history, k)
