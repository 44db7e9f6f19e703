"""What one upload costs every replica's keyword search at N chunks (issue 22).

    .venv/bin/python benchmarks/bench_keyword_follow.py --chunks 100000 --dir /tmp/kw-bench

Synthetic chunks (120 words from a 20k-word vocabulary, random 384-d vectors: no model is loaded) are written
to an embedded Chroma store once (kept in --dir for the next run). Replica A's keyword index is built from the
store, replica B's starts from A's saved snapshot; then ten one-file uploads of 20 chunks are written, and
after each the time until each replica's keyword search finds the new file is measured, with the process's
resident memory. Finally a third index starts from the snapshot and replays the log.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

from vectorstore.chunking import Chunk
from vectorstore.keyword import KeywordIndex
from vectorstore.store import ChunkStore, open_client

DIMENSION = 384
UPLOADS = 10
FILE_CHUNKS = 20


def fill(store: ChunkStore, count: int, rng: random.Random) -> None:
    words = [f"w{i}" for i in range(20000)]
    for start in range(store.count(), count, 2000):
        chunks = []
        for i in range(start, min(count, start + 2000)):
            text = " ".join(rng.choice(words) for _ in range(120))
            chunks.append(Chunk(id=f"c{i}", source=f"doc{i // 50}.txt", text=text, start=0, end=len(text)))
        vectors = [[rng.random() for _ in range(DIMENSION)] for _ in chunks]
        store.add(chunks, vectors, {"collection": "default"})


def rss_mb() -> float:
    return benchlib.proc_status().get("VmRSS", 0.0)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def upload(store: ChunkStore, n: int) -> str:
    word = f"lighthouse{n}"
    texts = [f"{word} keeper log entry {i}" for i in range(FILE_CHUNKS)]
    chunks = [Chunk(f"up{n}-{i}", f"upload{n}.txt", text, 0, len(text)) for i, text in enumerate(texts)]
    store.add(chunks, [[0.1] * DIMENSION for _ in chunks], {"collection": "default"})
    return word


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100000)
    parser.add_argument("--dir", type=Path, required=True, help="a folder for the store (reused when filled)")
    args = parser.parse_args()
    store = ChunkStore(open_client(args.dir), "bench", "synthetic-384")
    fill_s = timed(lambda: fill(store, args.chunks, random.Random(0)))
    print(f"{store.count()} chunks in the store (written in {fill_s:.1f}s)")
    # The replicas read through the writer's own store object: a second ChunkStore on an embedded store
    # reloads Chroma's whole vector index after each write by another object (what a process must do after
    # another process's write), which would measure Chroma's reload, not the keyword index. A fleet reads a
    # Chroma server, where nothing is reloaded.
    first = KeywordIndex(store, args.dir / "bm25-A")
    print(f"replica A: first build from the store {timed(first.ensure_current):.2f}s, RSS {rss_mb():.0f} MB")
    second = KeywordIndex(store, args.dir / "bm25-A")
    print(f"replica B: start from A's snapshot {timed(second.ensure_current):.2f}s, RSS {rss_mb():.0f} MB")
    replicas = {"A": first, "B": second}
    follow: dict[str, list[float]] = {name: [] for name in replicas}
    memory = []
    for n in range(UPLOADS):
        word = upload(store, n)
        for name, index in replicas.items():
            seconds = timed(partial(index.search, word, 5))
            assert len(index.search(word, 50)) == FILE_CHUNKS, "the upload is searchable"
            follow[name].append(seconds)
        memory.append(rss_mb())
    for name, times in follow.items():
        print(
            f"replica {name}: upload → keyword-searchable p50 {statistics.median(times):.3f}s, "
            f"max {max(times):.3f}s over {UPLOADS} uploads of {FILE_CHUNKS} chunks"
        )
    print(f"RSS after each upload (MB): {' '.join(f'{m:.0f}' for m in memory)}")
    restarted = KeywordIndex(store, args.dir / "bm25-A")
    print(f"a restart from A's snapshot + the log: {timed(restarted.ensure_current):.2f}s")
    print(f"peak RSS: {benchlib.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
