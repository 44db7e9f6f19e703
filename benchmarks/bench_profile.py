"""cProfile of the end-to-end extractive answer and of a re-ingest, on the largest seeded store.

    .venv/bin/python benchmarks/bench_profile.py [--size full]

Writes benchmarks/results/profile_<what>.prof (open with `python -m pstats` or snakeviz) and a text top list.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
from pathlib import Path

import benchlib


def _write(profile: cProfile.Profile, name: str, title: str, top: int = 30) -> Path:
    benchlib.RESULTS.mkdir(parents=True, exist_ok=True)
    profile.dump_stats(str(benchlib.RESULTS / f"profile_{name}.prof"))
    buffer = io.StringIO()
    stats = pstats.Stats(profile, stream=buffer)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    path = benchlib.RESULTS / f"profile_{name}.txt"
    path.write_text(f"# {title}\n# command: {benchlib.meta()['command']}\n" + buffer.getvalue())
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", help="seeded store to profile (default: the largest present)")
    args = parser.parse_args()
    labels = [
        label
        for label in benchlib.parse_sizes(benchlib.DEFAULT_SIZES)
        if (benchlib.store_dir(label) / "chroma").exists()
    ]
    label = args.size or (labels[-1] if labels else None)
    if label is None:
        raise SystemExit("no seeded store: run bench_ingest.py first")
    benchlib.apply_bench_env()
    from assistant.container import build_components
    from assistant.settings import Settings

    components = build_components(Settings(data_dir=benchlib.store_dir(label), llm_provider="extractive"))
    components.chat.answer(benchlib.QUESTIONS[0])  # warm-up: model load and BM25 index load
    profile = cProfile.Profile()
    profile.enable()
    for question in benchlib.QUESTIONS:
        components.chat.answer(question)
    profile.disable()
    print("wrote", _write(profile, "answer", f"{len(benchlib.QUESTIONS)} extractive answers, store {label}"))

    corpus = benchlib.corpus_dir(label)
    profile = cProfile.Profile()
    profile.enable()
    report = components.ingest.ingest([corpus])
    profile.disable()
    assert report.chunks_added == 0, report.summary()
    print(
        "wrote", _write(profile, "reingest", f"re-ingest of the unchanged {label} corpus: {report.summary()}")
    )


if __name__ == "__main__":
    main()
