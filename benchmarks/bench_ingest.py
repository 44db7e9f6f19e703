"""Ingestion: chunks/second and peak memory, cold (fresh data dir) and re-ingest (unchanged corpus).

    .venv/bin/python benchmarks/bench_ingest.py [--sizes 1000,10000,full] [--modes cold,reingest]

Each run is a fresh process (peak RSS is that process's own); the seeded data dirs are kept under
benchmarks/.data/ for the query and start-up benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import benchlib


def worker(mode: str, corpus: Path, data: Path) -> dict:
    benchlib.apply_bench_env()
    started = time.perf_counter()
    from assistant.container import build_components
    from assistant.settings import Settings

    components = build_components(Settings(data_dir=data, llm_provider="extractive"))
    setup_s = time.perf_counter() - started
    rss_setup = benchlib.proc_status()

    model_load_s = None
    if mode == "cold":  # load the model outside the timed ingest: a one-off cost, reported on its own
        started = time.perf_counter()
        _ = components.embeddings.model
        model_load_s = round(time.perf_counter() - started, 2)
    rss_model = benchlib.proc_status()

    timer = benchlib.Timer()
    timer.patch(components.embeddings, "embed_documents_reporting", "embed")  # what the ingester calls
    for attr in ("add", "update_metadata", "delete", "check_embeddings", "_touch", "metadatas"):
        timer.patch(components.store, attr, f"store.{attr}")
    timer.patch(components.keyword_index, "ensure_current", "keyword_index.ensure_current")

    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    report = components.ingest.ingest([corpus])
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)

    parts = timer.as_dict()
    embed_s = parts.get("embed", {}).get("seconds", 0.0)
    embed_calls = parts.get("embed", {}).get("calls", 0)
    return {
        "mode": mode,
        "report": {k: v for k, v in report.as_dict().items() if k not in ("documents_removed", "skipped")},
        "skipped": len(report.skipped),
        "seconds": round(report.seconds, 2),
        "chunks_per_s": round(report.chunks_added / report.seconds, 1) if report.chunks_added else None,
        "embed_seconds": round(embed_s, 2),
        "embed_share": round(embed_s / report.seconds, 3) if report.seconds else None,
        "embed_only_chunks_per_s": round(report.chunks_added / embed_s, 1) if embed_s else None,
        "embed_calls": embed_calls,
        "mean_embed_call_size": round(report.chunks_added / embed_calls, 1) if embed_calls else None,
        "cpu_seconds": round(cpu, 1),
        "cpu_ms_per_chunk": round(cpu / report.chunks_added * 1000, 1) if report.chunks_added else None,
        "breakdown": parts,
        "setup_s": round(setup_s, 2),
        "model_load_s": model_load_s,
        "model_loaded_after": components.embeddings.loaded,
        "store_count": components.store.count(),
        "rss_mb": {
            "after_setup": rss_setup.get("VmRSS"),
            "after_model_load": rss_model.get("VmRSS"),
            "end": benchlib.proc_status().get("VmRSS"),
            "peak": benchlib.peak_rss_mb(),
        },
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }


def run_size(label: str, modes: list[str]) -> dict:
    corpus = benchlib.build_corpus(label)
    data = benchlib.store_dir(label)
    entry: dict = {"corpus": corpus}
    previous = benchlib.load_result("ingest").get("runs", {}).get(label, {})
    for mode in modes:
        if mode == "cold":
            shutil.rmtree(data, ignore_errors=True)
        elif not data.exists():
            raise SystemExit(f"no seeded store for {label}: run --modes cold first")
        print(f"[ingest {label}] {mode}: {corpus['files']} files, ~{corpus['chunks']} chunks ...", flush=True)
        loadavg = [round(x, 2) for x in os.getloadavg()]
        result = benchlib.run_worker(
            ["benchmarks/bench_ingest.py", "--worker", mode, "--corpus", corpus["dir"], "--data", str(data)]
        )
        result["loadavg_start"] = loadavg
        entry[mode] = result
        print(
            f"[ingest {label}] {mode}: {result['report']['chunks_added']} added, "
            f"{result['report']['chunks_kept']} kept in {result['seconds']}s "
            f"({result['chunks_per_s']} chunks/s), peak RSS {result['rss_mb']['peak']} MB",
            flush=True,
        )
    for mode in ("cold", "reingest"):  # keep the other mode's figures from an earlier run
        if mode not in entry and mode in previous:
            entry[mode] = previous[mode]
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default=benchlib.DEFAULT_SIZES, help="chunk counts and/or 'full'")
    parser.add_argument("--modes", default="cold,reingest")
    parser.add_argument("--worker", choices=["cold", "reingest"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.corpus, args.data)))
        return
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    run_meta = benchlib.meta()
    benchlib.ensure_doc_corpus()
    for label in benchlib.parse_sizes(args.sizes):
        entry = run_size(label, modes)
        path = benchlib.merge_result("ingest", label, entry, run_meta)
    print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
