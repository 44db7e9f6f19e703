"""Ingestion rate against the embedding model's ceiling, and with one and two workers (issue 22).

    .venv/bin/python benchmarks/bench_ingest_rate.py [--corpus eval/prose-dev/corpus] [--rounds 3]
        [--threads 1,2] [--compare REV] [--parts ratio,workers]

*ratio* (one process, one loaded model per thread count): each round embeds the corpus's chunk texts alone
(the ceiling: the texts `ingest` embeds, in one call, sorted by length by the model, in the three
batchings of `EMBED_ONLY`) and runs a real `IngestService.ingest` of the corpus into a fresh embedded data
dir, alternately, so a burst of load from other work on the machine hits both alike. The ratio is taken per
round (end-to-end rate over embed-only rate in the same round), then its median. The keyword index rebuild
at the end of an ingest is timed apart and left out of the end-to-end time (it is being replaced by an
incremental index). With `--compare REV`, `vectorstore/ingest.py` as of git revision REV runs in the same
rounds, with the model's batches of up to 2,048 tokens as before this change (`OnnxEmbeddings`): before
and after.

*workers* (fresh processes, as two hosts would run): a `chroma run` server, then per round one ingest
process with all the files, and two at once with half the files each (balanced by size), each with its
own data dir and one embedding thread, writing to one collection on the server. A process loads its model,
then waits for the others before the clock starts. Rate = chunks added / wall time from the common start
to the last process's end.

Writes benchmarks/results/ingest_rate.json; docs/scale.md is written from it by hand.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib

DEFAULT_CORPUS = benchlib.ROOT / "eval" / "prose-dev" / "corpus"
# Embed-only batchings, each over all the texts in one call (the model sorts them by length): the model's
# own (None), one text per run, and runs of up to 32 texts / 2,048 tokens. The ceiling is the best.
EMBED_ONLY: dict[str, tuple[int, int] | None] = {
    "default": None,
    "single": (1, 256),
    "tokens2048": (32, 2048),
}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_seconds() -> float:
    """This process's CPU time, all its threads (not the parser's process: 1% of an ingest's time)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- ratio: embed-only vs end-to-end, one process -----------------------------------------------------
def old_ingest_module(rev: str) -> Any:
    """`vectorstore/ingest.py` as of git revision `rev`, imported under another name."""
    source = subprocess.run(
        ["git", "-C", str(benchlib.ROOT), "show", f"{rev}:vectorstore/ingest.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="ingest-rev-")) / "ingest_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("ingest_rev", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ingest_rev"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def end_to_end(embeddings: Any, corpus: Path, service_class: Any | None = None) -> dict[str, Any]:
    """One ingest of `corpus` into a fresh data dir; seconds with and without the keyword index rebuild."""
    from assistant.container import build_components
    from assistant.settings import Settings

    data = Path(tempfile.mkdtemp(prefix="ingest-rate-"))
    try:
        c = build_components(Settings(data_dir=data, llm_provider="extractive"), embeddings=embeddings)
        service = c.ingest
        if service_class is not None:
            service = service_class(
                c.store, c.keyword_index, c.embeddings, c.ingest.chunker, c.settings.uploads_dir
            )
        timer = benchlib.Timer()
        timer.patch(c.keyword_index, "ensure_current", "keyword")
        cpu, started = cpu_seconds(), time.perf_counter()
        report = service.ingest([corpus])
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        service.parser.close()
        keyword = timer.seconds.get("keyword", 0.0)
        return {"chunks": report.chunks_added, "seconds": seconds, "keyword_s": keyword, "cpu_s": cpu}
    finally:
        shutil.rmtree(data, ignore_errors=True)


def chunk_texts(embeddings: Any, corpus: Path) -> list[str]:
    """The texts an ingest of `corpus` embeds, caught from a first (untimed, warm-up) ingest."""
    texts: list[str] = []
    original = embeddings.embed_documents_reporting

    def catch(batch: list[str], progress: Any) -> Any:
        texts.extend(batch)
        return original(batch, progress)

    embeddings.embed_documents_reporting = catch
    try:
        end_to_end(embeddings, corpus)
    finally:
        del embeddings.embed_documents_reporting
    return texts


def ratio(corpus: Path, rounds: int, thread_counts: list[int], compare: str | None) -> dict[str, Any]:
    from assistant.providers import embeddings_from
    from assistant.settings import Settings

    old = old_ingest_module(compare).IngestService if compare else None
    models = {t: embeddings_from(Settings(embeddings_threads=t or None)) for t in thread_counts}
    texts: list[str] = []
    for threads, embeddings in models.items():
        texts = chunk_texts(embeddings, corpus)
        print(f"[ratio] {threads or 'default'} threads: warmed up, {len(texts)} texts", flush=True)
    rows: dict[str, list[dict[str, Any]]] = {}
    for round_no in range(rounds):
        for threads, embeddings in models.items():
            model = embeddings.model
            key = f"threads={threads or model.threads}"
            entry: dict[str, Any] = {"loadavg_start": loadavg()}
            size, tokens = model.batch_size, model.max_batch_tokens
            for name, batching in EMBED_ONLY.items():
                model.batch_size, model.max_batch_tokens = batching or (size, tokens)
                cpu, started = cpu_seconds(), time.perf_counter()
                model.embed_documents(texts)
                entry[f"embed_{name}_s"] = time.perf_counter() - started
                entry[f"embed_{name}_cpu_s"] = cpu_seconds() - cpu
            model.batch_size, model.max_batch_tokens = size, tokens
            entry["after"] = end_to_end(embeddings, corpus)
            if old is not None:
                model.max_batch_tokens = 2048  # the batching before (one thread: now a text per run)
                entry["before"] = end_to_end(embeddings, corpus, old)
                model.max_batch_tokens = tokens
            entry["loadavg_end"] = loadavg()
            rows.setdefault(key, []).append(entry)
            ceiling = len(texts) / min(entry[f"embed_{name}_s"] for name in EMBED_ONLY)
            line = f"[ratio] round {round_no + 1} {key}: ceiling {ceiling:.1f}/s"
            for name in ("after", "before"):
                if name in entry:
                    run = entry[name]
                    rate = run["chunks"] / (run["seconds"] - run["keyword_s"])
                    line += f", {name} {rate:.1f}/s ({rate / ceiling:.0%})"
            print(line + f", load {entry['loadavg_end'][0]}", flush=True)
    return {"texts": len(texts), "by_threads": {k: summarise(v, len(texts)) for k, v in rows.items()}}


def summarise(entries: list[dict[str, Any]], texts: int) -> dict[str, Any]:
    def med(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    out: dict[str, Any] = {"rounds": entries}
    for name in EMBED_ONLY:
        out[f"embed_{name}_chunks_per_s"] = med([texts / e[f"embed_{name}_s"] for e in entries])
    ceilings = [texts / min(e[f"embed_{name}_s"] for name in EMBED_ONLY) for e in entries]
    for name in EMBED_ONLY:
        cpu = [e[f"embed_{name}_cpu_s"] / texts * 1000 for e in entries if f"embed_{name}_cpu_s" in e]
        if cpu:
            out[f"embed_{name}_cpu_ms_per_chunk"] = med(cpu)
    out["ceiling_chunks_per_s"] = med(ceilings)
    for name in ("after", "before"):
        runs = [e[name] for e in entries if name in e]
        if not runs:
            continue
        rates = [r["chunks"] / (r["seconds"] - r["keyword_s"]) for r in runs]
        out[name] = {
            "chunks_per_s": med(rates),
            "chunks_per_s_with_keyword": med([r["chunks"] / r["seconds"] for r in runs]),
            "keyword_s": med([r["keyword_s"] for r in runs]),
            "of_ceiling": med([rate / c for rate, c in zip(rates, ceilings, strict=True)]),
            # CPU time: the load moves it far less than wall time (keyword rebuild included here)
            "cpu_ms_per_chunk": med([r["cpu_s"] / r["chunks"] * 1000 for r in runs if "cpu_s" in r]),
        }
    return out


# -- workers: one vs two processes into one Chroma server ------------------------------------------------
def split_files(corpus: Path) -> tuple[list[Path], list[list[Path]]]:
    """Every supported file, and two halves of about equal bytes (largest first, to the lighter half)."""
    from vectorstore.loaders import is_supported

    files = sorted(
        (p for p in corpus.rglob("*") if p.is_file() and not p.name.startswith(".") and is_supported(p)),
        key=lambda p: -p.stat().st_size,
    )
    halves: list[list[Path]] = [[], []]
    sizes = [0, 0]
    for file in files:
        lighter = sizes.index(min(sizes))
        halves[lighter].append(file)
        sizes[lighter] += file.stat().st_size
    return files, halves


def worker_main(args: argparse.Namespace) -> None:
    """One ingest process: model loaded, then wait for `go`, then ingest the files given."""
    benchlib.apply_bench_env()
    from assistant.container import build_components
    from assistant.settings import Settings

    settings = Settings(
        data_dir=Path(args.data),
        llm_provider="extractive",
        chroma_host="127.0.0.1",
        chroma_port=args.port,
        collection=args.collection,
        embeddings_threads=1,
    )
    c = build_components(settings)
    c.embeddings.model.embed_documents(["warm up"] * 4)
    Path(args.ready).touch()
    while not Path(args.go).exists():
        time.sleep(0.01)
    started = time.time()
    report = c.ingest.ingest([Path(f) for f in args.files])
    print(json.dumps({"start": started, "end": time.time(), "chunks": report.chunks_added}))


def run_processes(groups: list[list[Path]], port: int, collection: str, work: Path) -> dict[str, Any]:
    go = work / f"go-{collection}"
    procs, readies = [], []
    for n, files in enumerate(groups):
        ready = work / f"ready-{collection}-{n}"
        readies.append(ready)
        cmd = [
            benchlib.PYTHON,
            "benchmarks/bench_ingest_rate.py",
            "--worker",
            "--data",
            str(work / f"data-{collection}-{n}"),
            "--port",
            str(port),
            "--collection",
            collection,
            "--ready",
            str(ready),
            "--go",
            str(go),
            "--files",
            *map(str, files),
        ]
        procs.append(
            subprocess.Popen(
                cmd,
                cwd=benchlib.ROOT,
                env=benchlib.bench_env(PYTHONPATH=str(benchlib.ROOT)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    while not all(r.exists() for r in readies):
        if any(p.poll() not in (None, 0) for p in procs):
            raise SystemExit(procs[0].stderr.read() if procs[0].stderr else "a worker failed")
        time.sleep(0.05)
    load = loadavg()
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=1800)
        if p.returncode != 0:
            raise SystemExit(err[-3000:])
        results.append(json.loads([x for x in out.splitlines() if x.startswith("{")][-1]))
    start, end = min(r["start"] for r in results), max(r["end"] for r in results)
    chunks = sum(r["chunks"] for r in results)
    return {
        "processes": len(groups),
        "chunks": chunks,
        "seconds": round(end - start, 2),
        "chunks_per_s": round(chunks / (end - start), 2),
        "per_process_s": [round(r["end"] - r["start"], 2) for r in results],
        "loadavg_start": load,
        "loadavg_end": loadavg(),
    }


def workers(corpus: Path, rounds: int) -> dict[str, Any]:
    files, halves = split_files(corpus)
    work = Path(tempfile.mkdtemp(prefix="ingest-workers-"))
    port = 58000 + os.getpid() % 1000
    server = benchlib.start_chroma(work / "chroma", port)
    runs: dict[str, list[dict[str, Any]]] = {"1": [], "2": []}
    try:
        for round_no in range(rounds):
            for count, groups in (("1", [files]), ("2", halves)):
                run = run_processes(groups, port, f"r{round_no}w{count}", work)
                runs[count].append(run)
                print(
                    f"[workers] round {round_no + 1}, {count} process(es): {run['chunks']} chunks in "
                    f"{run['seconds']}s = {run['chunks_per_s']}/s, load {run['loadavg_end'][0]}",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    one = statistics.median(r["chunks_per_s"] for r in runs["1"])
    two = statistics.median(r["chunks_per_s"] for r in runs["2"])
    speedups = [b["chunks_per_s"] / a["chunks_per_s"] for a, b in zip(runs["1"], runs["2"], strict=True)]
    return {
        "halves_bytes": [sum(f.stat().st_size for f in h) for h in halves],
        "runs": runs,
        "one_chunks_per_s": round(one, 2),
        "two_chunks_per_s": round(two, 2),
        "speedup_median": round(statistics.median(speedups), 2),
        "speedups": [round(s, 2) for s in speedups],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", default="1,0", help="embedding threads per ratio run; 0: the default")
    parser.add_argument("--compare", help="git revision whose ingester runs beside the current one")
    parser.add_argument("--parts", default="ratio,workers")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("--data", "--collection", "--ready", "--go"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return
    benchlib.apply_bench_env()
    run_meta = benchlib.meta()
    corpus = args.corpus.resolve()
    result = benchlib.load_result("ingest_rate")  # the part not run keeps its earlier figures
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if "ratio" in parts:
        threads = [int(t) for t in args.threads.split(",")]
        figures = ratio(corpus, args.rounds, threads, args.compare)
        earlier = result.get("ratio", {}).get("by_threads", {})  # thread counts not run now stay
        for entry in earlier.values():
            entry.setdefault("meta", result["ratio"].get("meta"))
        for entry in figures["by_threads"].values():
            entry["meta"] = run_meta
        figures["by_threads"] = {**earlier, **figures["by_threads"]}
        result["ratio"] = {"corpus": str(args.corpus), "compare": args.compare, **figures}
    if "workers" in parts:
        result["workers"] = {"meta": run_meta, "corpus": str(args.corpus), **workers(corpus, args.rounds)}
    run_meta["loadavg_end"] = loadavg()
    print("wrote", benchlib.save_result("ingest_rate", result))


if __name__ == "__main__":
    main()
