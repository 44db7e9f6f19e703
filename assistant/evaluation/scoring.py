"""Answer-quality evaluation over a JSONL set, for our pipeline and for the retrieval variants it beats."""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda

from assistant.service import Answer, ChatService

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"', "–": "-", "—": "-"})


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_QUOTES)).strip().casefold()


@dataclass
class EvalItem:
    id: str
    question: str
    history: list[dict[str, str]]
    answerable: bool
    must: list[list[str]]
    evidence: list[str]
    type: str


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
    cited: list[int] = field(default_factory=list)


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
                )
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}:{line_no}: not an evaluation item ({exc})") from exc
    return items


def _contains_evidence(texts: Sequence[str], evidence: Sequence[str]) -> bool:
    haystack = [normalise(t) for t in texts]
    return any(normalise(e) in h for e in evidence for h in haystack)


def score_item(item: EvalItem, answer: Answer, latency_ms: float) -> ItemResult:
    refused = answer.refused and not answer.citations
    if item.answerable:
        text = normalise(answer.text)
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
            cited=[c.n for c in answer.citations],
        )
    return ItemResult(item.id, item.type, False, None, None, None, refused, latency_ms, answer.text)


def run_items(service: ChatService, items: Sequence[EvalItem], k: int | None = None) -> list[ItemResult]:
    results = []
    for item in items:
        started = time.perf_counter()
        answer = service.answer(item.question, item.history, k=k)
        results.append(score_item(item, answer, (time.perf_counter() - started) * 1000))
    return results


def _rate(values: Sequence[bool | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 3) if known else None


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


def summarise(results: Sequence[ItemResult]) -> dict[str, Any]:
    def block(rows: Sequence[ItemResult]) -> dict[str, Any]:
        latencies = [r.latency_ms for r in rows]
        return {
            "items": len(rows),
            "retrieval_hit": _rate([r.retrieval_hit for r in rows]),
            "citation_support": _rate([r.citation_support for r in rows]),
            "answer_correct": _rate([r.correct for r in rows]),
            "refusal_accuracy": _rate([r.refused_correctly for r in rows]),
            "latency_p50_ms": _percentile(latencies, 0.5),
            "latency_p95_ms": _percentile(latencies, 0.95),
            "latency_mean_ms": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        }

    by_type: dict[str, list[ItemResult]] = defaultdict(list)
    for r in results:
        by_type[r.type].append(r)
    return {"overall": block(results), "by_type": {t: block(rows) for t, rows in sorted(by_type.items())}}


# -- the naive baseline ----------------------------------------------------------------------
def naive_baseline(components: Any, workdir: Path) -> ChatService:
    """What a user would copy from the LangChain RAG tutorial: 1000/200 splitter, Chroma top-4, same model.

    Answered by the same extractive answerer and relevance gate, so only retrieval differs.
    """
    from langchain_chroma import Chroma
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from assistant.chain import build_condenser, build_generate
    from assistant.extractive import ExtractiveAnswerer
    from vectorstore.loaders import load_text
    from vectorstore.store import open_client

    docs = []
    for info in components.ingest.list_documents():
        docs.append(Document(page_content=load_text(Path(info.path)), metadata={"source": info.source}))
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    chunks = splits.split_documents(docs)
    store = Chroma(
        collection_name="naive_baseline",
        embedding_function=components.embeddings,
        client=open_client(workdir),
        collection_metadata={"hnsw:space": "cosine"},
    )
    store.add_documents(chunks)

    def retrieve(inputs: dict[str, Any]) -> list[Document]:
        out = []
        for doc, similarity in store.similarity_search_with_relevance_scores(inputs["query"], k=4):
            start = int(doc.metadata["start_index"])
            meta = {"source": doc.metadata["source"], "start": start, "end": start + len(doc.page_content)}
            out.append(Document(page_content=doc.page_content, metadata={**meta, "similarity": similarity}))
        return out

    from langchain_core.runnables import RunnablePassthrough

    prepare = RunnablePassthrough.assign(query=build_condenser(None)).assign(
        passages=RunnableLambda(retrieve, name="naive_retrieve")
    )
    chat = components.chat
    return ChatService(
        prepare=prepare,
        generate=build_generate(None, ExtractiveAnswerer(components.embeddings)),
        model_label="naive baseline",
        min_relevance=chat.min_relevance,
        generative=False,
    )


def variants(components: Any, workdir: Path) -> dict[str, Callable[[], ChatService]]:
    """Services that differ from ours only in retrieval."""
    from assistant.chain import build_condenser, build_generate, build_prepare
    from assistant.extractive import ExtractiveAnswerer

    def with_mode(mode: str) -> Callable[[], ChatService]:
        def build() -> ChatService:
            retriever = components.retriever.model_copy(update={"mode": mode})
            chat = components.chat
            return ChatService(
                prepare=build_prepare(retriever, build_condenser(None)),
                generate=build_generate(None, ExtractiveAnswerer(components.embeddings)),
                model_label=f"{mode} retrieval",
                min_relevance=chat.min_relevance,
                generative=False,
            )

        return build

    return {
        "naive baseline (1000/200, dense k=4)": lambda: naive_baseline(components, workdir),
        "dense only": with_mode("dense"),
        "bm25 only": with_mode("bm25"),
        "hybrid (ours)": lambda: components.chat,
    }


def evaluate(
    components: Any, items: Sequence[EvalItem], compare: bool = False, k: int | None = None
) -> dict[str, Any]:
    report: dict[str, Any] = {"variants": {}}
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        builders = variants(components, Path(tmp)) if compare else {"hybrid (ours)": lambda: components.chat}
        for name, build in builders.items():
            results = run_items(build(), items, k=k)
            report["variants"][name] = {
                "summary": summarise(results),
                "items": [asdict(r) for r in results],
            }
    return report


COLUMNS = [
    ("retrieval_hit", "retrieval hit"),
    ("citation_support", "citation support"),
    ("answer_correct", "answer correct"),
    ("refusal_accuracy", "refusal accuracy"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p95_ms", "p95 ms"),
]


def markdown(report: dict[str, Any]) -> str:
    lines = ["| variant | " + " | ".join(label for _, label in COLUMNS) + " |"]
    lines.append("|---" * (len(COLUMNS) + 1) + "|")
    for name, data in report["variants"].items():
        overall = data["summary"]["overall"]
        cells = ["–" if overall[key] is None else str(overall[key]) for key, _ in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, data in report["variants"].items():
        lines += ["", f"### {name}: by question type", ""]
        lines.append("| type | items | " + " | ".join(label for _, label in COLUMNS[:4]) + " |")
        lines.append("|---" * 6 + "|")
        for qtype, block in data["summary"]["by_type"].items():
            cells = ["–" if block[key] is None else str(block[key]) for key, _ in COLUMNS[:4]]
            lines.append(f"| {qtype} | {block['items']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
