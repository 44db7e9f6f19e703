"""Retrieval once per evaluation item, kept on disk: fitting and leave-one-corpus-out runs of the answerer
read the passages from here instead of retrieving them again (retrieval does not depend on the answerer)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from assistant.answering.chain import Request, to_messages
from assistant.evaluation.runner import EvalSet, container_for
from assistant.evaluation.scoring import EvalItem
from assistant.settings import Settings
from vectorstore.ingest import readable_files

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
    "embeddings_base_url",
    "embeddings_backend",
)
# The code retrieval runs (and the answerer's, which shares modules with it): an edit re-harvests. Hashing
# more than retrieval needs costs a re-harvest (seconds a set); hashing less would score stale passages.
_CODE = ("vectorstore", "assistant/answering", "assistant/container.py", "assistant/settings.py")
_ROOT = Path(__file__).resolve().parents[2]


def _digest(paths: list[Path], base: Path) -> list[tuple[str, str]]:
    return [(p.relative_to(base).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths]


def fingerprint(settings: Settings, evalset: EvalSet) -> str:
    """What the cached passages were retrieved from: the retrieval settings, the code, the corpus's files
    (by content) and the items. Passages harvested from a store of an earlier layout were reused after a
    re-chunking, and held evidence a fresh build no longer retrieves."""
    code = [f for part in _CODE for f in readable_files(_ROOT / part) if f.suffix == ".py"]
    retrieval = {name: getattr(settings, name) for name in _RETRIEVAL_SETTINGS}
    items = [(i.id, i.question, i.history) for i in evalset.items]
    raw = json.dumps(
        [retrieval, _digest(code, _ROOT), _digest(readable_files(evalset.corpus), evalset.corpus), items],
        default=str,
        sort_keys=True,
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def _cached(path: Path, key: str) -> dict[str, Any]:
    """The cached items when they were retrieved from what `key` says; none when the file is of another
    fingerprint, of the old format, or cut short by an interrupted write."""
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return (
        dict(stored.get("items", {})) if isinstance(stored, dict) and stored.get("fingerprint") == key else {}
    )


def harvest(settings: Settings, evalset: EvalSet) -> list[Harvested]:
    """The set's items with their passages, retrieved once and cached in the data dir until what they were
    retrieved from changes (`fingerprint`); then the store is brought up to date first (an incremental
    ingestion: only files of another content or layout are chunked again). Retrieval is the extractive
    answerer's (a configured chat model would rewrite follow-ups and trim passages): the fit is for it."""
    settings = settings.model_copy(update={"llm_provider": "extractive"})
    path = settings.data_dir / "eval-passages" / f"{_slug(evalset.name)}.json"
    key = fingerprint(settings, evalset)
    cached = _cached(path, key)
    if any(item.id not in cached for item in evalset.items):
        container = container_for(settings, evalset)
        cached = {item.id: _retrieve(container, item) for item in evalset.items}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps({"fingerprint": key, "items": cached}, default=str))
        os.replace(partial, path)  # a run stopped while writing leaves the previous file, not half of one
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
