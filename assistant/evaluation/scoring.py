"""Scoring one answer against one evaluation item, and summarising many."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from assistant.answering.service import Answer, ChatService

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"', "–": "-", "—": "-"})
# A citation marker, "[n]" or "[1, 2]", not glued to a word: "Cambodia [1]." and "... [1][2]" are markers,
# "sys.argv[1]" in a quoted line is code.
MARKERS = re.compile(r"\s*(?<!\w)\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\]")
_MARKUP = re.compile(r"``|(?<!\w)\*\*?(?=\w)|(?<=\w)\*\*?(?!\w)|(?<!`)`(?!`)")


def normalise(text: str) -> str:
    """Whitespace, quotes, case and inline code/emphasis marks made comparable."""
    text = _MARKUP.sub("", text.translate(_QUOTES))
    return re.sub(r"\s+", " ", text).strip().casefold()


@dataclass
class EvalItem:
    id: str
    question: str
    history: list[dict[str, str]]
    answerable: bool
    must: list[list[str]]
    evidence: list[str]
    type: str
    # answers it must not give again (a 👎 from feedback, assistant.evaluation.cases): an answer that
    # contains one, markers and case aside, fails the item
    must_not: list[str] = field(default_factory=list)


@dataclass
class ItemResult:
    id: str
    type: str
    answerable: bool
    retrieval_hit: bool | None
    citation_support: bool | None
    correct: bool | None
    refused_correctly: bool | None
    latency_ms: float
    answer: str
    refused: bool = False
    cited: list[int] = field(default_factory=list)
    half: str = ""
    refusal_reason: str = ""
    spans_exact: bool | None = None  # every citation's text is source[start:end] (None: nothing cited)
    repeated: bool | None = None  # gave an answer of `must_not` again (None: the item has none)
    failed: str = ""  # why the item failed, in words ("" when it passed)


def load_items(path: Path) -> list[EvalItem]:
    items = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            items.append(
                EvalItem(
                    id=str(raw["id"]),
                    question=raw["question"],
                    history=list(raw.get("history") or []),
                    answerable=bool(raw.get("answerable", True)),
                    must=[list(group) for group in raw.get("must") or []],
                    evidence=list(raw.get("evidence") or []),
                    type=str(raw.get("type", "other")),
                    must_not=[str(text) for text in raw.get("must_not") or []],
                )
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}:{line_no}: not an evaluation item ({exc})") from exc
    return items


def _contains_evidence(texts: Sequence[str], evidence: Sequence[str]) -> bool:
    haystack = [normalise(t) for t in texts]
    return any(normalise(e) in h for e in evidence for h in haystack)


@lru_cache(maxsize=64)
def _source_text(path: Path) -> str:
    from vectorstore.loaders import load_text

    return load_text(path)


def spans_exact(answer: Answer, corpus: Path | None) -> bool | None:
    """Whether each citation quotes its source exactly at its offsets (None: nothing cited, no corpus)."""
    if corpus is None or not answer.citations:
        return None
    for c in answer.citations:
        path = corpus / c.source if corpus.is_dir() else corpus
        if not path.is_file() or _source_text(path)[c.start : c.end] != c.text:
            return False
    return True


def plain(text: str) -> str:
    """An answer as a reader compares it: without its citation markers ("[4]" is no answer "4"),
    normalised."""
    return normalise(MARKERS.sub("", text))


def repeats(text: str, rejected: Sequence[str]) -> bool:
    """Whether `text` gives one of the `rejected` answers again: contains it, markers and case aside."""
    said = plain(text)
    return any(r.strip() and plain(r) in said for r in rejected)


def _failure(item: EvalItem, result: ItemResult) -> str:
    if result.repeated:
        return "repeats an answer rated down"
    if not item.answerable:
        return "" if result.refused_correctly else "answers a question that should be refused"
    if result.refused:
        return "refuses a question it should answer"
    if result.correct is False:
        return "misses an expected phrase"
    if item.evidence and result.citation_support is False:
        return "cites no passage holding the evidence"
    return ""


def score_item(item: EvalItem, answer: Answer, latency_ms: float) -> ItemResult:
    result = _score(item, answer, latency_ms)
    result.refusal_reason = answer.refusal_reason if result.refused else ""
    if item.must_not:
        result.repeated = repeats(answer.text, item.must_not)
        if result.correct is not None:
            result.correct = result.correct and not result.repeated
    result.failed = _failure(item, result)
    return result


def _score(item: EvalItem, answer: Answer, latency_ms: float) -> ItemResult:
    refused = answer.refused and not answer.citations
    if item.answerable:
        text = plain(answer.text)
        return ItemResult(
            id=item.id,
            type=item.type,
            answerable=True,
            retrieval_hit=_contains_evidence([p.text for p in answer.retrieved], item.evidence),
            citation_support=_contains_evidence([c.text for c in answer.citations], item.evidence),
            correct=all(any(normalise(opt) in text for opt in group) for group in item.must),
            refused_correctly=None,
            latency_ms=latency_ms,
            answer=answer.text,
            refused=refused,
            cited=[c.n for c in answer.citations],
        )
    return ItemResult(item.id, item.type, False, None, None, None, refused, latency_ms, answer.text, refused)


def run_items(
    service: ChatService, items: Sequence[EvalItem], k: int | None = None, corpus: Path | None = None
) -> list[ItemResult]:
    results = []
    for item in items:
        started = time.perf_counter()
        answer = service.answer(item.question, item.history, k=k)
        result = score_item(item, answer, (time.perf_counter() - started) * 1000)
        result.spans_exact = spans_exact(answer, corpus)
        results.append(result)
    return results


def _reason_kind(reason: str) -> str:
    """A refusal reason without the names it quotes: "no passage mentions X" counts with its kind."""
    return re.sub(r" (mentions?|similarity) .*", r" \1 …", reason) or "unknown"


def _rate(values: Sequence[bool | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 3) if known else None


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


def block(rows: Sequence[ItemResult]) -> dict[str, Any]:
    """The figures of a group of results. Refusal precision: of all refusals, the share that were right."""
    latencies = [r.latency_ms for r in rows]
    refusals = [r for r in rows if r.refused]
    return {
        "items": len(rows),
        "retrieval_hit": _rate([r.retrieval_hit for r in rows]),
        "citation_support": _rate([r.citation_support for r in rows]),
        "answer_correct": _rate([r.correct for r in rows]),
        "refusal_recall": _rate([r.refused_correctly for r in rows]),
        "refusal_precision": _rate([not r.answerable for r in refusals]),
        "false_refusals": sum(r.answerable for r in refusals),
        "refusal_reasons": dict(Counter(_reason_kind(r.refusal_reason) for r in refusals).most_common()),
        "spans_inexact": sum(r.spans_exact is False for r in rows),
        "repeats_rejected": sum(r.repeated is True for r in rows),
        "latency_p50_ms": _percentile(latencies, 0.5),
        "latency_p95_ms": _percentile(latencies, 0.95),
        "latency_mean_ms": round(statistics.fmean(latencies), 1) if latencies else 0.0,
    }


def summarise(results: Sequence[ItemResult]) -> dict[str, Any]:
    by_type: dict[str, list[ItemResult]] = defaultdict(list)
    by_half: dict[str, list[ItemResult]] = defaultdict(list)
    for r in results:
        by_type[r.type].append(r)
        by_half[r.half or "all"].append(r)
    return {
        "overall": block(results),
        "by_half": {h: block(rows) for h, rows in sorted(by_half.items())},
        "by_type": {t: block(rows) for t, rows in sorted(by_type.items())},
    }
