"""Renders benchmarks/results/*.json into docs/benchmarks.md and the plots in docs/.

    .venv/bin/python benchmarks/report.py

Only figures present in the result files are shown; a size never measured is left out, not estimated.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import benchlib

DOC = benchlib.DOCS / "benchmarks.md"
QUERY_PNG = benchlib.DOCS / "benchmarks_query_latency.png"
INGEST_PNG = benchlib.DOCS / "benchmarks_ingest.png"
ANALYSIS = benchlib.BENCH / "analysis.md"

# Sections written by hand or by another script, between `<!-- name:start -->` and `<!-- name:end -->`: a
# re-render keeps what the page holds between the markers, or puts this placeholder there the first time.
HAND_WRITTEN = {
    "retrieval-quality": "## Retrieval quality before/after\n\n"
    "**Placeholder, to be filled in by hand** (a re-render keeps what is written between these markers): "
    "evidence retrieved on both dev sets (`seeds/` dev and pydocs-dev), torch and `onnx-int8`, before and "
    "after the change of ONNX batching, from "
    "`.venv/bin/python benchmarks/bench_embedding_quality.py --backends torch,onnx-int8`.",
    "load-test": "## Load test\n\nNot run yet: `.venv/bin/python benchmarks/run_load_test.py` writes this "
    "section.",
}


def _sizes(runs: dict[str, Any]) -> list[str]:
    return sorted(runs, key=benchlib.size_key)


def _fmt(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value}{unit}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _load(meta: dict[str, Any]) -> str:
    start, end = meta.get("loadavg_start"), meta.get("loadavg_end")
    text = f"{start[0]:.1f}" if start else "?"
    return text + (f" → {end[0]:.1f}" if end else "")


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def kept_block(text: str, name: str) -> str | None:
    """The block `name` of a rendered page, markers included; None when the page has none."""
    start, end = _markers(name)
    _, found, rest = text.partition(start)
    if not found or end not in rest:
        return None
    return start + rest.split(end, 1)[0] + end


def hand_written(previous: str, name: str) -> str:
    """The block `name` as the page held it, or its placeholder between markers."""
    start, end = _markers(name)
    return kept_block(previous, name) or f"{start}\n{HAND_WRITTEN[name]}\n{end}"


# -- plots ------------------------------------------------------------------------------------------------
def plot_query(query: dict[str, Any]) -> bool:
    runs = query.get("runs", {})
    if not runs:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = _sizes(runs)
    chunks = [runs[label]["chunks"] for label in labels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, name, color in (
        ("retrieval", "retrieval (embed query + hybrid search)", "tab:blue"),
        ("retrieve", "search only (dense + BM25 + fusion)", "tab:green"),
    ):
        left.plot(
            chunks,
            [runs[s]["latency_ms"][key]["p50"] for s in labels],
            "o-",
            color=color,
            label=f"{name} p50",
        )
        left.plot(
            chunks, [runs[s]["latency_ms"][key]["p95"] for s in labels], "s--", color=color, label="p95"
        )
    left.set_title("Retrieval latency")
    right.plot(
        chunks, [runs[s]["latency_ms"]["answer"]["p50"] for s in labels], "o-", color="tab:red", label="p50"
    )
    right.plot(
        chunks, [runs[s]["latency_ms"]["answer"]["p95"] for s in labels], "s--", color="tab:red", label="p95"
    )
    if all("answer_repeat" in runs[s]["latency_ms"] for s in labels):
        right.plot(
            chunks,
            [runs[s]["latency_ms"]["answer_repeat"]["p50"] for s in labels],
            "o:",
            color="tab:purple",
            label="p50, question asked again (cached sentence vectors)",
        )
    right.set_title("End-to-end extractive answer latency (first ask)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("chunks in the store")
        ax.set_ylabel("ms")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Query latency vs corpus size (Python docs, 2-core shared CPU)", fontsize=10)
    fig.tight_layout()
    fig.savefig(QUERY_PNG, dpi=110)
    plt.close(fig)
    return True


def plot_ingest(ingest: dict[str, Any], embedding: dict[str, Any]) -> bool:
    runs = {k: v for k, v in ingest.get("runs", {}).items() if "cold" in v}
    if not runs:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = _sizes(runs)
    names = [
        f"{label}\n({runs[label]['cold']['report']['chunks_added']:,} chunks)\n"
        f"load avg {runs[label]['cold']['loadavg_start'][0]:.1f}→{runs[label]['cold']['loadavg_end'][0]:.1f}"
        for label in labels
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(names, [runs[s]["cold"]["chunks_per_s"] for s in labels], color="tab:blue", label="cold ingest")
    ax.bar(
        names,
        [runs[s]["cold"]["embed_only_chunks_per_s"] for s in labels],
        fill=False,
        edgecolor="tab:orange",
        linewidth=2,
        label="its embedding calls alone",
    )
    if embedding.get("ceiling_median_chunks_per_s"):
        ax.axhline(
            embedding["ceiling_chunks_per_s"], color="tab:green", linestyle="--", label="model ceiling (best)"
        )
        ax.axhline(
            embedding["ceiling_median_chunks_per_s"],
            color="tab:green",
            linestyle=":",
            label="model ceiling (median)",
        )
    top = max(
        [embedding.get("ceiling_chunks_per_s") or 0] + [runs[s]["cold"]["chunks_per_s"] for s in labels]
    )
    ax.set_ylim(0, top * 1.45)
    ax.set_ylabel("chunks / second")
    ax.set_title("Cold ingestion throughput vs the embedding model alone", fontsize=10)
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(INGEST_PNG, dpi=110)
    plt.close(fig)
    return True


# -- sections -------------------------------------------------------------------------------------------
def section_machine(all_meta: list[dict[str, Any]]) -> str:
    latest = max(all_meta, key=lambda m: m["date"])
    m = latest["machine"]
    dates = sorted({meta["date"] for meta in all_meta})
    loads = [meta["loadavg_start"][0] for meta in all_meta if meta.get("loadavg_start")]
    loads += [meta["loadavg_end"][0] for meta in all_meta if meta.get("loadavg_end")]
    lines = [
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}, `nproc` = {m['nproc']}",
        f"- RAM: {m['ram_gb']} GB",
        f"- Linux {m['kernel']}, Python {m['python']}",
        f"- Runs between {dates[0]} and {dates[-1]}; code at commit `{latest['commit']}`",
        "- **Shared machine**: other work (test suites, a browser, llama.cpp servers) ran on the same "
        f"2 cores during these runs; the 1-minute load average ranged {min(loads):.1f}–{max(loads):.1f} "
        "(2.0 = both cores busy). Absolute figures are therefore pessimistic and noisy; each table gives the "
        "load average at the start → end of its run.",
        "",
        "Package versions:",
        "",
        _table(["package", "version"], [[k, v] for k, v in latest["versions"].items()]),
    ]
    return "\n".join(lines)


def section_corpus(ingest: dict[str, Any]) -> str:
    runs = ingest.get("runs", {})
    rows = [
        [
            label,
            _fmt(runs[label]["corpus"]["files"]),
            _fmt(runs[label]["corpus"]["chunks"]),
            f"{runs[label]['corpus']['bytes'] / 1e6:.1f} MB",
        ]
        for label in _sizes(runs)
    ]
    return "\n".join(
        [
            "## Corpus",
            "",
            "The reStructuredText sources of the Python 3.11 documentation from Debian's "
            f"`{benchlib.DOC_PACKAGE}` package (`{benchlib.DOC_SOURCES}`, installed by the benchmark if "
            "missing), ingested as text with the default settings (800-character chunks, 120 overlap). "
            "Subsets are files drawn in a fixed random order (seed 0) until the chunk target is reached; "
            "they are nested.",
            "",
            _table(["size", "files", "chunks", "text"], rows),
        ]
    )


def section_embedding(embedding: dict[str, Any]) -> str:
    if not embedding:
        return "## Embedding model alone\n\nNot measured."
    rows = [
        [
            str(c["threads"]),
            str(c["per_call"]),
            _fmt(c["best_chunks_per_s"]),
            _fmt(c["median_chunks_per_s"]),
            ", ".join(f"{r:.1f}" for r in c["rounds_chunks_per_s"]),
            _fmt(c["cpu_ms_per_chunk"]),
        ]
        for c in embedding["configs"]
    ]
    query_rows = [
        [threads, f"{q['p50']:,.1f}", f"{q['p95']:,.1f}", str(q["n"])]
        for threads, q in embedding["query_embed_ms"].items()
    ]
    return "\n".join(
        [
            "## Embedding model alone (the ingestion ceiling)",
            "",
            f"`{embedding['model']}` through `components.embeddings.model.embed_documents` "
            f"(sentence-transformers on CPU, torch default {embedding['torch_threads']} threads, "
            f"encode batch {embedding['encode_batch_size']}, max {embedding['max_seq_length']} tokens) "
            f"on real chunks of the corpus (mean {embedding['mean_chunk_chars']} characters). "
            f"{embedding['rounds']} rounds, configurations interleaved in each, so load bursts from other "
            "work hit them alike; *best* is the least disturbed round. "
            f"Model load: {embedding['model_load_s']} s. Load average {_load(embedding['meta'])}.",
            "",
            _table(
                [
                    "torch threads",
                    "texts per call",
                    "best chunks/s",
                    "median chunks/s",
                    "each round",
                    "CPU ms/chunk (median)",
                ],
                rows,
            ),
            "",
            "Embedding one question (`embed_query`, the 30 benchmark questions each round), ms:",
            "",
            _table(["torch threads", "p50", "p95", "n"], query_rows),
            "",
            f"Peak RSS of this process: {embedding['peak_rss_mb']} MB.",
        ]
    )


def _sizes_of(backends: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(backends["sizes"].items(), key=lambda kv: benchlib.size_key(kv[0]))


def _backend_speed_rows(backends: dict[str, Any], names: list[str]) -> list[list[str]]:
    """One row per size and backend."""
    speed_rows = []
    for _, size in _sizes_of(backends):
        for name in names:
            row = size["backends"][name]
            speed_rows.append(
                [
                    f"{size['chunks']:,}",
                    f"`{name}`",
                    _fmt(row["chunks_per_s"]),
                    f"{size.get('speedup_vs_torch', {}).get(name, 0):.2f}×",
                    _fmt(row["median_slice_chunks_per_s"]),
                    _fmt(row["cpu_ms_per_chunk"]),
                    _fmt(row["seconds"]),
                ]
            )
    return speed_rows


def _backend_side_by_side(backends: dict[str, Any], names: list[str]) -> str:
    """One row per size, the backends side by side, with each one's speed-up over torch."""
    meta = backends["meta"]
    others = [n for n in names if n != "torch"] if "torch" in names else []
    ratio_names = [f"`{n}` vs torch" for n in others]
    side_rows = [
        [
            label,
            _fmt(size["chunks"]),
            *(_fmt(size["backends"][n]["chunks_per_s"]) for n in names),
            *(f"**{size['speedup_vs_torch'][n]:.2f}×**" for n in others),
            _load(size) if size.get("loadavg_start") else f"{_load(meta)} (whole run)",
        ]
        for label, size in _sizes_of(backends)
    ]
    return _table(
        ["corpus", "chunks", *(f"`{n}` chunks/s" for n in names), *ratio_names, "load avg"], side_rows
    )


def _backend_model_rows(backends: dict[str, Any]) -> list[list[str]]:
    model_rows = [
        [
            f"`{name}`",
            f"`{m['model_id']}`",
            _fmt(m["load_s"], 2),
            _fmt(m["rss_after_load_mb"], 0),
            _fmt(m["peak_rss_mb"], 0),
            f"{m['query_embed_ms']['p50']:.1f} / {m['query_embed_ms']['p95']:.1f}",
        ]
        for name, m in backends["models"].items()
    ]
    return model_rows


def _quality_parts(quality: dict[str, Any]) -> list[str]:
    """The last bench_embedding_quality.py run: evidence retrieved per dev set and backend."""
    parts: list[str] = []
    rows = []
    for set_name, per_backend in quality["sets"].items():
        for name, r in per_backend.items():
            rows.append(
                [
                    set_name,
                    f"`{name}`",
                    f"{r['hybrid_hits']}/{r['n']} ({r['hybrid_hit_rate']:.3f})",
                    f"{r['dense_hits']}/{r['n']} ({r['dense_hit_rate']:.3f})",
                    str(r["chunks"]),
                ]
            )
    q_meta = quality["meta"]
    parts += [
        f"Retrieval quality (`{q_meta['command']}`, {q_meta['date']}): answerable items whose evidence "
        f"is in the top {quality['k']} passages, with the product's hybrid retrieval and with dense "
        "retrieval alone (where only the embeddings matter).",
        "",
        _table(["dev set", "backend", "evidence retrieved (hybrid)", "dense only", "chunks"], rows),
    ]
    agreement = quality.get("cosine_agreement") or {}
    for name, a in agreement.items():
        parts += [
            "",
            f"`{name}` vs torch on {a['chunks']} pydocs chunks: cosine mean {a['mean']:.4f}, "
            f"1st percentile {a['p1']:.4f}, min {a['min']:.4f}.",
        ]
    return parts


def section_backends(backends: dict[str, Any], quality: dict[str, Any]) -> str:
    """torch vs ONNX fp32 vs ONNX int8 (benchmarks/bench_backends.py, bench_embedding_quality.py)."""
    if not backends:
        return "## Embeddings backends: torch vs ONNX\n\nNot measured."
    names = list(backends["models"])
    meta = backends["meta"]
    agreement_rows = [
        [f"`{name}`", str(a["n"]), f"{a['mean']:.4f}", f"{a['p1']:.4f}", f"{a['min']:.4f}"]
        for name, a in backends.get("cosine_agreement_with_torch", {}).items()
    ]
    exported = backends.get("onnx_export") or {}
    elapsed = sum(size["elapsed_s"] for size in backends["sizes"].values())
    parts = [
        "## Embeddings backends: torch vs ONNX fp32 vs ONNX int8",
        "",
        "`RAG_EMBEDDINGS_BACKEND` = `onnx-int8` (default) | `onnx` | `torch`. The ONNX backends run the "
        "bundled all-MiniLM-L6-v2 exported locally (torch's exporter, ONNX Runtime's BERT fusions, int8 "
        "dynamic quantization with per-channel weights; `vectorstore/onnx_export.py`), cached under "
        "`~/.cache/grounded-assistant/onnx/`, and batch texts by token count: at most 32 texts and 2,048 "
        "padded tokens per `session.run`, so ONNX Runtime's memory stays bounded. Each backend is its own "
        "embedding id: switching needs `assistant ingest --reindex`.",
        "",
        f"Command: `{meta['command']}`; {meta['date']}; commit `{meta['commit']}`; "
        f"{meta['machine']['nproc']} cores ({meta['machine']['cpu_model']}, CPU only, shared with other "
        f"work); load average {_load(meta)}"
        + (f"; run at nice {meta['nice']}" if meta.get("nice") else "")
        + ("; partial run: the sizes still running are absent" if not backends.get("complete", True) else "")
        + f"; {elapsed / 60:.1f} min of embedding in all. "
        "Every backend embeds the same texts, every chunk of each corpus, in calls of "
        f"{backends['per_call']}; each backend in its own process, taking turns every {backends['slice']} "
        "chunks so load from other work hits them alike.",
        "",
        _backend_side_by_side(backends, names),
        "",
        "Per backend:",
        "",
        _table(
            ["chunks", "backend", "chunks/s", "vs torch", "median slice chunks/s", "CPU ms/chunk", "seconds"],
            _backend_speed_rows(backends, names),
        ),
        "",
        _table(
            ["backend", "embedding id", "load s", "RSS after load MB", "peak RSS MB", "query p50 / p95 ms"],
            _backend_model_rows(backends),
        ),
        "",
    ]
    parts += [
        "Query latency: the 30 benchmark questions, one backend after the other (not interleaved), so "
        "under load it is noisier than the throughput above. int8 caveat: dynamic quantization scales "
        "activations per batch, so a chunk's int8 vector varies slightly with its batch-mates (texts are "
        "batched by length, which keeps this small); the cosines below include that effect.",
        "",
    ]
    if exported:
        parts += [
            f"One-off export (fp32 + int8): {exported['export_s']} s"
            + (" (was cached)" if exported.get("was_cached") else "")
            + f", peak RSS {exported.get('peak_rss_mb')} MB; files: "
            + ", ".join(f"{k} {v} MB" for k, v in exported.get("file_mb", {}).items())
            + ". ONNX load times include hashing the source weights to find the cached export.",
            "",
        ]
    if agreement_rows:
        parts += [
            "Cosine between each backend's vector and torch's for the same chunk:",
            "",
            _table(["backend", "chunks", "mean", "1st percentile", "min"], agreement_rows),
            "",
        ]
    parts += _quality_parts(quality) if quality else []
    return "\n".join(parts).rstrip()


def section_ingest(ingest: dict[str, Any], embedding: dict[str, Any]) -> str:
    runs = ingest.get("runs", {})
    ceiling = embedding.get("ceiling_chunks_per_s") if embedding else None
    rows, re_rows = [], []
    for label in _sizes(runs):
        cold, warm = runs[label].get("cold"), runs[label].get("reingest")
        if cold:
            rate = cold["chunks_per_s"]
            rows.append(
                [
                    label,
                    _fmt(cold["report"]["chunks_added"]),
                    f"{cold['seconds']:,.0f} s ({cold['seconds'] / 60:.1f} min)",
                    _fmt(rate),
                    f"{rate / ceiling:.0%}" if ceiling and rate else "–",
                    _fmt(cold["embed_only_chunks_per_s"]),
                    f"{cold['embed_share']:.1%}",
                    _fmt(cold["mean_embed_call_size"]),
                    _fmt(cold["cpu_ms_per_chunk"]),
                    _fmt(cold["model_load_s"], 1, " s"),
                    f"{cold['rss_mb']['after_model_load']:,.0f} → {cold['rss_mb']['peak']:,.0f} MB",
                    f"{cold['loadavg_start'][0]:.1f} → {cold['loadavg_end'][0]:.1f}",
                ]
            )
        if warm:
            re_rows.append(
                [
                    label,
                    _fmt(warm["report"]["chunks_kept"]),
                    _fmt(warm["report"]["chunks_added"]),
                    _fmt(warm["embed_calls"]),
                    "no" if not warm["model_loaded_after"] else "yes",
                    f"{warm['seconds']:.2f} s",
                    f"{warm['seconds'] / cold['seconds']:.2%}" if cold else "–",
                    f"{warm['setup_s']:.1f} s",
                    f"{warm['rss_mb']['peak']:,.0f} MB",
                ]
            )
    breakdown = []
    for label in _sizes(runs):
        cold = runs[label].get("cold")
        if not cold:
            continue
        parts = cold["breakdown"]
        total = cold["seconds"]
        embed = parts.get("embed", {}).get("seconds", 0.0)
        add = parts.get("store.add", {}).get("seconds", 0.0)
        bm25 = parts.get("keyword_index.ensure_current", {}).get("seconds", 0.0)
        touch = parts.get("store._touch", {}).get("seconds", 0.0) + parts.get(
            "store.check_embeddings", {}
        ).get("seconds", 0.0)
        breakdown.append(
            [
                label,
                f"{embed:,.1f} s",
                f"{add:,.1f} s (of which metadata round trips {touch:.1f} s)",
                f"{bm25:.1f} s",
                f"{total - embed - add - bm25:.1f} s",
            ]
        )
    return "\n".join(
        [
            "## Ingestion",
            "",
            "`components.ingest.ingest([corpus_dir])`, each run in a fresh process. *Cold* starts from an "
            "empty data dir; the embedding model is loaded before the clock starts (its load time is shown "
            "apart). "
            "chunks/s = chunks added / `IngestReport.seconds`. Peak memory is the process's peak RSS "
            "(`ru_maxrss`); the RSS once the model is loaded is shown first.",
            "",
            _table(
                [
                    "size",
                    "chunks",
                    "cold time",
                    "chunks/s",
                    "of ceiling",
                    "embed-only chunks/s",
                    "time in embedding",
                    "chunks per embed call",
                    "CPU ms/chunk",
                    "model load",
                    "RSS: model loaded → peak",
                    "load avg",
                ],
                rows,
            ),
            "",
            "'of ceiling' compares with the best 128-texts-per-call rate of the embedding model alone, "
            "measured in a separate run, so it also carries the difference in machine load between the two "
            "runs; "
            "'embed-only chunks/s' is the rate of the embedding calls inside the same ingest.",
            "",
            "Where the cold time goes (wrapped calls, wall time):",
            "",
            _table(
                ["size", "embedding", "Chroma upserts", "BM25 rebuild", "rest (read, hash, split)"], breakdown
            ),
            "",
            "*Re-ingest*: the same corpus again, unchanged, in a new process on the seeded data dir "
            "(what `assistant ingest` does on a second run).",
            "",
            _table(
                [
                    "size",
                    "chunks kept",
                    "chunks added",
                    "embed calls",
                    "model loaded",
                    "time",
                    "of cold time",
                    "process set-up",
                    "peak RSS",
                ],
                re_rows,
            ),
        ]
    )


def section_query(query: dict[str, Any]) -> str:
    runs = query.get("runs", {})
    if not runs:
        return "## Query latency\n\nNot measured."
    rows, parts = [], []
    for label in _sizes(runs):
        r = runs[label]
        lat = r["latency_ms"]
        rows.append(
            [
                label,
                _fmt(r["chunks"]),
                f"{lat['retrieval']['p50']:,.0f} / {lat['retrieval']['p95']:,.0f}",
                f"{lat['retrieve']['p50']:,.1f} / {lat['retrieve']['p95']:,.1f}",
                f"{lat['answer']['p50']:,.0f} / {lat['answer']['p95']:,.0f}",
                f"{lat['answer_repeat']['p50']:,.0f} / {lat['answer_repeat']['p95']:,.0f}"
                if "answer_repeat" in lat
                else "–",
                f"{r['first_answer_ms'] / 1000:.1f} s",
                f"{r['rss_mb']['peak']:,.0f} MB",
                f"{r['loadavg_start'][0]:.1f} → {r['loadavg_end'][0]:.1f}",
            ]
        )
        s = r["answer_sentence_embedding"]
        parts.append(
            [
                label,
                f"{lat['embed_query']['p50']:,.0f} / {lat['embed_query']['p95']:,.0f}",
                f"{lat['dense']['p50']:,.1f} / {lat['dense']['p95']:,.1f}",
                f"{lat['bm25']['p50']:,.1f} / {lat['bm25']['p95']:,.1f}",
                f"{r['metadata_roundtrips_ms']['store.count']['p50']:.2f} + "
                f"{r['metadata_roundtrips_ms']['store.version']['p50']:.2f}",
                f"{lat['answer_generate']['p50']:,.0f} / {lat['answer_generate']['p95']:,.0f}",
                f"{s['sentences_per_answer']['p50']:.0f}",
                f"{s['share_of_answer_time']:.0%}",
                f"{r['refused']} / {r['questions']}",
            ]
        )
    first = runs[_sizes(runs)[0]]
    return "\n".join(
        [
            "## Query latency",
            "",
            f"{first['questions']} questions about Python (in `benchmarks/benchlib.py`), each asked "
            f"{first['reps']} times per size, in one fresh process per size after a warm-up query. "
            "*Retrieval* = `embed_query` + `retriever.retrieve` (hybrid: Chroma dense + BM25, fused); "
            "*search only* = `retriever.retrieve` given the vector; *answer* = `components.chat.answer` "
            "(offline extractive answerer) wall time the first time each question is asked (its sentence "
            "vectors may already be cached from earlier questions that retrieved the same passages); "
            "*asked again* = the same question later, when the answerer's sentence-vector cache holds them. "
            "The warm-up answer (another question, first of the process) also loads the BM25 index. "
            "Figures are p50 / p95 in ms.",
            "",
            _table(
                [
                    "size",
                    "chunks",
                    "retrieval",
                    "search only",
                    "answer",
                    "answer, question asked again",
                    "warm-up answer",
                    "peak RSS",
                    "load avg",
                ],
                rows,
            ),
            "",
            f"![Query latency vs corpus size]({QUERY_PNG.name})",
            "",
            "Inside a query (p50 / p95 ms unless noted):",
            "",
            _table(
                [
                    "size",
                    "embed query",
                    "Chroma query",
                    "BM25 search",
                    "count + version round trips (p50)",
                    "answerer (after retrieval)",
                    "sentences embedded per answer (cache misses)",
                    "first-ask answer time in sentence embedding",
                    "refused",
                ],
                parts,
            ),
        ]
    )


def section_startup(startup: dict[str, Any]) -> str:
    if not startup:
        return "## Start-up\n\nNot measured."
    rows = []
    for label in sorted(startup.get("server", {}), key=benchlib.size_key):
        for run in startup["server"][label]["runs"]:
            rows.append(
                [
                    label,
                    f"{run['healthz_s']:.1f} s",
                    f"{run['first_chat_s']:.1f} s",
                    f"{run['first_chat_request_ms'] / 1000:.1f} s",
                    f"{run['first_chat_timings'].get('retrieve_ms', 0) / 1000:.1f} s",
                    f"{run['second_chat_request_ms']:,.0f} ms",
                    f"{run['rss_mb']['at_healthz']:,.0f} → {run['rss_mb']['peak']:,.0f} MB",
                    f"{run['loadavg_start'][0]:.1f}",
                ]
            )
    imports = startup.get("imports", {})
    import_rows = [[f"`{name}`", f"{row['median_s']:.2f} s"] for name, row in imports.items()]
    tree = startup.get("importtime_assistant_server") or {}
    tree_rows = [
        [f"`{row['package']}`", f"{row['self_s']:.2f} s"] for row in tree.get("self_s_by_package", [])
    ]
    lines = [
        "## Start-up",
        "",
        "`python app.py --port P` in a subprocess with `RAG_DATA_DIR=<seeded store>`, `HF_HUB_OFFLINE=1`, "
        "`GRADIO_ANALYTICS_ENABLED=False`; times from launch. Then `POST /api/chat "
        f'{{"message": "{startup.get("question", "")}"}}` twice. The server starts loading the '
        "embedding model in a background thread at start-up; the first chat waits for it and loads the "
        "BM25 index.",
        "",
        _table(
            [
                "store",
                "/healthz answers",
                "first answer",
                "first request",
                "of which retrieval",
                "second request",
                "server RSS: ready → peak",
                "load avg",
            ],
            rows,
        ),
    ]
    if import_rows:
        lines += [
            "",
            "Import time, each module alone in a fresh interpreter (median of runs; `python -c pass` "
            "is the interpreter's own start):",
            "",
            _table(["module", "import time"], import_rows),
        ]
    if tree_rows:
        lines += [
            "",
            f"`python -X importtime -c 'import assistant.server'`: {tree.get('total_s', 0):.2f} s in all; "
            "self time summed per top-level package (torch, sentence-transformers and gradio are not "
            "imported here: the model loads lazily, gradio when the app is built):",
            "",
            _table(["package", "self time"], tree_rows),
        ]
    return "\n".join(lines)


def section_memory(memory: dict[str, Any]) -> str:
    if not memory:
        return ""
    store, embed, ingest = memory["store"], memory["embed"], memory["ingest"]
    rows = [
        [
            f"Chroma alone: {store['chunks']:,} chunks upserted with random vectors",
            f"{store['rss_start']:,.0f}",
            f"{store['rss_end']:,.0f}",
            f"{store['peak']:,.0f}",
            "",
        ],
        [
            f"Model alone: {embed['texts']:,} chunk texts embedded, 28 per call",
            f"{embed['rss_model_loaded']:,.0f}",
            f"{embed['rss_end']:,.0f}",
            f"{embed['peak']:,.0f}",
            "RSS after each 700 texts: " + ", ".join(f"{v:,.0f}" for v in embed["rss_by_texts"].values()),
        ],
        [
            f"Real ingest of the 1k corpus ({ingest['chunks']:,} chunks)",
            f"{ingest['rss_model_loaded']:,.0f}",
            f"{ingest['rss_after_ingest']:,.0f}",
            f"{ingest['peak']:,.0f}",
            f"after `gc.collect()` + glibc `malloc_trim(0)`: {ingest['rss_after_malloc_trim']:,.0f}",
        ],
    ]
    return "\n".join(
        [
            "### Where ingestion memory goes",
            "",
            "`benchmarks/probe_memory.py`, each probe in a fresh process (RSS in MB; start = after set-up or "
            f"after the model is loaded). Load average {_load(memory['meta'])}.",
            "",
            _table(["probe", "start", "end", "peak", "note"], rows),
        ]
    )


def _memory_runs(data: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    """ingest_memory.json's runs by (variant, mode, vectors, size)."""
    return {tuple(key.split("/")): run for key, run in data.get("runs", {}).items()}


def _load_range(run: dict[str, Any]) -> str:
    return f"{run['loadavg_start'][0]:.1f} → {run['loadavg_end'][0]:.1f}"


def _peak_rows(runs: dict[tuple[str, ...], dict[str, Any]], labels: list[str]) -> list[list[str]]:
    rows = []
    for label in labels:
        before, after = runs.get(("before", "cli", "real", label)), runs.get(("after", "cli", "real", label))
        either = after or before
        if either is None:
            continue
        change = "–"
        if before and after:
            delta = after["peak_mb"] - before["peak_mb"]
            change = f"{delta:+,.0f} MB ({delta / before['peak_mb']:+.0%})"
        rows.append(
            [
                label,
                _fmt(either["chunks"]),
                *(f"{r['peak_mb']:,.0f} MB" if r else "–" for r in (before, after)),
                change,
                *(f"{r['seconds'] / 60:.1f} min, {_load_range(r)}" if r else "–" for r in (before, after)),
            ]
        )
    return rows


def _phase_rows(runs: dict[tuple[str, ...], dict[str, Any]], labels: list[str]) -> list[list[str]]:
    rows = []
    for vectors in ("real", "fake"):
        for label in labels:
            for variant in ("before", "after"):
                run = runs.get((variant, "trace", vectors, label))
                if not run:
                    continue
                phases = run["phases_mb"]
                rows.append(
                    [
                        variant,
                        "model" if vectors == "real" else "hashed (no model)",
                        label,
                        _fmt(run["chunks"]),
                        f"{phases['setup']['end']:,.0f}",
                        f"{phases['model_load']['end']:,.0f}",
                        f"{phases['file_loop']['peak']:,.0f}",
                        f"{phases['keyword_index']['peak']:,.0f}",
                        f"{phases['after']['end']:,.0f}",
                        _load_range(run),
                    ]
                )
    return rows


def section_ingest_memory(data: dict[str, Any]) -> str:
    """Cold-ingest peak RSS before/after, and where it is reached (benchmarks/probe_ingest_memory.py)."""
    runs = _memory_runs(data)
    if not runs:
        return ""
    labels = sorted({key[3] for key in runs}, key=benchlib.size_key)
    metas = [run["meta"] for run in data["runs"].values()]
    before = next((m for k, m in zip(data["runs"], metas, strict=True) if k.startswith("before/")), None)
    lines = [
        "### Cold-ingest peak memory against corpus size",
        "",
        "`/usr/bin/time -v assistant ingest --json CORPUS` with `RAG_DATA_DIR` on a fresh data dir and the "
        "default settings (`onnx-int8`): the process's peak RSS (*Maximum resident set size*), model "
        "load included (`.venv/bin/python benchmarks/probe_ingest_memory.py --sizes 1000,10000,full`). "
        "*before* is the code at the commit below the change, unpacked with `git archive` and run through "
        "`--pythonpath`"
        + (f" (commit `{before['commit'].split('+')[0]}` unchanged)" if before else "")
        + "; *after* is this tree. Time and load average (start → end) per run; the ingests ran while "
        "other work shared the 2 cores, which changes their time, not their memory.",
        "",
        _table(
            [
                "size",
                "chunks",
                "before: peak RSS",
                "after: peak RSS",
                "change",
                "before: time, load",
                "after: time, load",
            ],
            _peak_rows(runs, labels),
        ),
    ]
    phase_rows = _phase_rows(runs, labels)
    if phase_rows:
        lines += [
            "",
            "Where the peak is reached (`--modes trace`: the same cold ingest inside one process, the "
            "kernel's high-water mark reset between phases through `/proc/self/clear_refs`; MB). *file loop* "
            "= embedding and Chroma writes, file by file; *keyword index* = the BM25 build at the end of "
            "the ingest. *hashed* runs replace the model with vectors hashed from the text, to measure "
            "everything but the model in minutes.",
            "",
            _table(
                [
                    "code",
                    "vectors",
                    "size",
                    "chunks",
                    "RSS after set-up",
                    "model loaded",
                    "file loop peak",
                    "keyword index peak",
                    "RSS at the end",
                    "load avg",
                ],
                phase_rows,
            ),
        ]
    return "\n".join(lines)


def section_runs(sources: list[tuple[str, str, dict[str, Any]]]) -> str:
    rows = [
        [name, label, f"`{m['command']}`", m["date"], f"`{m['commit']}`", _load(m)]
        for name, label, m in sources
    ]
    header = ["benchmark", "size", "command", "date", "commit", "load avg"]
    return "\n".join(["## Runs behind these figures", "", _table(header, rows)])


def _sources(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(benchmark, size, run metadata) of every result behind the page, for its last table."""
    sources: list[tuple[str, str, dict[str, Any]]] = []
    if results["embedding"]:
        sources.append(("embedding", "", results["embedding"]["meta"]))
    if results["backends"]:
        sources.append(("backends", ", ".join(results["backends"]["sizes"]), results["backends"]["meta"]))
    if results["embedding_quality"]:
        sources.append(("embedding_quality", "dev sets", results["embedding_quality"]["meta"]))
    for name in ("ingest", "query"):
        data = results[name]
        for label in _sizes(data.get("runs", {})):
            sources.append((name, label, data["runs"][label]["meta"]))
    if results["memory"]:
        sources.append(("memory", "1000, full", results["memory"]["meta"]))
    for key, run in sorted(results["ingest_memory"].get("runs", {}).items()):
        sources.append(("ingest_memory", key, run["meta"]))
    startup = results["startup"]
    if startup:
        sizes = ", ".join(sorted(startup.get("server", {}), key=benchlib.size_key))
        sources.append(("startup", sizes, startup["meta"]))
    return sources


def render() -> Path:
    names = ("embedding", "ingest", "query", "startup", "memory", "backends", "embedding_quality")
    results = {name: benchlib.load_result(name) for name in (*names, "ingest_memory")}
    embedding, ingest, query, startup, memory, backends, quality = (results[name] for name in names)
    previous = DOC.read_text() if DOC.exists() else ""
    sources = _sources(results)
    if not sources:
        raise SystemExit("no results in benchmarks/results/: run benchmarks/run_all.py first")
    plot_query(query)
    plot_ingest(ingest, embedding)

    parts = [
        "# Performance benchmarks",
        "",
        f"Generated by `benchmarks/report.py` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC} from "
        "`benchmarks/results/*.json`. Every figure below was measured; sizes that were not run are absent.",
        "",
        "Reproduce: `make bench` (= `.venv/bin/python benchmarks/run_all.py`), or one part at a time:",
        "",
        "```sh",
        ".venv/bin/python benchmarks/run_all.py --sizes 1000,10000,full   # everything, then this page",
        ".venv/bin/python benchmarks/bench_embedding.py                   # model alone",
        ".venv/bin/python benchmarks/bench_backends.py                    # torch vs ONNX fp32 vs ONNX int8",
        ".venv/bin/python benchmarks/bench_embedding_quality.py           # retrieval hit per backend",
        ".venv/bin/python benchmarks/bench_ingest.py --sizes 1000,10000,full",
        ".venv/bin/python benchmarks/bench_query.py --sizes 1000,10000,full",
        ".venv/bin/python benchmarks/bench_startup.py --sizes 1000,full",
        ".venv/bin/python benchmarks/bench_profile.py                     # cProfile, largest store",
        ".venv/bin/python benchmarks/probe_memory.py                      # where ingest memory goes",
        ".venv/bin/python benchmarks/probe_ingest_memory.py               # cold-ingest peak RSS by size",
        ".venv/bin/python benchmarks/bench_ingest_rate.py                 # issue 22: docs/scale.md",
        ".venv/bin/python benchmarks/report.py                            # re-render this page",
        "```",
        "",
        "A cold ingest of the full corpus takes tens of minutes on 2 cores; run it once on its own "
        "(`nohup .venv/bin/python benchmarks/bench_ingest.py --sizes full &`) — results merge per size.",
    ]
    if ANALYSIS.exists():
        parts += ["", ANALYSIS.read_text().strip()]
    parts += [
        "",
        section_machine([m for _, _, m in sources]),
        "",
        section_corpus(ingest),
        "",
        section_embedding(embedding),
        "",
        section_backends(backends, quality),
        "",
        hand_written(previous, "retrieval-quality"),
        "",
        section_ingest(ingest, embedding),
        "",
        f"![Ingestion throughput]({INGEST_PNG.name})",
        "",
        section_memory(memory),
        "",
        section_ingest_memory(results["ingest_memory"]),
        "",
        section_query(query),
        "",
        section_startup(startup),
        "",
        section_runs(sources),
        "",
        hand_written(previous, "load-test"),
        "",
    ]
    DOC.write_text("\n".join(parts))
    return DOC


if __name__ == "__main__":
    print("wrote", render())
