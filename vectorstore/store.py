"""The Chroma collection: the one source of truth for chunks, their vectors and the embedding model used."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
import httpx
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from vectorstore.changelog import ChangeLog
from vectorstore.chunking import Chunk, with_context
from vectorstore.errors import EmbeddingMismatchError, StoreUnavailableError
from vectorstore.locking import ProcessLock
from vectorstore.metadata import StoredMeta, stored_meta

log = logging.getLogger(__name__)

REINDEX_COMMAND = "assistant ingest --reindex"


def open_client(data_dir: Path, host: str | None = None, port: int = 8000) -> chromadb.ClientAPI:
    """Embedded store in the data dir, or a Chroma server when a host is given. Telemetry always off."""
    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if host:
        try:
            return chromadb.HttpClient(host=host, port=port, settings=settings)
        except Exception as exc:
            raise StoreUnavailableError(f"cannot reach the Chroma server at {host}:{port}: {exc}") from exc
    (data_dir / "chroma").mkdir(parents=True, exist_ok=True)
    # Two processes opening a new data dir at once would both run Chroma's schema migrations ("table
    # collections already exists"): one opens it at a time.
    with ProcessLock(data_dir / ".chroma-open.lock", timeout=120, purpose="opening the store"):
        return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=settings)


@contextmanager
def reachable() -> Iterator[None]:
    """A Chroma server that went away mid-run becomes one readable error instead of a transport trace."""
    try:
        yield
    except (ConnectionError, httpx.HTTPError) as exc:
        raise StoreUnavailableError(f"the Chroma store is unreachable: {type(exc).__name__}: {exc}") from exc


@dataclass
class StoredChunk:
    id: str
    source: str
    text: str
    start: int
    end: int
    metadata: StoredMeta


class ChunkStore:
    """Chunks in one Chroma collection, with the embedding model id/dimension and a change version.

    The version changes on every write, so readers (the keyword index, other processes) can tell when
    their derived state is stale without scanning the collection.
    """

    def __init__(self, client: chromadb.ClientAPI, name: str, embedding_id: str) -> None:
        self.client = client
        self.name = name
        self.embedding_id = embedding_id
        self.collection = client.get_or_create_collection(
            name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
        # An embedded (PersistentClient) store shared with other processes: see `_fresh`.
        self._embedded = bool(getattr(client.get_settings(), "is_persistent", False))
        self._reopen_lock = threading.Lock()
        self._seen = self.version if self._embedded else ""
        self.changes = ChangeLog(self._changes_collection)

    # -- other processes --------------------------------------------------------------------------------
    def _fresh(self) -> Any:
        """The collection, reopened first when another process has written to the embedded store.

        Chroma's embedded client keeps the vector index in memory and never notices another process's
        writes: it would keep answering from the old index (deleted chunks, no new ones, "Error finding id").
        Every write moves the collection's version (read fresh from SQLite, ~1 ms), so a version we did not
        write means: load the store again from disk. A Chroma server needs none of this.
        """
        if not self._embedded:
            return self.collection
        version = self.version
        if version != self._seen:
            with self._reopen_lock:
                if version != self._seen:
                    self._reopen()
                    self._seen = version
        return self.collection

    def _reopen(self) -> None:
        from chromadb.api.shared_system_client import SharedSystemClient

        settings = self.client.get_settings()
        path = str(settings.persist_directory)
        # PersistentClient shares one in-memory System per path in a process: forget it, so the new client
        # loads the index from disk. Collections still held by other threads keep the old one until dropped.
        SharedSystemClient._identifier_to_system.pop(path, None)
        SharedSystemClient._identifier_to_refcount.pop(path, None)
        self.client = chromadb.PersistentClient(path=path, settings=settings)
        self.collection = self.client.get_or_create_collection(
            self.name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
        log.info("another process wrote to %s: reopened the store", path)

    def _changes_collection(self) -> Any:
        """The change log's collection, on the client the chunks are read through (reopened with it);
        looked up each time, as another process may have dropped and recreated it."""
        self._fresh()
        with reachable():
            return self.client.get_or_create_collection(
                f"{self.name}-changes", metadata={"purpose": "change log"}, embedding_function=None
            )

    # -- metadata ---------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Fresh collection metadata (another process may have written since we opened it)."""
        try:
            collection = self.client.get_collection(self.name, embedding_function=None)
        except (ConnectionError, OSError, httpx.HTTPError) as exc:
            raise StoreUnavailableError(
                f"the Chroma store is unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        return dict(collection.metadata or {})

    @property
    def version(self) -> str:
        return str(self.info().get("version", "empty"))

    def check_embeddings(self) -> None:
        stored = self.info().get("embedding_model")
        if stored and stored != self.embedding_id:
            raise EmbeddingMismatchError(
                f"the collection '{self.name}' was built with embeddings '{stored}' but the assistant is "
                f"configured for '{self.embedding_id}'. Re-index with: {REINDEX_COMMAND}"
            )

    def _touch(self, dimension: int | None = None) -> None:
        meta = {key: value for key, value in self.info().items() if not key.startswith("hnsw:")}
        meta["version"] = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}"
        meta["embedding_model"] = self.embedding_id
        if dimension is not None:
            stored = meta.get("embedding_dim")
            if stored and int(stored) != dimension:
                raise EmbeddingMismatchError(
                    f"the collection holds {stored}-dimensional vectors but '{self.embedding_id}' gives "
                    f"{dimension}. Re-index with: {REINDEX_COMMAND}"
                )
            meta["embedding_dim"] = dimension
        self.collection.modify(metadata=meta)
        self._seen = meta["version"]  # our own write: our in-memory index already has it

    # -- reads ------------------------------------------------------------------------------------------
    def count(self) -> int:
        with reachable():
            return self._fresh().count()

    def metadatas(self, where: dict[str, Any] | None = None) -> dict[str, StoredMeta]:
        """id → metadata, paged so large collections do not hit request limits."""
        out: dict[str, StoredMeta] = {}
        for batch in self._paged(include=["metadatas"], where=where):
            for chunk_id, meta in zip(batch["ids"], batch["metadatas"], strict=True):
                out[chunk_id] = stored_meta(meta)
        return out

    def all_chunks(self) -> list[StoredChunk]:
        return list(self.iter_chunks())

    def iter_chunks(self, page: int = 500) -> Iterator[StoredChunk]:
        """Every chunk, read `page` at a time: a reader that keeps only what it derives from each chunk (the
        keyword index) holds one page of texts and metadata at once, not the whole collection. Pages of 500
        rather than 2,000: reading 17k chunks in pages of 1,000 left the process 56 MB larger (memory
        Chroma's reads free but the allocator keeps), in pages of 500 15 MB, for ~1 s more."""
        for batch in self._paged(include=["documents", "metadatas"], page=page):
            for chunk_id, text, meta in zip(
                batch["ids"], batch["documents"], batch["metadatas"], strict=True
            ):
                yield _stored(chunk_id, text, meta)

    def get(self, ids: Sequence[str], with_embeddings: bool = False) -> list[tuple[StoredChunk, Any]]:
        if not ids:
            return []
        include = ["documents", "metadatas"] + (["embeddings"] if with_embeddings else [])
        with reachable():
            got = self._fresh().get(ids=list(ids), include=include)
        vectors = got["embeddings"] if with_embeddings else [None] * len(got["ids"])
        by_id = {
            cid: (_stored(cid, text, meta), vec)
            for cid, text, meta, vec in zip(
                got["ids"], got["documents"], got["metadatas"], vectors, strict=True
            )
        }
        return [by_id[i] for i in ids if i in by_id]

    def allowed(self, ids: Sequence[str], where: dict[str, Any]) -> set[str]:
        """Which of these chunks match a metadata filter (Chroma evaluates it; only ids come back)."""
        found: set[str] = set()
        for start in range(0, len(ids), 5000):
            with reachable():
                got = self._fresh().get(ids=list(ids[start : start + 5000]), where=where, include=[])
            found.update(got["ids"])
        return found

    def query(
        self, vector: Sequence[float], n: int, where: dict[str, Any] | None = None
    ) -> list[tuple[StoredChunk, float]]:
        """Nearest chunks with their cosine similarity; only those matching `where` (Chroma's metadata
        filter, e.g. {"collection": {"$in": ["default"]}}) when given."""
        total = self.count()
        if total == 0:
            return []
        with reachable():
            res = self._fresh().query(
                query_embeddings=[list(vector)],
                n_results=min(n, total),
                include=["documents", "metadatas", "distances"],
                **({"where": where} if where else {}),
            )
        return [
            (_stored(cid, text, meta), 1.0 - float(dist))
            for cid, text, meta, dist in zip(
                res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
            )
        ]

    def _paged(
        self, include: list[str], where: dict[str, Any] | None = None, page: int = 2000
    ) -> Iterable[Any]:
        offset = 0
        while True:
            with reachable():
                batch = self._fresh().get(include=include, where=where, limit=page, offset=offset)
            if not batch["ids"]:
                return
            yield batch
            offset += len(batch["ids"])

    # -- writes -----------------------------------------------------------------------------------------
    def add(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]], extra: dict[str, Any]) -> None:
        if not chunks:
            return
        self.check_embeddings()
        self.changes.record("add", [c.id for c in chunks])
        self._fresh().upsert(
            ids=[c.id for c in chunks],
            embeddings=[list(v) for v in vectors],
            documents=[c.text for c in chunks],
            metadatas=[_meta(c, extra) for c in chunks],
        )
        self._touch(len(vectors[0]))

    def update_metadata(self, chunks: Sequence[Chunk], extra: dict[str, Any]) -> None:
        """Chunks whose text is unchanged but which moved in the file: new offsets, no re-embedding."""
        if chunks:
            self.changes.record("add", [c.id for c in chunks])  # the heading path is indexed too
            self._fresh().update(ids=[c.id for c in chunks], metadatas=[_meta(c, extra) for c in chunks])
            self._touch()

    def set_metadata(self, ids: Sequence[str], values: dict[str, Any]) -> None:
        """Sets `values` on the given chunks' metadata, keeping the rest (Chroma merges on update)."""
        for i in range(0, len(ids), 1000):
            batch = list(ids[i : i + 1000])
            if batch:
                self._fresh().update(ids=batch, metadatas=[dict(values) for _ in batch])
        if ids:
            self._touch()

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        if ids:
            self.changes.record("delete", ids)
        for i in range(0, len(ids), 5000):
            self._fresh().delete(ids=ids[i : i + 5000])
        if ids:
            self._touch()

    def drop(self) -> None:
        """Delete the whole collection (re-index)."""
        self.client.delete_collection(self.name)
        self.collection = self.client.get_or_create_collection(
            self.name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
        with suppress(NotFoundError, ValueError):  # a store written before the change log existed
            self.client.delete_collection(f"{self.name}-changes")
        self.changes.record("reset")
        self._touch()


def _meta(chunk: Chunk, extra: dict[str, Any]) -> StoredMeta:
    meta = stored_meta(extra)  # the file's keys, then the chunk's own
    meta["source"], meta["start"], meta["end"] = chunk.source, chunk.start, chunk.end
    meta["section"] = chunk.section
    if chunk.page is not None:
        meta["page"] = chunk.page
    if chunk.ocr:
        meta["ocr"] = True
    if chunk.table_header:
        meta["table_header"] = chunk.table_header
    if chunk.page_breaks:
        meta["page_breaks"] = chunk.page_breaks
    return meta


def _stored(chunk_id: str, text: str, raw: Any) -> StoredChunk:
    meta = stored_meta(raw)
    return StoredChunk(
        id=chunk_id,
        source=str(meta.get("source", "")),
        text=text or "",
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        metadata=meta,
    )


def contextual(chunk: StoredChunk) -> str:
    """The heading path (and a table's header) with the passage: what the keyword index and embeddings see."""
    meta = chunk.metadata
    return with_context(chunk.text, str(meta.get("section", "")), str(meta.get("table_header", "")))


def release_free_memory() -> None:
    """Hands the heap's free pages back to the OS (glibc's malloc_trim; nothing elsewhere).

    After a large transient allocation (an ingest's embedding batches and Chroma reads, a keyword index
    build) glibc keeps the freed memory in the process: the RSS stays at its high-water mark and the next
    peak builds on it. Trimming costs milliseconds.
    """
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols: glibc's when linked against it
    except (OSError, AttributeError, TypeError):  # musl, macOS, Windows: no malloc_trim
        return
    trim(0)
