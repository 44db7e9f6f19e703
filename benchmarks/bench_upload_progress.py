"""How often an upload's progress moves (issue 21): the gaps between the ingester's progress reports.

    .venv/bin/python benchmarks/bench_upload_progress.py [--paragraphs 500] [--pages 40] [FILE ...]

Each file is uploaded through `IngestService.add_upload` (the path of the UI's and the API's uploads) into a
fresh data dir with the model already loaded, recording every stage change, page count and chunk count
with its time. Reported per file: the seconds, the number of reports, and the largest and median gap
between two of them (what a person watching the Documents tab waits for the next number). Without FILEs: a
generated text register and a generated PDF. Results: benchmarks/results/upload_progress.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import benchlib

WORDS = ["harbour", "keeper", "ledger", "lantern", "tide", "gull", "rope", "anchor", "timber"]
WORDS += ["granite", "quarry", "orchard", "barley", "mill"]


def register_text(paragraphs: int) -> bytes:
    rng = random.Random(21)
    lines = [
        f"Entry {i} of the delta register. " + " ".join(rng.choice(WORDS) for _ in range(40)) + "."
        for i in range(paragraphs)
    ]
    return "\n\n".join(lines).encode()


def register_pdf(path: Path, pages: int) -> None:
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    body = getSampleStyleSheet()["BodyText"]
    rng = random.Random(pages)
    story: list[Any] = []
    for page in range(pages):
        for i in range(12):
            words = " ".join(rng.choice(WORDS) for _ in range(45))
            story.append(Paragraph(f"Page {page + 1}, entry {i}: {words}.", body))
        story.append(PageBreak())
    SimpleDocTemplate(str(path)).build(story)


def timeline(components: Any, path: Path) -> dict[str, Any]:
    """One upload's reports, each with its time since the start."""
    events: list[tuple[float, str]] = []
    started = time.perf_counter()

    def mark(what: str) -> None:
        events.append((time.perf_counter() - started, what))

    report = components.ingest.add_upload(
        path.name,
        path.read_bytes(),
        progress=lambda done, total: mark(f"{done}/{total} chunks"),
        stage=lambda stage: mark(f"stage {stage}"),
        pages=lambda done, total: mark(f"{done}/{total} pages"),
    )
    seconds = time.perf_counter() - started
    times = [0.0, *(t for t, _ in events), seconds]
    gaps = [b - a for a, b in pairwise(times)]
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "chunks": report.chunks_added,
        "seconds": round(seconds, 2),
        "reports": len(events),
        "max_gap_s": round(max(gaps), 2),
        "median_gap_s": round(statistics.median(gaps), 2),
        "events": [[round(t, 2), what] for t, what in events],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--paragraphs", type=int, default=500, help="of the generated text register")
    parser.add_argument("--pages", type=int, default=40, help="of the generated PDF")
    args = parser.parse_args()
    benchlib.apply_bench_env()
    from assistant.container import build_components
    from assistant.settings import Settings

    meta = benchlib.meta()
    with tempfile.TemporaryDirectory(prefix="bench-progress-") as folder:
        base = Path(folder)
        files = list(args.files)
        if not files:
            files = [base / "delta_register.txt", base / "delta_register.pdf"]
            files[0].write_bytes(register_text(args.paragraphs))
            register_pdf(files[1], args.pages)
        components = build_components(Settings(data_dir=base / "data", llm_provider="extractive"))
        components.embeddings.embed_query("warm up")  # loaded, as in a running server
        runs = [timeline(components, path) for path in files]
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out = benchlib.RESULTS / "upload_progress.json"
    out.write_text(json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n")
    for run in runs:
        print(
            f"{run['file']}: {run['chunks']} chunks in {run['seconds']} s, {run['reports']} reports, "
            f"largest gap {run['max_gap_s']} s, median {run['median_gap_s']} s"
        )
    print(f"load average {meta['loadavg_start']} -> {meta['loadavg_end']}; wrote {out}")


if __name__ == "__main__":
    main()
