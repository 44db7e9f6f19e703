"""The metadata a chunk carries, typed: what the store keeps with each chunk (`StoredMeta`) and what a
retrieved passage brings the answerer (`ChunkMeta`, in a LangChain `Document`'s `metadata`).

Chroma and LangChain hand metadata over as plain dicts; these TypedDicts name the keys at the boundaries
(`store._meta` writes a `StoredMeta`, `retrievers.to_document` a `ChunkMeta`, the answerer reads one through
`chunk_meta`), so a misspelt key is a type error instead of a silent default.
"""

from __future__ import annotations

from typing import Any, Required, TypedDict, cast

from langchain_core.documents import Document


class StoredMeta(TypedDict, total=False):
    """One chunk's metadata in Chroma: where it is in its document, and (the same on every chunk of a
    file) what the ingest recorded about the file."""

    source: Required[str]  # the document's name in the store
    start: Required[int]  # the chunk is the document's text[start:end]
    end: Required[int]
    section: Required[str]  # the heading path, "Chapter > Section"; "" before the first heading
    page: int  # the page the chunk starts on (paged formats)
    ocr: bool  # some of its text was recognised from a scanned page
    table_header: str  # the header row of the table it starts inside, when that row is not in it
    page_breaks: str  # pages that begin inside it: "offset:page,..." (offsets in its text)
    # the file's
    path: str
    root: str
    file_sha: str  # "pending" until every chunk of the file is written
    chars: int
    size: int  # the file's bytes, as uploaded or read
    title: str
    layout: str  # chunking.layout_stamp of the chunker that cut it ("14/800/120/1")
    ingested_at: float
    collection: str


class ChunkMeta(TypedDict, total=False):
    """A retrieved passage's metadata, as `retrievers.to_document` writes it. Only where the passage is
    is always there: passages from elsewhere (the naive baseline, tests) may carry no more."""

    source: Required[str]
    start: Required[int]
    end: Required[int]
    id: str
    score: float  # the fused (reciprocal rank) score
    similarity: float  # cosine similarity to the query: what the relevance gate reads
    section: str
    page: int
    ocr: bool
    title: str
    page_breaks: str
    table_header: str


def chunk_meta(passage: Document) -> ChunkMeta:
    """A passage's metadata, typed: the answerer's side reads it through here."""
    return cast(ChunkMeta, passage.metadata)


def stored_meta(raw: Any) -> StoredMeta:
    """Chroma's metadata of a chunk (a plain mapping, or None), typed and copied."""
    return cast(StoredMeta, dict(raw or {}))
