"""What one small write costs every process's keyword search: the full BM25 rebuild at N chunks (issue 22).

    .venv/bin/python benchmarks/bench_keyword_rebuild.py --chunks 20000 --dir /tmp/kw-bench

Synthetic chunks (120 words from a 20k-word vocabulary, random 384-d vectors: no model is loaded) are written
to an embedded Chroma store; then the index is built, one chunk is added, and the index made current again,
as a replica does after any upload anywhere in the fleet.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vectorstore.chunking import Chunk
from vectorstore.keyword import KeywordIndex
from vectorstore.store import ChunkStore, open_client

DIMENSION = 384


def fill(store: ChunkStore, count: int, rng: random.Random) -> None:
    words = [f"w{i}" for i in range(20000)]
    for start in range(0, count, 2000):
        chunks = []
        for i in range(start, min(count, start + 2000)):
            text = " ".join(rng.choice(words) for _ in range(120))
            chunks.append(Chunk(id=f"c{i}", source=f"doc{i // 50}.txt", text=text, start=0, end=len(text)))
        vectors = [[rng.random() for _ in range(DIMENSION)] for _ in chunks]
        store.add(chunks, vectors, {"collection": "default"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--dir", type=Path, required=True, help="an empty folder for the store")
    args = parser.parse_args()
    store = ChunkStore(open_client(args.dir), "bench", "synthetic-384")
    started = time.perf_counter()
    fill(store, args.chunks, random.Random(0))
    print(f"{args.chunks} chunks written in {time.perf_counter() - started:.1f}s")
    index = KeywordIndex(store, args.dir / "bm25")
    started = time.perf_counter()
    index.ensure_current()
    print(f"first build: {time.perf_counter() - started:.2f}s")
    text = "one new small document about lighthouses"
    store.add([Chunk("new", "new.txt", text, 0, len(text))], [[0.1] * DIMENSION], {"collection": "default"})
    started = time.perf_counter()
    index.ensure_current()
    print(f"rebuild after a one-chunk write: {time.perf_counter() - started:.2f}s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
