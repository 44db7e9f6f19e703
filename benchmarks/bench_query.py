"""Query latency at each corpus size: retrieval p50/p95 and the end-to-end extractive answer p50/p95.

    .venv/bin/python benchmarks/bench_query.py [--sizes 1000,10000,full] [--reps 2]

Needs the seeded stores from bench_ingest.py. One fresh process per size; every question is asked `reps`
times, questions interleaved, after a warm-up (the first query's cost is reported on its own).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import benchlib


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def worker(data: Path, reps: int) -> dict[str, Any]:
    benchlib.apply_bench_env()
    from assistant.container import build_components
    from assistant.settings import Settings

    components = build_components(Settings(data_dir=data, llm_provider="extractive"))
    retriever, store, keyword, embeddings = (
        components.retriever,
        components.store,
        components.keyword_index,
        components.embeddings,
    )
    rss_setup = benchlib.proc_status().get("VmRSS")
    started = time.perf_counter()
    _ = embeddings.model
    model_load_s = time.perf_counter() - started

    warmup = benchlib.WARMUP_QUESTION  # not one of the measured questions
    started = time.perf_counter()
    retriever.retrieve(warmup, embeddings.embed_query(warmup))
    first_retrieval_ms = _ms(started)  # includes loading the BM25 index from disk
    started = time.perf_counter()
    components.chat.answer(warmup)
    first_answer_ms = _ms(started)

    # What the extractive answerer embeds per answer: the candidate sentences of the retrieved passages
    # that its sentence-vector cache does not hold yet.
    current = {"sentences": 0, "ms": 0.0}
    real_embed = embeddings.embed_documents

    def counting_embed(texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            return real_embed(texts)
        finally:
            current["sentences"] += len(texts)
            current["ms"] += _ms(started)

    embeddings.embed_documents = counting_embed  # type: ignore[method-assign]

    keys = ("embed_query", "retrieve", "retrieval", "dense", "bm25", "answer", "answer_generate")
    samples: dict[str, list[float]] = {k: [] for k in (*keys, "answer_repeat")}
    sentences: list[float] = []
    sentence_ms: list[float] = []
    per_question: list[dict[str, Any]] = []
    for rep in range(reps):
        for question in benchlib.QUESTIONS:
            started = time.perf_counter()
            vector = embeddings.embed_query(question)
            embed_q = _ms(started)
            started = time.perf_counter()
            docs = retriever.retrieve(question, vector)
            retrieve = _ms(started)
            started = time.perf_counter()
            store.query(vector, retriever.candidates)
            dense = _ms(started)
            started = time.perf_counter()
            keyword.search(question, retriever.candidates)
            bm25 = _ms(started)
            current.update(sentences=0, ms=0.0)
            started = time.perf_counter()
            answer = components.chat.answer(question)
            total = _ms(started)
            for key, value in (
                ("embed_query", embed_q),
                ("retrieve", retrieve),
                ("retrieval", embed_q + retrieve),
                ("dense", dense),
                ("bm25", bm25),
            ):
                samples[key].append(value)
            if rep > 0:  # the same question again: the answerer's sentence vectors are cached
                samples["answer_repeat"].append(total)
                continue
            samples["answer"].append(total)
            samples["answer_generate"].append(answer.timings.get("generate_ms", 0.0))
            sentences.append(float(current["sentences"]))
            sentence_ms.append(current["ms"])
            per_question.append(
                {
                    "question": question,
                    "answer_ms": round(total, 1),
                    "retrieval_ms": round(embed_q + retrieve, 1),
                    "refused": answer.refused,
                    "sentences_embedded": current["sentences"],
                    "top_passage": docs[0].metadata["source"] if docs else None,
                    "cited": sorted({c.source for c in answer.citations}),
                }
            )

    # The per-query metadata round trips: store.query() counts the collection, the keyword index
    # re-reads the collection metadata (its version) on every search.
    overheads = {}
    for name, call in (("store.count", store.count), ("store.version", lambda: store.version)):
        times = []
        for _ in range(50):
            started = time.perf_counter()
            call()
            times.append(_ms(started))
        overheads[name] = benchlib.summary(times, 2)

    answers = len(samples["answer"])
    return {
        "chunks": store.count(),
        "reps": reps,
        "first_ask_answers": len(samples["answer"]),
        "questions": len(benchlib.QUESTIONS),
        "model_load_s": round(model_load_s, 2),
        "first_retrieval_ms": round(first_retrieval_ms, 1),
        "first_answer_ms": round(first_answer_ms, 1),
        "latency_ms": {key: benchlib.summary(values) for key, values in samples.items() if values},
        "answer_sentence_embedding": {  # first asks only
            "sentences_per_answer": benchlib.summary(sentences),
            "ms_per_answer": benchlib.summary(sentence_ms),
            "share_of_answer_time": round(sum(sentence_ms) / sum(samples["answer"]), 3) if answers else None,
        },
        "refused": sum(q["refused"] for q in per_question),
        "metadata_roundtrips_ms": overheads,
        "per_question": per_question,
        "rss_mb": {
            "after_setup": rss_setup,
            "end": benchlib.proc_status().get("VmRSS"),
            "peak": benchlib.peak_rss_mb(),
        },
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default=benchlib.DEFAULT_SIZES, help="chunk counts and/or 'full'")
    parser.add_argument("--reps", type=int, default=2, help="times each of the 30 questions is asked")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.reps)))
        return
    run_meta = benchlib.meta()
    path = None
    for label in benchlib.parse_sizes(args.sizes):
        data = benchlib.store_dir(label)
        if not (data / "chroma").exists():
            print(
                f"[query {label}] no seeded store at {data}: run bench_ingest.py --sizes {label}", flush=True
            )
            continue
        print(f"[query {label}] {len(benchlib.QUESTIONS)} questions x {args.reps} ...", flush=True)
        loadavg = [round(x, 2) for x in os.getloadavg()]
        result = benchlib.run_worker(
            ["benchmarks/bench_query.py", "--worker", str(data), "--reps", str(args.reps)]
        )
        result["loadavg_start"] = loadavg
        lat = result["latency_ms"]
        print(
            f"[query {label}] {result['chunks']} chunks: retrieval p50 {lat['retrieval']['p50']} ms "
            f"p95 {lat['retrieval']['p95']} ms; "
            f"answer p50 {lat['answer']['p50']} ms p95 {lat['answer']['p95']} ms",
            flush=True,
        )
        path = benchlib.merge_result("query", label, result, run_meta)
    if path:
        print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
