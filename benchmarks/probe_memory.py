"""Where the cold-ingest memory goes: Chroma alone, the embedding model alone, and a real ingest before and
after glibc's malloc_trim(0).

    .venv/bin/python benchmarks/probe_memory.py

Each probe runs in a fresh process on a throw-away data dir; RSS figures are MB.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import shutil
import sys

import benchlib


def _components(name: str):
    benchlib.apply_bench_env()
    from assistant.container import build_components
    from assistant.settings import Settings

    data = benchlib.WORK / f"store-probe-{name}"
    shutil.rmtree(data, ignore_errors=True)
    return build_components(Settings(data_dir=data, llm_provider="extractive")), data


def probe_store() -> dict:
    """Every chunk of the full corpus upserted with random vectors, in the ingester's call sizes."""
    from vectorstore.chunking import make_splitter, split_text
    from vectorstore.loaders import load_text

    components, data = _components("store")
    start = benchlib.proc_status()["VmRSS"]
    root = benchlib.corpus_dir("full")
    splitter = make_splitter(components.settings.chunk_size, components.settings.chunk_overlap)
    chunks = [
        chunk
        for file in sorted(root.rglob("*.rst.txt"))
        for chunk in split_text(file.relative_to(root).as_posix(), load_text(file), splitter)
    ]
    rnd = random.Random(0)
    for i in range(0, len(chunks), 28):
        batch = chunks[i : i + 28]
        components.store.add(batch, [[rnd.random() for _ in range(384)] for _ in batch], {"root": ""})
    end = benchlib.proc_status()
    shutil.rmtree(data, ignore_errors=True)
    return {"chunks": len(chunks), "rss_start": start, "rss_end": end["VmRSS"], "peak": end["VmHWM"]}


def probe_embed() -> dict:
    """2,100 real chunk texts embedded in calls of 28 (the ingester's mean), vectors discarded."""
    from bench_embedding import chunk_texts

    components, data = _components("embed")
    texts = chunk_texts(2100)
    model = components.embeddings.model
    loaded = benchlib.proc_status()["VmRSS"]
    marks = {}
    for i in range(0, len(texts), 28):
        model.embed_documents(texts[i : i + 28])
        if (i // 28) % 25 == 24:
            marks[i + 28] = benchlib.proc_status()["VmRSS"]
    end = benchlib.proc_status()
    shutil.rmtree(data, ignore_errors=True)
    return {
        "texts": len(texts),
        "rss_model_loaded": loaded,
        "rss_by_texts": marks,
        "rss_end": end["VmRSS"],
        "peak": end["VmHWM"],
    }


def probe_ingest() -> dict:
    """The 1k corpus ingested for real, then gc and malloc_trim(0): how much of the RSS is free heap."""
    import gc

    components, data = _components("ingest")
    _ = components.embeddings.model
    loaded = benchlib.proc_status()["VmRSS"]
    report = components.ingest.ingest([benchlib.corpus_dir("1000")])
    after = benchlib.proc_status()
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    trimmed = benchlib.proc_status()["VmRSS"]
    shutil.rmtree(data, ignore_errors=True)
    return {
        "chunks": report.chunks_added,
        "rss_model_loaded": loaded,
        "rss_after_ingest": after["VmRSS"],
        "peak": after["VmHWM"],
        "rss_after_malloc_trim": trimmed,
    }


PROBES = {"store": probe_store, "embed": probe_embed, "ingest": probe_ingest}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", choices=list(PROBES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(PROBES[args.worker]()))
        return
    run_meta = benchlib.meta()
    benchlib.build_corpus("1000")
    benchlib.build_corpus("full")
    result: dict = {"meta": run_meta}
    for name in PROBES:
        print(f"[memory] {name} ...", flush=True)
        result[name] = benchlib.run_worker(["benchmarks/probe_memory.py", "--worker", name])
        print(f"[memory] {name}: {result[name]}", flush=True)
    result["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print("wrote", benchlib.save_result("memory", result), file=sys.stderr)


if __name__ == "__main__":
    main()
