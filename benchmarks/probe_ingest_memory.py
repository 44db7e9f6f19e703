"""Cold-ingest peak memory against corpus size: the peak `assistant ingest` reaches, and where it is reached.

    .venv/bin/python benchmarks/probe_ingest_memory.py [--sizes 1000,10000,full] [--modes cli,trace]
        [--embed real|fake] [--variant after] [--pythonpath DIR]

cli    `/usr/bin/time -v assistant ingest --json CORPUS` with RAG_DATA_DIR on a fresh data dir: the peak RSS
       a user sees ("Maximum resident set size"), model load included.
trace  the same cold ingest inside one process, with the peak RSS of each phase (the kernel's high-water
       mark is reset between phases through /proc/self/clear_refs): set-up, model load, the file loop
       (embedding and Chroma writes), the keyword (BM25) index build at the end; and the RSS as the chunks
       go in.

--embed fake swaps the model for vectors hashed from the text: what the rest of the ingest holds, in
seconds instead of minutes. --pythonpath runs another copy of the code (e.g. `git archive HEAD` unpacked
in /tmp) to measure "before". Results merge into benchmarks/results/ingest_memory.json under
"<variant>/<mode>/<embed>/<size>".
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import benchlib

TIME = "/usr/bin/time"


def _phase() -> dict[str, float]:
    """RSS now and its peak since the last call (MB), then the peak is reset to now."""
    status = benchlib.proc_status()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    return {"peak": status.get("VmHWM", 0.0), "end": status.get("VmRSS", 0.0)}


def _hashed_vectors() -> Any:
    """An Embeddings whose vectors are hashed from the text: no model, the same memory shape (384 floats)."""
    import numpy as np
    from langchain_core.embeddings import Embeddings

    class HashedVectors(Embeddings):
        def embed_query(self, text: str) -> list[float]:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(384)
            return (vector / np.linalg.norm(vector)).tolist()

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [self.embed_query(t) for t in texts]

    return HashedVectors()


def _counting(func: Callable[..., Any], marks: list[tuple[int, float]]) -> Callable[..., Any]:
    """Wraps store.add: the RSS after each call, against the chunks written so far."""
    written = [0]

    def add(chunks: Any, *args: Any, **kwargs: Any) -> Any:
        result = func(chunks, *args, **kwargs)
        written[0] += len(chunks)
        marks.append((written[0], benchlib.proc_status().get("VmRSS", 0.0)))
        return result

    return add


def trace(corpus: Path, data: Path, embed: str) -> dict[str, Any]:
    benchlib.apply_bench_env()
    from assistant.container import build_container
    from assistant.settings import Settings

    _phase()
    components = build_container(Settings(data_dir=data, llm_provider="extractive"))
    phases = {"setup": _phase()}
    if embed == "fake":
        components.embeddings._model = _hashed_vectors()
    else:
        _ = components.embeddings.model
    phases["model_load"] = _phase()
    marks: list[tuple[int, float]] = []
    components.store.add = _counting(components.store.add, marks)  # type: ignore[method-assign]
    rebuild = components.keyword_index.ensure_current

    def ensure_current() -> None:
        phases.setdefault("file_loop", _phase())
        rebuild()
        phases.setdefault("keyword_index", _phase())

    components.keyword_index.ensure_current = ensure_current  # type: ignore[method-assign]
    started = time.perf_counter()
    report = components.ingest.ingest([corpus])
    phases["after"] = _phase()
    step = max(1, len(marks) // 20)
    return {
        "mode": "trace",
        "embed": embed,
        "chunks": report.chunks_added,
        "seconds": round(time.perf_counter() - started, 1),
        "phases_mb": phases,
        "peak_mb": max(p["peak"] for p in phases.values()),
        "rss_by_chunks": [marks[i] for i in range(0, len(marks), step)] + marks[-1:],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }


def _timeline(proc: subprocess.Popen[bytes], every: float = 1.0) -> list[tuple[float, float]]:
    """RSS (MB) of the process /usr/bin/time started, every `every` s until it exits: when the peak came."""
    import psutil

    samples: list[tuple[float, float]] = []
    started = time.perf_counter()
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(proc.pid).children():
                samples.append(
                    (round(time.perf_counter() - started, 1), round(child.memory_info().rss / 2**20, 1))
                )
        time.sleep(every)
    return samples


def cli(corpus: Path, data: Path, pythonpath: str | None) -> dict[str, Any]:
    """`assistant ingest` under /usr/bin/time -v, in a fresh process on a fresh data dir."""
    env = benchlib.bench_env(RAG_DATA_DIR=str(data), RAG_LLM_PROVIDER="extractive")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    command = [
        TIME,
        "-v",
        str(benchlib.ROOT / ".venv" / "bin" / "assistant"),
        "ingest",
        "--json",
        str(corpus),
    ]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, cwd=pythonpath or benchlib.ROOT, env=env, stdout=out, stderr=err)
        samples = _timeline(proc)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        sys.stderr.write(stderr[-4000:])
        raise RuntimeError(f"assistant ingest failed with exit code {proc.returncode}")
    report = json.loads(stdout[stdout.index("{") :])
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1))  # type: ignore[union-attr]
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", stderr).group(1)  # type: ignore[union-attr]
    step = max(1, len(samples) // 40)
    return {
        "mode": "cli",
        "embed": "real",
        "chunks": report["chunks_added"],
        "seconds": round(report["seconds"], 1),
        "wall": wall,
        "peak_mb": round(peak_kb / 1024, 1),
        "rss_timeline_s_mb": samples[::step] + samples[-1:],
        "sampled_peak_at_s": max(samples, key=lambda ts: ts[1])[0] if samples else None,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }


def run(label: str, mode: str, embed: str, variant: str, pythonpath: str | None) -> dict[str, Any]:
    corpus = benchlib.build_corpus(label)
    data = benchlib.WORK / f"store-memory-{variant}-{mode}-{label}"
    shutil.rmtree(data, ignore_errors=True)
    loadavg = [round(x, 2) for x in os.getloadavg()]
    if mode == "cli":
        result = cli(Path(corpus["dir"]), data, pythonpath)
    else:
        args = [
            "benchmarks/probe_ingest_memory.py",
            "--worker",
            "--corpus",
            corpus["dir"],
            "--data",
            str(data),
        ]
        extra = {"PYTHONPATH": pythonpath} if pythonpath else {}
        result = benchlib.run_worker([*args, "--embed", embed], None, **extra)
    shutil.rmtree(data, ignore_errors=True)
    return {**result, "variant": variant, "corpus_chunks": corpus["chunks"], "loadavg_start": loadavg}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default=benchlib.DEFAULT_SIZES)
    parser.add_argument("--modes", default="cli")
    parser.add_argument("--embed", choices=["real", "fake"], default="real", help="trace mode only")
    parser.add_argument("--variant", default="after", help="a name for the code measured: before, after")
    parser.add_argument("--pythonpath", help="another copy of the code to measure (PYTHONPATH)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(trace(args.corpus, args.data, args.embed)))
        return
    run_meta = benchlib.meta()
    if args.pythonpath:
        run_meta["pythonpath"] = args.pythonpath
    benchlib.ensure_doc_corpus()
    for label in benchlib.parse_sizes(args.sizes):
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            embed = args.embed if mode == "trace" else "real"
            print(f"[memory {args.variant}] {mode} ({embed}) {label} ...", flush=True)
            result = run(label, mode, embed, args.variant, args.pythonpath)
            print(json.dumps(result), flush=True)
            key = f"{args.variant}/{mode}/{embed}/{label}"
            benchlib.merge_result("ingest_memory", key, result, run_meta)


if __name__ == "__main__":
    main()
