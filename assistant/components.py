"""Builds every component from the settings, once, and hands them to the adapters."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from assistant.chain import build_condenser, build_fit, build_generate, build_prepare
from assistant.extractive import ExtractiveAnswerer
from assistant.offline import offline_environment
from assistant.providers import chat_model_from, embeddings_from, model_label
from assistant.service import ChatService
from assistant.settings import Settings
from vectorstore.chunking import make_splitter
from vectorstore.embeddings import LazyEmbeddings
from vectorstore.ingest import IngestService
from vectorstore.keyword import KeywordIndex
from vectorstore.retrievers import HybridRetriever
from vectorstore.store import ChunkStore, open_client

log = logging.getLogger(__name__)


@dataclass
class Components:
    settings: Settings
    embeddings: LazyEmbeddings
    store: ChunkStore
    keyword_index: KeywordIndex
    retriever: HybridRetriever
    ingest: IngestService
    chat: ChatService


def build_components(settings: Settings) -> Components:
    offline_environment()
    embeddings = embeddings_from(settings)
    client = open_client(settings.data_dir, settings.chroma_host, settings.chroma_port)
    store = ChunkStore(client, settings.collection, embeddings.model_id)
    keyword_index = KeywordIndex(store, settings.data_dir / "bm25" / settings.collection)
    retriever = HybridRetriever(
        store=store,
        keyword_index=keyword_index,
        embeddings=embeddings,
        k=settings.k,
        mode=settings.retrieval_mode,
    )
    ingest = IngestService(
        store,
        keyword_index,
        embeddings,
        make_splitter(settings.chunk_size, settings.chunk_overlap),
        settings.uploads_dir,
    )
    chat_model = chat_model_from(settings)
    fit = None
    if chat_model is not None:
        from assistant.budget import approx_tokens

        count = getattr(chat_model, "count_tokens", None) or approx_tokens
        fit = build_fit(count, settings.llm_context_window, settings.llm_max_tokens)
    chat = ChatService(
        prepare=build_prepare(retriever, build_condenser(chat_model), fit),
        generate=build_generate(chat_model, None if chat_model else ExtractiveAnswerer(embeddings)),
        model_label=model_label(settings),
        min_relevance=settings.min_relevance,
        generative=chat_model is not None,
        model_endpoint=settings.llm_base_url or "",
        max_history_messages=2 * settings.max_history_turns,
    )
    return Components(settings, embeddings, store, keyword_index, retriever, ingest, chat)
