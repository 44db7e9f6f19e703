"""The embedding model alone: chunks/second on real chunk texts, by call size. The ingestion ceiling.

    .venv/bin/python benchmarks/bench_embedding.py [--texts 1024]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import benchlib


def chunk_texts(limit: int) -> list[str]:
    """Real chunks of the Python docs, cut by the assistant's own splitter, in the 10k-subset order."""
    from assistant.settings import Settings
    from vectorstore.chunking import make_splitter, split_text
    from vectorstore.loaders import load_text

    info = benchlib.build_corpus("10000")
    root = benchlib.corpus_dir("10000")
    settings = Settings()
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    texts: list[str] = []
    for file in sorted(root.rglob("*.rst.txt")):
        texts += [c.text for c in split_text(file.relative_to(root).as_posix(), load_text(file), splitter)]
    if len(texts) < limit:
        raise SystemExit(f"only {len(texts)} chunks in the {info['label']} corpus; asked for {limit}")
    return texts[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=1024, help="chunk texts embedded per call size")
    args = parser.parse_args()
    run_meta = benchlib.meta()
    benchlib.apply_bench_env()

    import torch

    from assistant.components import build_components
    from assistant.settings import Settings

    texts = chunk_texts(args.texts)
    components = build_components(Settings(data_dir=benchlib.WORK / "store-embedding-bench"))
    started = time.perf_counter()
    model = components.embeddings.model
    load_s = time.perf_counter() - started
    model.embed_documents(texts[:32])  # warm-up: first call pays lazy initialisation

    by_call: dict[str, dict[str, float]] = {}
    # 1/8 per call: what tiny files give the ingester; 64: IngestService.batch_size; all: the ceiling.
    for call_size in (1, 8, 64, len(texts)):
        sample = texts[: min(len(texts), 128)] if call_size == 1 else texts
        started = time.perf_counter()
        for i in range(0, len(sample), call_size):
            model.embed_documents(sample[i : i + call_size])
        seconds = time.perf_counter() - started
        label = "all" if call_size == len(texts) else str(call_size)
        by_call[label] = {
            "texts": len(sample),
            "seconds": round(seconds, 2),
            "chunks_per_s": round(len(sample) / seconds, 1),
        }
        print(f"call size {label:>4}: {by_call[label]['chunks_per_s']:6.1f} chunks/s", flush=True)

    query_ms = []
    for question in benchlib.QUESTIONS:
        started = time.perf_counter()
        model.embed_query(question)
        query_ms.append((time.perf_counter() - started) * 1000)

    client = getattr(model, "_client", None)
    result = {
        "meta": run_meta,
        "model": components.embeddings.model_id,
        "model_load_s": round(load_s, 2),
        "torch_threads": torch.get_num_threads(),
        "max_seq_length": getattr(client, "max_seq_length", None),
        "encode_batch_size": getattr(model, "encode_kwargs", {}).get("batch_size"),
        "mean_chunk_chars": round(statistics.fmean(len(t) for t in texts)),
        "by_call_size": by_call,
        "ceiling_chunks_per_s": by_call["all"]["chunks_per_s"],
        "query_embed_ms": benchlib.summary(query_ms),
        "peak_rss_mb": benchlib.peak_rss_mb(),
    }
    result["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print("wrote", benchlib.save_result("embedding", result))


if __name__ == "__main__":
    main()
