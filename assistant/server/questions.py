"""What the chat routes share: the limits on a question and its history, and the call into ChatService."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool

from assistant.answering.service import Answer, ChatService
from assistant.limits import Limits
from assistant.settings import Settings


def check_question(settings: Settings, question: str, history: Sequence[dict[str, str]], param: str) -> None:
    """InvalidRequestError (400) for an empty question, or one or a history over the configured limits.

    The same check ChatService makes (assistant.limits), made before a stream starts so a refusal is a 400.
    """
    Limits.from_settings(settings).check(question, history, param=param)


async def answer(
    chat: ChatService,
    question: str,
    history: list[dict[str, str]],
    k: int | None = None,
    scope: dict[str, Any] | None = None,
) -> Answer:
    """ChatService.answer off the event loop; its errors (AssistantError, store errors) propagate.
    `scope` (a Chroma filter: collections, documents) is passed only when there is one."""
    if scope:
        return await run_in_threadpool(lambda: chat.answer(question, history, k, scope=scope))
    return await run_in_threadpool(chat.answer, question, history, k)
