"""Every benchmark, then docs/benchmarks.md: `make bench` runs this.

    .venv/bin/python benchmarks/run_all.py [--sizes 1000,10000,full] [--skip embedding,profile]
                                           [--max-ingest-minutes 25] [--render-only]

Each part runs in its own process and writes benchmarks/results/<part>.json. Ingestion runs the sizes
smallest first and prints the estimated time of the bigger ones from the measured rate; with
--max-ingest-minutes, a size estimated to take longer is skipped (run it on its own in the background:
`nohup .venv/bin/python benchmarks/bench_ingest.py --sizes full &`) and its earlier results, if any, stay.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import benchlib

PARTS = ["embedding", "backends", "ingest", "memory", "query", "startup", "profile"]


def run(script: str, *args: str) -> None:
    command = [benchlib.PYTHON, f"benchmarks/{script}", *args]
    print(f"\n$ {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=benchlib.ROOT, env=benchlib.bench_env(), check=True)
    print(f"({script}: {time.perf_counter() - started:.0f} s)", flush=True)


def ingest_sizes(sizes: list[str], max_minutes: float | None) -> list[str]:
    """Runs ingestion size by size; returns the sizes that have a seeded store afterwards."""
    counts = benchlib.chunk_counts(benchlib.ensure_doc_corpus())
    full = sum(counts.values())
    done = []
    for label in sorted(sizes, key=benchlib.size_key):
        target = full if label == "full" else int(label)
        rates = [
            run_["cold"]["chunks_per_s"]
            for run_ in benchlib.load_result("ingest").get("runs", {}).values()
            if run_.get("cold", {}).get("chunks_per_s")
        ]
        if rates:
            minutes = target / min(rates) / 60
            print(f"[ingest {label}] ~{target:,} chunks: estimated {minutes:.0f} min cold", flush=True)
            if max_minutes and minutes > max_minutes:
                print(
                    f"[ingest {label}] skipped (> {max_minutes:g} min); run it on its own: "
                    f"nohup .venv/bin/python benchmarks/bench_ingest.py --sizes {label} &",
                    flush=True,
                )
                if (benchlib.store_dir(label) / "chroma").exists():
                    done.append(label)
                continue
        run("bench_ingest.py", "--sizes", label)
        done.append(label)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default=benchlib.DEFAULT_SIZES, help="chunk counts and/or 'full'")
    parser.add_argument("--skip", default="", help=f"parts to skip: {','.join(PARTS)}")
    parser.add_argument("--reps", type=int, default=2, help="query benchmark: times each question is asked")
    parser.add_argument("--repeats", type=int, default=2, help="start-up benchmark: launches per store")
    parser.add_argument("--max-ingest-minutes", type=float, default=None)
    parser.add_argument("--render-only", action="store_true", help="only re-render docs/benchmarks.md")
    args = parser.parse_args()
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    if unknown := skip - set(PARTS):
        raise SystemExit(f"unknown parts to skip: {', '.join(sorted(unknown))} (known: {', '.join(PARTS)})")
    sizes = benchlib.parse_sizes(args.sizes)
    started = time.perf_counter()

    if not args.render_only:
        benchlib.ensure_doc_corpus()
        if "embedding" not in skip:
            run("bench_embedding.py")
        if "backends" not in skip:
            backend_sizes = [s for s in sizes if s != "full"] or ["1000"]
            run("bench_backends.py", "--sizes", ",".join(backend_sizes))
            run("bench_embedding_quality.py")
        seeded = sizes
        if "ingest" not in skip:
            seeded = ingest_sizes(sizes, args.max_ingest_minutes)
        if "memory" not in skip:
            run("probe_memory.py")
        size_arg = ",".join(seeded)
        if "query" not in skip and seeded:
            run("bench_query.py", "--sizes", size_arg, "--reps", str(args.reps))
        if "startup" not in skip:
            ends = sorted({seeded[0], seeded[-1]}, key=benchlib.size_key) if seeded else []
            run("bench_startup.py", "--sizes", ",".join(ends), "--repeats", str(args.repeats))
        if "profile" not in skip and seeded:
            run("bench_profile.py", "--size", max(seeded, key=benchlib.size_key))
    run("report.py")
    print(
        f"\nall done in {(time.perf_counter() - started) / 60:.1f} min: docs/benchmarks.md", file=sys.stderr
    )


if __name__ == "__main__":
    main()
