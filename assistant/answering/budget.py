"""Fit passages and history into the model's context window, leaving room for the answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage

from vectorstore.metadata import chunk_meta

log = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]


def wrapped(passage: Document) -> str:
    """A passage as the prompt sends it: inside its <document> fence with source and section."""
    from assistant.answering.prompts import format_passages

    return format_passages([passage])


def approx_tokens(text: str) -> int:
    """When the model's tokenizer is not at hand (tiktoken would download its files): ~4 chars a token."""
    return len(text) // 4 + 1


@dataclass
class Budgeted:
    passages: list[Document]
    history: list[BaseMessage]
    dropped_passages: int = 0
    dropped_turns: int = 0
    truncated: list[int] = field(default_factory=list)


def fit_to_window(
    passages: Sequence[Document],
    history: Sequence[BaseMessage],
    fixed_text: str,
    count: TokenCounter,
    window: int,
    reserve: int,
) -> Budgeted:
    """Drops the oldest history first, then the lowest-ranked passages; the best passage is truncated last.

    `fixed_text` is everything that is always sent (system prompt without passages, the question).
    """
    available = window - reserve - count(fixed_text) - 16  # chat-template overhead
    kept_history = list(history)
    kept = list(passages)
    cost = [count(wrapped(p)) for p in kept]
    hist_cost = [count(str(m.content)) + 6 for m in kept_history]
    result = Budgeted(kept, kept_history)
    while kept_history and sum(cost) + sum(hist_cost) > available:
        kept_history.pop(0)
        hist_cost.pop(0)
        result.dropped_turns += 1
    while len(kept) > 1 and sum(cost) > available:
        kept.pop()
        cost.pop()
        result.dropped_passages += 1
    if kept and sum(cost) > available:
        budget_chars = max(200, int(len(kept[0].page_content) * max(available, 50) / max(cost[0], 1)))
        doc = kept[0]
        meta = chunk_meta(doc).copy()
        meta["end"] = meta["start"] + budget_chars
        kept[0] = Document(id=doc.id, page_content=doc.page_content[:budget_chars], metadata=dict(meta))
        result.truncated.append(1)
    if result.dropped_turns or result.dropped_passages or result.truncated:
        log.warning(
            "context window %d: dropped %d history messages and %d passages, truncated %s to fit",
            window,
            result.dropped_turns,
            result.dropped_passages,
            result.truncated or "nothing",
        )
    result.passages, result.history = kept, kept_history
    return result
