"""The composition root: builds every component from the settings, once, and hands them to the adapters
(server, UI, CLI). Keyword overrides swap a component, e.g. `build_container(settings, chat=fake)` in tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from langchain_core.runnables import Runnable

from assistant.answering.service import Answer, ChatService
from assistant.datadir import make_private
from assistant.limits import Limits
from assistant.metrics import Metrics
from assistant.offline import offline_environment
from assistant.settings import Settings, redact_url, redact_urls
from vectorstore.embeddings import LazyEmbeddings
from vectorstore.ingest import IngestService
from vectorstore.jobs import IngestQueue
from vectorstore.keyword import KeywordIndex
from vectorstore.retrievers import HybridRetriever
from vectorstore.store import ChunkStore

if TYPE_CHECKING:
    from assistant.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    embeddings: LazyEmbeddings
    store: ChunkStore
    keyword_index: KeywordIndex
    retriever: HybridRetriever
    ingest: IngestService
    chat: ChatService
    # Uploads from the API and the UI are ingested here, off the request threads (S6); grows into jobs.
    ingest_queue: IngestQueue = field(default_factory=IngestQueue)
    # Users, collections, conversations (SQLite in the data dir or RAG_DATABASE_URL); migrated on first use.
    storage: Storage | None = None
    # Prometheus metrics in a registry of this container's own (GET /metrics, admins only).
    metrics: Metrics = field(default_factory=Metrics)


def build_container(
    settings: Settings,
    *,
    embeddings: LazyEmbeddings | None = None,
    store: ChunkStore | None = None,
    keyword_index: KeywordIndex | None = None,
    retriever: HybridRetriever | None = None,
    ingest: IngestService | None = None,
    chat: ChatService | None = None,
    ingest_queue: IngestQueue | None = None,
    storage: Storage | None = None,
    metrics: Metrics | None = None,
) -> Container:
    """Every component, built from `settings` unless given; a given one is used as is by those built after."""
    from assistant.providers import embeddings_from
    from vectorstore.chunking import Chunker
    from vectorstore.store import open_client

    offline_environment()
    make_private(settings.data_dir)  # N11: password hashes, conversations, uploads
    metrics = metrics or Metrics()
    embeddings = embeddings or embeddings_from(settings)
    if store is None:
        client = open_client(settings.data_dir, settings.chroma_host, settings.chroma_port)
        store = ChunkStore(client, settings.collection, embeddings.model_id)
    keyword_index = keyword_index or KeywordIndex(store, settings.data_dir / "bm25" / settings.collection)
    retriever = retriever or HybridRetriever(
        store=store,
        keyword_index=keyword_index,
        embeddings=embeddings,
        k=settings.k,
        mode=settings.retrieval_mode,
        section_leads=settings.section_leads,
        part_passages=settings.part_passages,
        duplicate_overlap=settings.duplicate_overlap,
    )
    ingest = ingest or IngestService(
        store,
        keyword_index,
        embeddings,
        Chunker(settings.chunk_size, settings.chunk_overlap),
        settings.uploads_dir,
        on_report=metrics.record_ingest,
    )
    chat = chat or build_chat(
        settings, retriever, embeddings, is_empty=lambda: store.count() == 0, on_answer=metrics.record_answer
    )
    ingest_queue = ingest_queue or IngestQueue(
        settings.ingest_workers, settings.ingest_queue, on_finish=metrics.record_job
    )
    metrics.watch_queue(ingest_queue)
    if storage is None:
        from assistant.storage import Storage

        storage = Storage.from_settings(settings)  # no connection yet: opened and migrated on first use
    storage.feedback.on_rate = metrics.record_feedback
    return Container(
        settings, embeddings, store, keyword_index, retriever, ingest, chat, ingest_queue, storage, metrics
    )


def build_chat(
    settings: Settings,
    retriever: HybridRetriever,
    embeddings: LazyEmbeddings,
    is_empty: Callable[[], bool] | None = None,
    on_answer: Callable[[Answer], None] | None = None,
) -> ChatService:
    """The answering pipeline: a chat model when one is configured, else the offline extractive answerer."""
    from assistant.answering.budget import approx_tokens
    from assistant.answering.chain import build_condenser, build_fit, build_generate, build_prepare
    from assistant.answering.extractive import ExtractiveAnswerer
    from assistant.providers import chat_model_from, model_label

    chat_model = chat_model_from(settings)
    fit: Runnable | None = None
    if chat_model is not None:
        count = getattr(chat_model, "count_tokens", None) or approx_tokens
        fit = build_fit(count, settings.llm_context_window, settings.llm_max_tokens)
    return ChatService(
        prepare=build_prepare(retriever, build_condenser(chat_model), fit),
        generate=build_generate(
            chat_model,
            None if chat_model else ExtractiveAnswerer(embeddings, corpus=retriever.keyword_index),
        ),
        model_label=redact_urls(model_label(settings)),  # S16: shown in the UI, /readyz and answers
        min_relevance=settings.min_relevance,
        generative=chat_model is not None,
        model_endpoint=redact_url(settings.llm_base_url or ""),  # named in error messages
        max_history_messages=2 * settings.max_history_turns,
        is_empty=is_empty,
        limits=Limits.from_settings(settings),
        on_answer=on_answer,
    )


# The names the tests and benchmarks have always used.
Components = Container
build_components = build_container
