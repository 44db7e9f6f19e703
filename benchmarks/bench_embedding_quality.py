"""Does a faster embeddings backend keep retrieval quality? Evidence retrieved per backend on both dev sets.

    .venv/bin/python benchmarks/bench_embedding_quality.py [--backends torch,onnx-int8] [--k 6]

For each backend and each public dev set, a fresh store is built from the set's corpus with
`Settings(data_dir=<tmp>, embeddings_backend=...)`, and each answerable question's retrieval runs through
the container's retriever (k passages). An item is a hit when one of its evidence strings appears in a
retrieved passage after `assistant.evaluation.normalise` (the evaluation's own rule). Counted twice: with
the product's hybrid retrieval (dense + BM25) and with dense retrieval alone, where the embeddings are all
that matters. Follow-up items are asked as their question alone (no condensing), the same for every
backend. Also: the cosine agreement of each backend's vectors with torch's on a sample of corpus chunks.
Writes benchmarks/results/embedding_quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib

SHARED = benchlib.ROOT.parent / "shared" / "eval"
SETS = {
    "dev (seeds/)": (SHARED / "dev.jsonl", benchlib.ROOT / "seeds"),
    "pydocs-dev": (SHARED / "pydocs-dev" / "questions.jsonl", Path("/work/pydocs-corpus/corpus")),
}
AGREEMENT_SAMPLE = 300


def build(settings: Any) -> Any:
    try:
        from assistant.container import build_container
    except ImportError:  # before the composition root moved
        from assistant.components import build_components as build_container
    return build_container(settings)


def evaluate(container: Any, items: list[Any], k: int) -> dict[str, Any]:
    from assistant.evaluation import normalise

    def hit(docs: list[Any], evidence: list[str]) -> bool:
        texts = [normalise(d.page_content) for d in docs]
        return any(normalise(e) in t for e in evidence for t in texts)

    dense = container.retriever.model_copy(update={"mode": "dense"})
    rows = []
    for item in items:
        vector = container.embeddings.embed_query(item.question)
        rows.append(
            {
                "id": item.id,
                "type": item.type,
                "hybrid": hit(container.retriever.retrieve(item.question, vector, k), item.evidence),
                "dense": hit(dense.retrieve(item.question, vector, k), item.evidence),
            }
        )
    n = len(rows)
    return {
        "n": n,
        "hybrid_hits": sum(r["hybrid"] for r in rows),
        "dense_hits": sum(r["dense"] for r in rows),
        "hybrid_hit_rate": round(sum(r["hybrid"] for r in rows) / n, 3),
        "dense_hit_rate": round(sum(r["dense"] for r in rows) / n, 3),
        "items": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="torch,onnx-int8")
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--cache-dir", type=Path, default=None, help="ONNX export cache (default: ~/.cache)")
    args = parser.parse_args()
    run_meta = benchlib.meta()
    benchlib.apply_bench_env()
    from assistant.evaluation import load_items
    from assistant.settings import Settings

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    work = Path(
        tempfile.mkdtemp(prefix="embedding-quality-", dir=benchlib.WORK if benchlib.WORK.exists() else None)
    )
    results: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[str]] = {}
    vectors: dict[tuple[str, str], list[list[float]]] = {}
    try:
        for set_name, (questions, corpus) in SETS.items():
            items = [i for i in load_items(questions) if i.answerable and i.evidence]
            for backend in backends:
                settings = Settings(
                    data_dir=work / f"{backend}-{len(results)}-{set_name.split()[0]}",
                    embeddings_backend=backend,
                    embeddings_cache_dir=args.cache_dir,
                    llm_provider="extractive",
                    k=args.k,
                )
                container = build(settings)
                started = time.perf_counter()
                report = container.ingest.ingest([corpus])
                ingest_s = time.perf_counter() - started
                result = evaluate(container, items, args.k)
                result.update(
                    {
                        "model_id": container.embeddings.model_id,
                        "chunks": container.store.count(),
                        "ingest_s": round(ingest_s, 1),
                        "skipped_files": len(getattr(report, "skipped", []) or []),
                    }
                )
                results.setdefault(set_name, {})[backend] = result
                print(
                    f"{set_name:14} {backend:10} hybrid {result['hybrid_hits']}/{result['n']}  "
                    f"dense {result['dense_hits']}/{result['n']}  ({result['chunks']} chunks, "
                    f"ingest {ingest_s:.0f} s)",
                    flush=True,
                )
                if set_name == "pydocs-dev":
                    if set_name not in samples:
                        texts = sorted(c.text for c in container.store.all_chunks())
                        samples[set_name] = random.Random(0).sample(texts, min(AGREEMENT_SAMPLE, len(texts)))
                    vectors[set_name, backend] = container.embeddings.embed_documents(samples[set_name])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    agreement = {}
    if "torch" in backends:
        import numpy as np

        for (set_name, backend), vecs in vectors.items():
            if backend == "torch":
                continue
            a, b = np.asarray(vectors[set_name, "torch"]), np.asarray(vecs)
            cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            agreement[backend] = {
                "chunks": len(cos),
                "mean": round(float(cos.mean()), 5),
                "p1": round(float(np.percentile(cos, 1)), 5),
                "min": round(float(cos.min()), 5),
            }
    deltas = {}
    if "torch" in backends:
        for set_name, per_backend in results.items():
            base = per_backend["torch"]
            for backend, r in per_backend.items():
                if backend != "torch":
                    deltas[f"{set_name} / {backend}"] = {
                        "hybrid": round(r["hybrid_hit_rate"] - base["hybrid_hit_rate"], 3),
                        "dense": round(r["dense_hit_rate"] - base["dense_hit_rate"], 3),
                        "items_that_differ": [
                            x["id"]
                            for x, y in zip(base["items"], r["items"], strict=True)
                            if (x["hybrid"], x["dense"]) != (y["hybrid"], y["dense"])
                        ],
                    }
    run_meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out = {
        "meta": run_meta,
        "k": args.k,
        "sets": results,
        "delta_vs_torch": deltas,
        "cosine_agreement": agreement,
    }
    print(json.dumps({"delta_vs_torch": deltas, "cosine_agreement": agreement}, indent=1))
    print("wrote", benchlib.save_result("embedding_quality", out))


if __name__ == "__main__":
    main()
