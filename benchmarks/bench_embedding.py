"""The embedding model alone: chunks/second on real chunk texts, by call size. The ingestion ceiling.

    .venv/bin/python benchmarks/bench_embedding.py [--rounds 3]

Call sizes alternate within each round, so a burst of load from other work on the machine hits every call
size alike; the best round is the closest to the machine's ceiling, the median what a busy machine gives.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import benchlib

SAMPLE = 128  # chunk texts per configuration and round


def chunk_texts(limit: int) -> list[str]:
    """Real chunks of the Python docs, cut by the assistant's own splitter, spread over the 10k subset."""
    from assistant.settings import Settings
    from vectorstore.chunking import make_splitter, split_text
    from vectorstore.loaders import load_text

    benchlib.build_corpus("10000")
    root = benchlib.corpus_dir("10000")
    settings = Settings()
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    texts: list[str] = []
    for file in sorted(root.rglob("*.rst.txt")):
        texts += [c.text for c in split_text(file.relative_to(root).as_posix(), load_text(file), splitter)]
    return texts[:: max(1, len(texts) // limit)][:limit]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run_meta = benchlib.meta()
    benchlib.apply_bench_env()

    import torch

    from assistant.container import build_components
    from assistant.settings import Settings

    # (torch threads, texts per call, texts per round). 1 and 8 per call: what small files give the ingester
    # (it embeds each file's new chunks in calls of up to IngestService.batch_size=64); 128: the ceiling.
    # The product runs torch's default thread count; one thread is measured too, for a busy machine.
    default_threads = torch.get_num_threads()
    # Every configuration embeds the same texts, so only the call size and thread count differ.
    plan = [(default_threads, size, SAMPLE) for size in (1, 8, 64, SAMPLE)] + [(1, SAMPLE, SAMPLE)]
    texts = chunk_texts(SAMPLE)
    components = build_components(Settings(data_dir=benchlib.WORK / "store-embedding-bench"))
    started = time.perf_counter()
    model = components.embeddings.model
    load_s = time.perf_counter() - started
    model.embed_documents(texts[:32])  # warm-up: the first call pays lazy initialisation

    rates: dict[tuple[int, int], list[float]] = {(t, size): [] for t, size, _ in plan}
    cpu_per_chunk: dict[tuple[int, int], list[float]] = {(t, size): [] for t, size, _ in plan}
    query_ms: dict[int, list[float]] = {default_threads: [], 1: []}
    for round_no in range(args.rounds):
        for threads, size, count in plan:
            torch.set_num_threads(threads)
            sample = texts[:count]
            cpu0, started = cpu_seconds(), time.perf_counter()
            for i in range(0, count, size):
                model.embed_documents(sample[i : i + size])
            wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu0
            rates[threads, size].append(count / wall)
            cpu_per_chunk[threads, size].append(cpu / count * 1000)
            print(
                f"round {round_no + 1}, {threads} threads, {size:>3} per call: {count / wall:6.1f} chunks/s",
                flush=True,
            )
        for threads in query_ms:
            torch.set_num_threads(threads)
            for question in benchlib.QUESTIONS:
                started = time.perf_counter()
                model.embed_query(question)
                query_ms[threads].append((time.perf_counter() - started) * 1000)
    torch.set_num_threads(default_threads)

    def row(key: tuple[int, int], count: int) -> dict:
        return {
            "threads": key[0],
            "per_call": key[1],
            "texts_per_round": count,
            "best_chunks_per_s": round(max(rates[key]), 1),
            "median_chunks_per_s": round(statistics.median(rates[key]), 1),
            "rounds_chunks_per_s": [round(r, 1) for r in rates[key]],
            "cpu_ms_per_chunk": round(statistics.median(cpu_per_chunk[key]), 1),
        }

    configs = [row((threads, size), count) for threads, size, count in plan]
    ceiling = next(c for c in configs if c["threads"] == default_threads and c["per_call"] == SAMPLE)
    client = getattr(model, "_client", None)
    run_meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result = {
        "meta": run_meta,
        "model": components.embeddings.model_id,
        "model_load_s": round(load_s, 2),
        "torch_threads": default_threads,
        "max_seq_length": getattr(client, "max_seq_length", None),
        "encode_batch_size": getattr(model, "encode_kwargs", {}).get("batch_size"),
        "mean_chunk_chars": round(statistics.fmean(len(t) for t in texts)),
        "rounds": args.rounds,
        "configs": configs,
        "ceiling_chunks_per_s": ceiling["best_chunks_per_s"],
        "ceiling_median_chunks_per_s": ceiling["median_chunks_per_s"],
        "query_embed_ms": {str(t): benchlib.summary(v) for t, v in query_ms.items()},
        "peak_rss_mb": benchlib.peak_rss_mb(),
    }
    print("wrote", benchlib.save_result("embedding", result))


if __name__ == "__main__":
    main()
