"""A persisted BM25 index over the collection's chunks, rebuilt only when the collection changed."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from pathlib import Path

import bm25s
import numpy as np

from vectorstore.store import ChunkStore
from vectorstore.text import tokenize

log = logging.getLogger(__name__)


class KeywordIndex:
    """BM25 over the chunk texts stored in Chroma.

    Chroma stays the one source of truth: the index on disk records the collection version it was built
    from, and is rebuilt from the collection's stored texts when that version moves (after an ingest, here
    or in another process). Queries never rebuild unless the collection changed.
    """

    def __init__(self, store: ChunkStore, directory: Path) -> None:
        self.store = store
        self.directory = directory
        self._lock = threading.Lock()
        self._version: str | None = None
        self._ids: list[str] = []
        self._bm25: bm25s.BM25 | None = None

    def ensure_current(self) -> None:
        version = self.store.version
        if version == self._version:
            return
        with self._lock:
            if version == self._version:
                return
            if not self._load(version):
                self._rebuild(version)

    def _load(self, version: str) -> bool:
        manifest = self.directory / "manifest.json"
        if not manifest.exists():
            return False
        try:
            data = json.loads(manifest.read_text())
            if data.get("version") != version:
                return False
            self._ids = list(data["ids"])
            self._bm25 = bm25s.BM25.load(str(self.directory / "bm25")) if self._ids else None
        except Exception as exc:  # a corrupt index is rebuilt, never fatal
            log.warning("keyword index unreadable (%s); rebuilding", exc)
            return False
        self._version = version
        return True

    def _rebuild(self, version: str) -> None:
        chunks = self.store.all_chunks()
        self._ids = [c.id for c in chunks]
        self._bm25 = None
        if chunks:
            bm25 = bm25s.BM25()
            bm25.index([tokenize(c.text) or ["\x00"] for c in chunks], show_progress=False)
            self._bm25 = bm25
        self._save(version)
        self._version = version
        log.info("keyword index rebuilt: %d chunks", len(chunks))

    def _save(self, version: str) -> None:
        tmp = self.directory.with_name(self.directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._bm25 is not None:
            self._bm25.save(str(tmp / "bm25"))
        (tmp / "manifest.json").write_text(json.dumps({"version": version, "ids": self._ids}))
        # Swap in whole: an interrupted save leaves the old index (and a stale version) in place.
        old = self.directory.with_name(self.directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.directory.exists():
            self.directory.rename(old)
        tmp.rename(self.directory)
        shutil.rmtree(old, ignore_errors=True)

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        """Chunk ids with BM25 scores, best first; only chunks sharing at least one term."""
        self.ensure_current()
        terms = tokenize(query)
        if self._bm25 is None or not terms or not self._ids:
            return []
        vocab = self._bm25.vocab_dict
        known = [t for t in terms if t in vocab]
        if not known:
            return []
        docs, scores = self._bm25.retrieve(
            [known], k=min(n, len(self._ids)), show_progress=False, n_threads=1
        )
        return [
            (self._ids[int(i)], float(s))
            for i, s in zip(np.ravel(docs), np.ravel(scores), strict=True)
            if s > 0
        ]
