"""Retrieval once per evaluation item, kept on disk: fitting and leave-one-corpus-out runs of the answerer
read the passages from here instead of retrieving them again (retrieval does not depend on the answerer)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from assistant.answering.chain import Request, to_messages
from assistant.evaluation.runner import EvalSet, container_for
from assistant.evaluation.scoring import EvalItem
from assistant.settings import Settings

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


def harvest(settings: Settings, evalset: EvalSet) -> list[Harvested]:
    """The set's items with their passages, retrieved once and cached in the data dir."""
    path = settings.data_dir / "eval-passages" / f"{_slug(evalset.name)}.json"
    cached: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if any(item.id not in cached for item in evalset.items):
        container = container_for(settings, evalset, ingest=False)  # built by `assistant eval` ...
        if not container.ingest.list_documents():
            container.ingest.ingest([evalset.corpus])  # ... or here, once
        cached = {item.id: _retrieve(container, item) for item in evalset.items}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cached, default=str))
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
