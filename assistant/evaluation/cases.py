"""Feedback as eval items (issue 23): `assistant feedback export` writes them, `assistant eval` replays them.

- 👍 on an answer: an answerable item whose evidence is the answer's cited spans (the passage must be found
  and cited again); 👍 on a refusal: an unanswerable item (it must still be refused).
- 👎: an item that must not give the same answer again (`must_not`, scored in assistant.evaluation.scoring);
  marked "wrong source", it is also unanswerable from what was cited: the answer it gave must go, and until
  the documents hold the answer a refusal is what passes.

Each item keeps where it came from (`feedback`: the rating, the comment, the trace's query and store version)
for the reader of the report; the scorer reads only the eval format's fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from assistant.storage import FeedbackRecord


def _provenance(record: FeedbackRecord) -> dict[str, Any]:
    trace = record.trace
    return {
        "id": record.id,
        "rating": record.rating,
        "wrong_source": record.wrong_source,
        "comment": record.comment,
        "answer": record.answer,
        "query": trace.get("query", ""),
        "store": trace.get("store", {}),
        "retrieved": [p.get("id", "") for p in trace.get("retrieved", [])],
        "created_at": record.created_at.isoformat(),
    }


def case_of(record: FeedbackRecord) -> dict[str, Any]:
    """One feedback record as an evaluation item (the format of eval/dev.jsonl, plus `must_not`)."""
    # an answer stored before traces were kept: a refusal is what cites nothing
    refused = bool(record.trace["refused"]) if "refused" in record.trace else not record.citations
    cited = [str(c.get("text", "")) for c in record.citations if c.get("text")]
    item: dict[str, Any] = {
        "id": f"feedback-{record.id}",
        "doc": sorted({str(c.get("source", "")) for c in record.citations}),
        "question": record.question,
        "history": record.history,
        "answerable": True,
        "must": [],
        "evidence": [],
        "type": "feedback-up",
    }
    if record.rating == "up":
        if refused:
            item.update(answerable=False, type="feedback-up-refusal")
        else:
            item["evidence"] = cited
    else:
        item.update(must_not=[record.answer], type="feedback-down")
        if record.wrong_source:
            item.update(answerable=False, type="feedback-wrong-source")
    item["feedback"] = _provenance(record)
    return item


def cases_of(records: Iterable[FeedbackRecord]) -> list[dict[str, Any]]:
    """The records that can be replayed (a question and an answer), oldest first."""
    usable = [r for r in records if r.question.strip() and r.answer.strip()]
    return [case_of(r) for r in sorted(usable, key=lambda r: (r.created_at, r.id))]


def write_cases(cases: Sequence[dict[str, Any]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
