"""The evaluation report as Markdown tables: per set, per half, per question type, per variant."""

from __future__ import annotations

from typing import Any

COLUMNS = [
    ("retrieval_hit", "evidence retrieved"),
    ("citation_support", "cited passage holds evidence"),
    ("answer_correct", "answer correct"),
    ("refusal_recall", "unanswerable refused"),
    ("refusal_precision", "refusal precision"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p95_ms", "p95 ms"),
]


def _cells(block: dict[str, Any], columns: list[tuple[str, str]]) -> str:
    return " | ".join("–" if block.get(key) is None else str(block[key]) for key, _ in columns)


def _header(first: list[str], columns: list[tuple[str, str]]) -> list[str]:
    names = [*first, *(label for _, label in columns)]
    return ["| " + " | ".join(names) + " |", "|---" * len(names) + "|"]


def set_markdown(name: str, data: dict[str, Any]) -> list[str]:
    lines = [f"## {name} ({data['items']} items, corpus {data['corpus']})", ""]
    lines += _header(["variant", "half"], COLUMNS)
    for variant, result in data["variants"].items():
        summary = result["summary"]
        for half in ("tune", "held-out"):
            if half in summary["by_half"]:
                lines.append(f"| {variant} | {half} | {_cells(summary['by_half'][half], COLUMNS)} |")
        lines.append(f"| {variant} | all | {_cells(summary['overall'], COLUMNS)} |")
    for variant, result in data["variants"].items():
        overall = result["summary"]["overall"]
        reasons = ", ".join(f"{k}: {v}" for k, v in overall.get("refusal_reasons", {}).items()) or "none"
        lines.append(
            f"\n{variant}: refusals by reason: {reasons}; inexact citation spans: "
            f"{overall.get('spans_inexact', 0)}"
        )
    for variant, result in data["variants"].items():
        lines += ["", f"### {name}, {variant}: by question type", ""]
        lines += _header(["type", "items"], COLUMNS[:5])
        for qtype, block in result["summary"]["by_type"].items():
            lines.append(f"| {qtype} | {block['items']} | {_cells(block, COLUMNS[:5])} |")
    return lines


def markdown(report: dict[str, Any]) -> str:
    lines = [f"Halves split by seed {report['seed']}, stratified by question type.", ""]
    for name, data in report["sets"].items():
        lines += [*set_markdown(name, data), ""]
    return "\n".join(lines)
