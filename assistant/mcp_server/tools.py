"""What an agent may do over MCP, whatever the transport: search, ask, list the documents, read a passage.
Each takes the caller (a Principal) and goes through the same services and scopes as the API routes, so a
member's tool call sees only the collections granted to them (N1)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from assistant.access.principal import Principal
from assistant.access.scopes import scope_for, visible_documents
from assistant.answering.citations import Citation, RetrievedPassage, page_at, retrieved_of
from assistant.container import Container
from assistant.errors import InvalidRequestError, NotFoundError
from assistant.limits import Limits
from assistant.schemas import AnswerPayload
from vectorstore.ingest import DocumentInfo
from vectorstore.store import StoredChunk

MAX_K = 50  # as POST /api/chat
MAX_PASSAGE_CHARS = 20_000  # one get_passage answer: a passage, not a whole book


class SearchResult(BaseModel):
    query: str
    passages: list[RetrievedPassage] = Field(description="Best first: source, section, page, offsets, score.")


class DocumentsResult(BaseModel):
    documents: list[DocumentInfo]


class PassageResult(Citation):
    """The text of `source` between `start` and `end` (the offsets a citation or a search hit gives)."""


class AssistantTools:
    """The tools' work, over the container's services; the MCP server (mcp_server/server.py) adapts it."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def search(
        self,
        principal: Principal,
        query: str,
        collection: str | Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        k: int | None = None,
    ) -> SearchResult:
        c = self.container
        Limits.from_settings(c.settings).check(query, [], param="query")
        _check_k(k)
        where = scope_for(c.storage, principal, collection, sources)
        docs = c.retriever.retrieve(query, c.embeddings.embed_query(query), k, where=where)
        return SearchResult(query=query, passages=retrieved_of(docs))

    def ask(
        self,
        principal: Principal,
        question: str,
        collection: str | Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        k: int | None = None,
    ) -> AnswerPayload:
        c = self.container
        _check_k(k)
        where = scope_for(c.storage, principal, collection, sources)
        return AnswerPayload.of(c.chat.answer(question, [], k, scope=where))

    def list_documents(self, principal: Principal) -> DocumentsResult:
        c = self.container
        return DocumentsResult(documents=visible_documents(c.ingest, c.storage, principal))

    def get_passage(self, principal: Principal, source: str, start: int, end: int) -> PassageResult:
        """The stored text of `source` over [start, end), joined from the chunks that hold it."""
        if not 0 <= start < end or end - start > MAX_PASSAGE_CHARS:
            raise InvalidRequestError(
                f"start and end must satisfy 0 <= start < end and end - start <= {MAX_PASSAGE_CHARS}",
                param="start",
            )
        c = self.container
        where = scope_for(c.storage, principal, None, [source])
        chunks = [chunk for chunk, _ in c.store.get(list(c.store.metadatas(where=where)))]
        if not chunks:  # missing, or in a collection the caller may not use: the same answer
            raise NotFoundError(f"no document named {source!r}; see list_documents", param="source")
        text = _joined(sorted(chunks, key=lambda ch: ch.start), start, end)
        if text is None:
            raise NotFoundError(
                f"{source!r} holds no stored text over [{start}, {end}); use the offsets of a search hit "
                "or a citation",
                param="start",
            )
        first = next(ch for ch in chunks if ch.start <= start < ch.end)
        last = next(ch for ch in chunks if ch.start < end <= ch.end)
        page, page_end = (
            page_at(first.metadata, start - first.start),
            page_at(last.metadata, end - 1 - last.start),
        )
        meta = first.metadata
        return PassageResult(
            n=1,
            source=source,
            start=start,
            end=end,
            text=text,
            section=str(meta.get("section", "")),
            page=page,
            page_end=page_end if page_end != page else None,
            ocr=bool(meta.get("ocr", False)),
            title=str(meta.get("title", "")),
        )


def _check_k(k: int | None) -> None:
    if k is not None and not 1 <= k <= MAX_K:
        raise InvalidRequestError(f"k must be between 1 and {MAX_K}", param="k")


def _joined(chunks: Sequence[StoredChunk], start: int, end: int) -> str | None:
    """source_text[start:end] from chunks sorted by start (each chunk's text is source_text[ch.start:ch.end]);
    None when a part of the range lies in no chunk."""
    parts: list[str] = []
    cursor = start
    for chunk in chunks:
        if cursor >= end:
            break
        if chunk.end <= cursor:
            continue
        if chunk.start > cursor:
            return None  # a gap no chunk covers
        upto = min(end, chunk.end)
        parts.append(chunk.text[cursor - chunk.start : upto - chunk.start])
        cursor = upto
    return "".join(parts) if cursor >= end else None
