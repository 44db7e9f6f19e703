"""A fleet at scale (issue 22): two replicas and a worker over one Chroma server holding N chunks.

    .venv/bin/python benchmarks/bench_fleet_scale.py --chunks 100000 --dir /tmp/fleet-bench

1. `chroma run` on 127.0.0.1; a first app process ingests seeds/ with the real model and stops; the store is
   then filled to N chunks with synthetic distractors: 120 words drawn from the seeds' and the prose-dev
   corpus' own running text (so real questions hit their postings), random unit vectors. The filled store is
   kept in --dir for the next run. Replicas A and B (RAG_INGEST_IN_PROCESS=false, their own data dirs, as on
   two hosts) start over it: their start-up includes building the keyword index from the store.
2. Query latency: `--clients` threads POST /api/chat (the seed questions of eval/dev.jsonl, round robin) for
   `--seconds`, first against A alone, then against A and replica B (its own data dir, as on another host).
3. Upload to answerable: a note is uploaded through A with `wait=false`; an `assistant worker` (A's data
   dir: the same SQLite queue) ingests it; both replicas are asked about it until each cites it.
4. Peak RSS of each replica and of the worker, sampled every 0.5 s (psutil, with children).
Results are printed as a Markdown table; docs/scale.md quotes them with the machine and the load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
from run_load_test import HOST, ROOT, free_port, rss_mb, start_app

from vectorstore.chunking import Chunk
from vectorstore.store import ChunkStore, open_client

KEY = "bench-fleet-key-0123456789abcdef"
SYLLABLES = ["ka", "lo", "mi", "ren", "tu", "vos", "pel", "dra", "quil", "mor"]


def fresh_fact() -> tuple[str, str, str]:
    """A note no earlier run stored (a made-up ferry and count), the question, and the answer's number."""
    rng = random.Random(time.time_ns())
    name = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
    count = str(rng.randrange(100, 1000))
    note = f"The {name} ferry keeper's log records {count} crossings, the most since the weir was rebuilt."
    return note, f"How many crossings does the {name} ferry keeper's log record?", count


def words() -> list[str]:
    texts = [p.read_text(errors="ignore") for p in sorted((ROOT / "seeds").glob("*.txt"))]
    prose = ROOT / "eval" / "prose-dev" / "corpus"
    texts += [p.read_text(errors="ignore") for p in sorted(prose.rglob("*.txt"))[:20]]
    return " ".join(texts).split()


def fill(port: int, total: int, seed: int = 0) -> int:
    store_client = open_client(Path("."), host=HOST, port=port)
    meta = store_client.get_collection("documents").metadata or {}
    store = ChunkStore(store_client, "documents", str(meta["embedding_model"]))
    rng, vocabulary = random.Random(seed), words()
    generator = np.random.default_rng(seed)
    for start in range(store.count(), total, 2000):
        chunks = []
        for i in range(start, min(total, start + 2000)):
            at = rng.randrange(len(vocabulary) - 120)
            text = " ".join(vocabulary[at : at + 120])
            chunks.append(Chunk(f"filler{i}", f"filler/{i // 40}.txt", text, 0, len(text)))
        vectors = generator.normal(size=(len(chunks), int(meta["embedding_dim"])))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.add(chunks, vectors.tolist(), {"collection": "default", "title": "filler"})
    return store.count()


class Peak:
    """The largest RSS of some processes (with their children), sampled in a thread."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids, self.peak = pids, dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for name, pid in self.pids.items():
                with contextlib.suppress(psutil.Error):
                    self.peak[name] = max(self.peak[name], rss_mb(pid))

    def stop(self) -> dict[str, float]:
        self._stop.set()
        return self.peak


def load(urls: list[str], clients: int, seconds: float, questions: list[str]) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def client(n: int) -> None:
        nonlocal errors
        with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as http:
            i = n
            while time.monotonic() < deadline:
                url, question = urls[i % len(urls)], questions[i % len(questions)]
                started = time.perf_counter()
                ok = http.post(f"{url}/api/chat", json={"message": question}).status_code == 200
                with lock:
                    latencies.append(time.perf_counter() - started)
                    errors += not ok
                i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "errors": errors,
        "p50": statistics.median(ordered),
        "p95": ordered[int(0.95 * (len(ordered) - 1))],
        "rps": len(ordered) / seconds,
    }


def warm_up_worker(a: str) -> float:
    """A first upload, waited for: the worker loads the embedding model on its first job (not measured)."""
    headers = {"Authorization": f"Bearer {KEY}"}
    files = {"files": (f"warm-{int(time.time())}.txt", b"The warm-up note names the lamp room.")}
    started = time.monotonic()
    job = httpx.post(f"{a}/api/documents?wait=false", headers=headers, files=files, timeout=60).json()
    while httpx.get(f"{a}/api/jobs/{job['id']}", headers=headers, timeout=60).json()["state"] not in (
        "done",
        "failed",
        "cancelled",
    ):
        time.sleep(0.5)
    return time.monotonic() - started


def upload_to_answerable(a: str, replicas: dict[str, str]) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {KEY}"}
    note, ask, count = fresh_fact()
    started = time.monotonic()
    sent = httpx.post(
        f"{a}/api/documents?wait=false",
        headers=headers,
        files={"files": (f"ferry-{time.time_ns()}.txt", note.encode())},
        timeout=60,
    )
    sent.raise_for_status()
    found: dict[str, float] = {}
    while len(found) < len(replicas) and time.monotonic() - started < 600:
        for label, url in replicas.items():
            if label in found:
                continue
            answer = httpx.post(f"{url}/api/chat", headers=headers, json={"message": ask}, timeout=120).json()
            if count in str(answer.get("answer", "")):
                found[label] = time.monotonic() - started
        time.sleep(0.2)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100000)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "dev.jsonl").open()]
    port = free_port()
    chroma = benchlib.start_chroma(args.dir / "chroma", port)
    shared = {"RAG_CHROMA_HOST": HOST, "RAG_CHROMA_PORT": str(port)}
    fleet = {**shared, "RAG_INGEST_IN_PROCESS": "false"}
    processes: list[subprocess.Popen[bytes]] = [chroma]
    try:
        seeding, _ = start_app(args.dir / "a", KEY, args.dir / "a0.log", **shared)  # ingests seeds/ itself
        seeding.terminate()
        seeding.wait(60)
        filled = time.monotonic()
        print(f"store: {fill(port, args.chunks)} chunks (filled in {time.monotonic() - filled:.0f}s)")
        urls = []
        for name in "ab":
            started = time.monotonic()
            app, url = start_app(args.dir / name, KEY, args.dir / f"{name}.log", **fleet)
            processes.append(app)
            urls.append(url)
            print(f"replica {name.upper()} up in {time.monotonic() - started:.1f}s (keyword index included)")
        (app_a, app_b), (url_a, url_b) = processes[1:3], urls
        worker_env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        worker_env.update(RAG_DATA_DIR=str(args.dir / "a"), RAG_API_KEYS=KEY, **fleet)
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "assistant"), "worker", "--threads", "1"],
            env=worker_env,
            stdout=(args.dir / "worker.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        processes.append(worker)
        peak = Peak({"replica A": app_a.pid, "replica B": app_b.pid, "worker": worker.pid})
        for url in urls:  # the first answer loads the model: not part of the latency measured
            httpx.post(
                f"{url}/api/chat",
                headers={"Authorization": f"Bearer {KEY}"},
                json={"message": "When was the weir rebuilt?"},
                timeout=300,
            )
        one = load([url_a], args.clients, args.seconds, questions) if args.seconds > 0 else None
        two = load([url_a, url_b], args.clients, args.seconds, questions) if args.seconds > 0 else None
        print(f"the worker's first job (model load included): {warm_up_worker(url_a):.1f}s")
        answerable = upload_to_answerable(url_a, {"A": url_a, "B": url_b})
        rss = peak.stop()
        load_avg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        print(f"\n{args.clients} clients, {args.seconds:.0f} s each, load average at the end {load_avg}\n")
        print("| replicas | requests | errors | p50 | p95 | answers/s |\n|---|---|---|---|---|---|")
        for label, row in (("1 (A)", one), ("2 (A, B)", two)):
            if row is None:
                continue
            print(
                f"| {label} | {row['requests']:.0f} | {row['errors']:.0f} | {row['p50']:.2f} s "
                f"| {row['p95']:.2f} s | {row['rps']:.2f} |"
            )
        print(f"\nupload (wait=false) → answered with the fact: {answerable}")
        print(f"peak RSS (MB): {rss}")
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
