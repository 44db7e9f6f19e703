"""Retrieval once per evaluation item, kept on disk: fitting and leave-one-corpus-out runs of the answerer
read the passages from here instead of retrieving them again (retrieval does not depend on the answerer)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from assistant.answering.chain import Request, to_messages
from assistant.evaluation.runner import EvalSet, container_for
from assistant.evaluation.scoring import EvalItem
from assistant.settings import Settings
from vectorstore.chunking import LAYOUT_VERSION

if TYPE_CHECKING:
    from assistant.container import Container


@dataclass
class Harvested:
    """One item with what retrieval gave it: the standalone query and the numbered passages."""

    item: EvalItem
    corpus: str
    query: str
    passages: list[Document]
    said: list[str]  # the assistant's earlier answers (a follow-up does not repeat them)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "set"


def _retrieve(container: Container, item: EvalItem) -> dict[str, Any]:
    request = Request(item.question.strip(), to_messages(item.history))
    prepared = container.chat.prepare.invoke(request)
    passages = [{"text": p.page_content, "metadata": p.metadata} for p in prepared.passages]
    return {"id": item.id, "query": prepared.query, "passages": passages}


# What retrieval reads besides the question: a change to any of them makes cached passages stale.
_RETRIEVAL_SETTINGS = (
    "chunk_size",
    "chunk_overlap",
    "k",
    "section_leads",
    "part_passages",
    "duplicate_overlap",
    "retrieval_mode",
    "embeddings_provider",
    "embeddings_model",
    "embeddings_backend",
)


def fingerprint(settings: Settings, evalset: EvalSet) -> str:
    """What the cached passages were retrieved from: the layout documents are chunked in, the retrieval
    settings, the corpus's files (names, sizes, times) and the items. Passages harvested from a store of an
    earlier layout were reused after a re-chunking and held evidence a fresh build no longer retrieves."""
    files = sorted(
        (str(f.relative_to(evalset.corpus)), f.stat().st_size, f.stat().st_mtime_ns)
        for f in evalset.corpus.rglob("*")
        if f.is_file()
    )
    items = [(i.id, i.question, i.history) for i in evalset.items]
    retrieval = {name: getattr(settings, name) for name in _RETRIEVAL_SETTINGS}
    raw = json.dumps([LAYOUT_VERSION, retrieval, files, items], default=str, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def harvest(settings: Settings, evalset: EvalSet) -> list[Harvested]:
    """The set's items with their passages, retrieved once and cached in the data dir until what they were
    retrieved from changes (`fingerprint`); then the store is brought up to date first (an incremental
    ingestion: only files of another layout or content are chunked again)."""
    path = settings.data_dir / "eval-passages" / f"{_slug(evalset.name)}.json"
    key = fingerprint(settings, evalset)
    stored: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    cached: dict[str, Any] = stored.get("items", {}) if stored.get("fingerprint") == key else {}
    if any(item.id not in cached for item in evalset.items):
        container = container_for(settings, evalset)
        cached = {item.id: _retrieve(container, item) for item in evalset.items}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"fingerprint": key, "items": cached}, default=str))
    out = []
    for item in evalset.items:
        row = cached[item.id]
        said = [t["content"] for t in item.history if t.get("role") == "assistant"]
        docs = [Document(page_content=p["text"], metadata=p["metadata"]) for p in row["passages"]]
        out.append(Harvested(item, evalset.name, row["query"], docs, said))
    return out


def item_dict(harvested: Harvested) -> dict[str, Any]:
    return asdict(harvested.item)


def _cli() -> None:  # pragma: no cover - a maintenance entry point
    import sys

    from assistant.evaluation.runner import parse_set

    settings = Settings()
    for spec in sys.argv[1:]:
        evalset = parse_set(spec, settings.docs_dir)
        print(evalset.name, len(harvest(settings, evalset)), flush=True)


if __name__ == "__main__":
    _cli()
