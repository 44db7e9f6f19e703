"""An answer's trace: what it was built from, kept with it so feedback on it can be replayed (issue 23).

The question as asked, the standalone query the retrievers searched for, the chunks retrieved (ids, where they
are, their fused score and cosine similarity), the scope searched, and the store's version and chunk layout
with the settings that shaped the answer. No secrets: model names and URLs are redacted as in `model_label`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from assistant.answering.service import Answer
from assistant.settings import Settings
from vectorstore.chunking import layout_stamp

if TYPE_CHECKING:
    from vectorstore.store import ChunkStore

log = logging.getLogger(__name__)

TRACE_VERSION = 1


def settings_shape(settings: Settings) -> dict[str, Any]:
    """The settings an answer depends on (retrieval, chunking, relevance gate, model)."""
    return {
        "k": settings.k,
        "min_relevance": settings.min_relevance,
        "retrieval_mode": settings.retrieval_mode,
        "section_leads": settings.section_leads,
        "part_passages": settings.part_passages,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "embeddings_model": settings.embeddings_model,
        "llm_provider": settings.resolved_llm_provider,
        "llm_temperature": settings.llm_temperature,
        "llm_max_tokens": settings.llm_max_tokens,
    }


def store_shape(store: ChunkStore | None, layout: str) -> dict[str, Any]:
    """The store the passages came from: its collection, version (moves on every write) and the chunk
    layout its chunks are stamped with (`layout_stamp`)."""
    shape: dict[str, Any] = {"layout": layout}
    if store is None:
        return shape
    shape["collection"] = store.name
    shape["embedding_model"] = store.embedding_id
    try:
        shape["version"] = store.version
    except Exception:  # the answer was given; its trace lacks the version rather than the answer its record
        log.warning("could not read the store's version for an answer's trace", exc_info=True)
    return shape


def answer_trace(
    settings: Settings,
    store: ChunkStore | None,
    question: str,
    answer: Answer,
    *,
    k: int | None = None,
    scope: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The trace stored with an answer (`messages.trace`)."""
    return {
        "version": TRACE_VERSION,
        "question": question,
        "query": answer.query,
        "model": answer.model,
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "ungrounded": answer.ungrounded,
        "retrieved": [
            {
                "id": p.id,
                "source": p.source,
                "start": p.start,
                "end": p.end,
                "score": p.score,
                "similarity": p.similarity,
            }
            for p in answer.retrieved
        ],
        "k": k or settings.k,
        "scope": scope or None,
        "settings": settings_shape(settings),
        "store": store_shape(store, layout_stamp(settings.chunk_size, settings.chunk_overlap)),
    }
