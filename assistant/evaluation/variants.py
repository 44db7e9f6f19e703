"""The pipelines an evaluation compares: ours, its ablations, and the naive LangChain-tutorial baseline."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin, get_type_hints

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from pydantic import TypeAdapter, ValidationError

from assistant.answering.extractive import ExtractiveConfig
from assistant.answering.service import ChatService
from vectorstore.metadata import ChunkMeta
from vectorstore.retrievers import HybridRetriever

if TYPE_CHECKING:
    from assistant.container import Container

Builder = Callable[["Container", Path], ChatService]


def _naive_docs(container: Container) -> list[Document]:
    from vectorstore.loaders import load_raw_text

    return [
        Document(page_content=load_raw_text(Path(info.path)), metadata={"source": info.source})
        for info in container.ingest.list_documents()
    ]


def naive_baseline(container: Container, workdir: Path) -> ChatService:
    """What a user would copy from the LangChain RAG tutorial: stock loaders, a 1000/200 splitter, Chroma
    top-4 by similarity, the same embeddings; answered by our answerer and gate, so retrieval differs."""
    from langchain_chroma import Chroma
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from assistant.answering.chain import Prepared, build_condenser, build_generate, with_query
    from assistant.answering.extractive import ExtractiveAnswerer
    from vectorstore.store import open_client

    docs = _naive_docs(container)
    fingerprint = hashlib.sha256("".join(d.page_content for d in docs).encode()).hexdigest()[:16]
    store = Chroma(
        collection_name=f"naive-{fingerprint}",
        embedding_function=container.embeddings,
        client=open_client(workdir),
        collection_metadata={"hnsw:space": "cosine"},
    )
    if not store.get(limit=1)["ids"]:  # built once per corpus, kept beside the data dir
        splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        store.add_documents(splits.split_documents(docs))

    def retrieve(prepared: Prepared) -> Prepared:
        out = []
        for doc, similarity in store.similarity_search_with_relevance_scores(prepared.query, k=4):
            start = int(doc.metadata["start_index"])
            meta = ChunkMeta(
                source=doc.metadata["source"],
                start=start,
                end=start + len(doc.page_content),
                similarity=similarity,
            )
            out.append(Document(page_content=doc.page_content, metadata=dict(meta)))
        return replace(prepared, passages=out)

    prepare = with_query(build_condenser(None)) | RunnableLambda(retrieve, name="naive_retrieve")
    return ChatService(
        prepare=prepare,
        generate=build_generate(
            None,
            ExtractiveAnswerer(container.embeddings, corpus=container.keyword_index),
        ),
        model_label="naive baseline",
        min_relevance=container.settings.min_relevance,
        generative=False,
    )


def with_retriever(**changes: Any) -> Builder:
    """Our pipeline with one retrieval setting changed (an ablation)."""

    def build(container: Container, workdir: Path) -> ChatService:
        from assistant.container import build_chat

        retriever = container.retriever.model_copy(update=changes)
        return build_chat(container.settings, retriever, container.embeddings)

    return build


def with_answerer(**changes: Any) -> Builder:
    """Our pipeline with one setting of the extractive answerer changed (an ablation). A setting the
    answerer no longer has fails here, at import, not when the ablation is first run."""
    unknown = set(changes) - {field.name for field in fields(ExtractiveConfig)}
    if unknown:
        raise TypeError(f"ExtractiveConfig has no {', '.join(sorted(unknown))}")

    def build(container: Container, workdir: Path) -> ChatService:

        from assistant.answering.chain import build_condenser, build_generate, build_prepare
        from assistant.answering.extractive import ExtractiveAnswerer

        answerer = ExtractiveAnswerer(
            container.embeddings, replace(ExtractiveConfig(), **changes), corpus=container.keyword_index
        )
        return ChatService(
            prepare=build_prepare(container.retriever, build_condenser(None)),
            generate=build_generate(None, answerer),
            model_label="extractive (ablation)",
            min_relevance=container.settings.min_relevance,
            generative=False,
        )

    return build


def ours(container: Container, workdir: Path) -> ChatService:
    return container.chat


VARIANTS: dict[str, Builder] = {
    "naive baseline": naive_baseline,
    "dense only": with_retriever(mode="dense"),
    "bm25 only": with_retriever(mode="bm25"),
    "hybrid + MMR 0.3": with_retriever(diversity=0.3),
    "hybrid pool 30": with_retriever(candidates=30),
    "hybrid without section leads": with_retriever(section_leads=0),
    "hybrid without per-part retrieval": with_retriever(part_passages=0),
    "hybrid keeping duplicate passages": with_retriever(duplicate_overlap=1.0),
    "ours without distinctive names": with_answerer(distinctive_share=None),
    "ours without sentence window": with_answerer(window_semantic=False),
    "ours without near-ties": with_answerer(max_ties=0),
    "ours without list runs": with_answerer(list_runs=False),
    "ours without context after": with_answerer(context_after=False),
    "ours without clause references": with_answerer(clause_reference=False),
    "ours without lead-ins": with_answerer(lead_in=False),
    "ours without part scoring": with_answerer(part_scoring=False),
    "ours without part runners-up": with_answerer(part_ties=False),
    "ours without parallel sentences": with_answerer(parallel_words=0),
    "ours without announced entries": with_answerer(announced_series=False),
    "ours quoting repeated paragraphs": with_answerer(repeat_overlap=1.0),
    "ours without short paragraphs": with_answerer(short_paragraph=0),
    "hybrid (ours)": ours,
}
COMPARE = ["naive baseline", "dense only", "bm25 only", "hybrid (ours)"]


# "answerer min_gain=0.1 tie_ratio=0.85" or "retriever k=8": any number of either, without a named variant.
_SCALARS = (bool, int, float, str)


def _settable(hints: dict[str, Any]) -> dict[str, Any]:
    """The settings a variant may change: numbers, switches and words (optional or not), not objects."""
    out = {}
    for name, hint in hints.items():
        args = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
        values = [a for a in args if a in _SCALARS or get_origin(a) is Literal]  # Literal: "mode=dense"
        if values and all(a in values or a is NoneType for a in args):
            out[name] = hint
    return out


def _parse_settings(spec: str, known: dict[str, Any]) -> dict[str, Any]:
    """`key=value` pairs, each value read as its setting's type; "none" for a setting that may be None."""
    changes: dict[str, Any] = {}
    for pair in spec.split():
        key, sep, raw = pair.partition("=")
        if not sep or key not in known:
            raise ValueError(f"{pair!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(known))}")
        try:
            none = raw.lower() == "none" and NoneType in get_args(known[key])
            changes[key] = None if none else TypeAdapter(known[key]).validate_python(raw)
        except ValidationError as exc:
            raise ValueError(f"{pair!r}: {exc.errors()[0]['msg']}") from exc
    if not changes:
        raise ValueError(
            f"no settings given; expected NAME=VALUE with NAME one of {', '.join(sorted(known))}"
        )
    return changes


def check(variants: Sequence[str], k: int | None) -> None:
    """Every variant resolves, and `k` is given once: a run's `k` would override a variant's "retriever k=".
    Raises ValueError before any corpus is ingested."""
    for name in variants:
        resolve(name)
        if k is not None and name.startswith("retriever ") and re.search(r"(?:^|\s)k=", name[10:]):
            raise ValueError(f"{name!r} sets k, and so does the run (k={k}): give it in one place")


def resolve(name: str) -> Builder:
    """A named variant, or "answerer ..." / "retriever ..." followed by settings to change, so every
    tuning number of the answerer and the retriever can be varied from `assistant eval --variants`."""
    if name in VARIANTS:
        return VARIANTS[name]
    kind, _, spec = name.partition(" ")
    if kind == "answerer":
        return with_answerer(**_parse_settings(spec, _settable(get_type_hints(ExtractiveConfig))))
    if kind == "retriever":
        own = set(HybridRetriever.model_fields) - set(BaseRetriever.model_fields)  # not LangChain's `name`
        hints = {key: HybridRetriever.model_fields[key].annotation for key in own}
        return with_retriever(**_parse_settings(spec, _settable(hints)))
    raise ValueError(
        f"unknown variant {name!r}; known: {', '.join(VARIANTS)}, or 'answerer NAME=VALUE ...' "
        "or 'retriever NAME=VALUE ...'"
    )
