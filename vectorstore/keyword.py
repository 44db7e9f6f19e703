"""A persisted BM25 index over the collection's chunks, rebuilt only when the collection changed."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import threading
import uuid
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from vectorstore.errors import DataDirBusyError
from vectorstore.locking import ProcessLock
from vectorstore.store import ChunkStore, contextual, release_free_memory
from vectorstore.text import tokenize

log = logging.getLogger(__name__)

POINTER = "CURRENT"  # {"version", "snapshot"}: the one snapshot readers load, switched with os.replace


@dataclass(frozen=True)
class _Snapshot:
    """Ids and the BM25 index built over them, always swapped together (never one without the other)."""

    version: str
    ids: list[str]
    bm25: bm25s.BM25 | None

    @property
    def size(self) -> int:
        if self.bm25 is None:
            return 0
        return min(len(self.ids), int(self.bm25.scores.get("num_docs", len(self.ids))))


class _TermIds:
    """Every chunk's terms as ids into one vocabulary, in one flat int32 array: what BM25 is built from.

    Read from the store a page at a time: a chunk's text and metadata are dropped as soon as its terms are
    counted, and a term costs 4 bytes here instead of a string in a list per chunk (~60 bytes), so building
    the index of 17k chunks holds ~10 MB of terms instead of every text and every token list at once.
    Iterating gives each chunk's term ids as a list (what bm25s' `build_index_from_ids` reads, three times).
    """

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.vocab: dict[str, int] = {}
        self._terms = array("i")
        self._ends = array("q")

    @classmethod
    def read(cls, store: ChunkStore) -> _TermIds:
        corpus = cls()
        vocab = corpus.vocab
        for chunk in store.iter_chunks():
            terms = tokenize(contextual(chunk)) or ["\x00"]  # a chunk without words still has a row
            corpus.ids.append(chunk.id)
            corpus._terms.extend(vocab.setdefault(term, len(vocab)) for term in terms)
            corpus._ends.append(len(corpus._terms))
        return corpus

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[list[int]]:
        start = 0
        for end in self._ends:
            yield self._terms[start:end].tolist()
            start = end


class KeywordIndex:
    """BM25 over the chunk texts stored in Chroma.

    Chroma stays the one source of truth: the index on disk records the collection version it was built
    from, and is rebuilt from the collection's stored texts when that version moves (after an ingest, here
    or in another process). Queries never rebuild unless the collection changed.

    On disk, each save is a new snapshot folder (`snap-<uuid>/` with `ids.json` and `bm25/`) written under a
    unique temporary name, then published by replacing the `CURRENT` pointer file with `os.replace`; saves
    take a cross-process file lock, readers take none and see the old snapshot or the new one, whole. The
    previous snapshot is kept so a reader that has just read the old pointer can still load it.
    """

    def __init__(self, store: ChunkStore, directory: Path) -> None:
        self.store = store
        self.directory = directory
        self._lock = threading.Lock()
        self._current: _Snapshot | None = None
        self._save_lock = ProcessLock(
            directory.with_name(directory.name + ".lock"), timeout=120, purpose="saving the keyword index"
        )

    def ensure_current(self) -> None:
        version = self.store.version
        if self._current is not None and self._current.version == version:
            return
        with self._lock:
            if self._current is not None and self._current.version == version:
                return
            if not self._load(version):
                self._rebuild(version)

    def _pointer(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.directory / POINTER).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("keyword index pointer unreadable (%s)", exc)
            return None
        return data if isinstance(data, dict) else None

    def _load(self, version: str) -> bool:
        for _attempt in range(3):  # a save in another process may prune the snapshot we were about to read
            pointer = self._pointer()
            if not pointer or pointer.get("version") != version:
                return False
            try:
                self._current = self._read_snapshot(self.directory / str(pointer["snapshot"]), version)
                return True
            except Exception as exc:  # a corrupt or vanished snapshot is retried, then rebuilt, never fatal
                log.warning("keyword index snapshot unreadable (%s)", exc)
        return False

    @staticmethod
    def _read_snapshot(folder: Path, version: str) -> _Snapshot:
        data = json.loads((folder / "ids.json").read_text())
        if data.get("version") != version:
            raise ValueError(f"snapshot {folder.name} is of version {data.get('version')}, not {version}")
        ids = [str(i) for i in data["ids"]]
        bm25 = bm25s.BM25.load(str(folder / "bm25"), show_progress=False) if ids else None
        snapshot = _Snapshot(version, ids, bm25)
        if bm25 is not None and snapshot.size != len(ids):
            raise ValueError(f"snapshot {folder.name} has {len(ids)} ids for {snapshot.size} indexed chunks")
        return snapshot

    def _rebuild(self, version: str) -> None:
        release_free_memory()  # what an ingest's writes freed: the build should not sit on top of it
        corpus = _TermIds.read(self.store)
        index: bm25s.BM25 | None = None
        if len(corpus):
            index = bm25s.BM25()
            scores = index.build_index_from_ids(
                unique_token_ids=list(range(len(corpus.vocab))), corpus_token_ids=corpus, show_progress=False
            )
            # What BM25.index does after its own build: the empty token, then the index in place.
            corpus.vocab.setdefault("", len(corpus.vocab))
            index.scores, index.vocab_dict = scores, corpus.vocab
            index.unique_token_ids_set = set(corpus.vocab.values())
        snapshot = _Snapshot(version, corpus.ids, index)
        del corpus  # the term ids are in the index now: free them before saving
        release_free_memory()
        try:
            self._save(snapshot)
        except (OSError, DataDirBusyError) as exc:  # an index we cannot persist still serves this process
            log.warning("keyword index not saved (%s); it will be rebuilt next start", exc)
        self._current = snapshot  # one assignment: a concurrent search sees the old pair or the new one
        log.info("keyword index rebuilt: %d chunks", len(snapshot.ids))

    def _save(self, snapshot: _Snapshot) -> None:
        with self._save_lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            pointer = self._pointer()
            if (
                pointer
                and pointer.get("version") == snapshot.version
                and (self.directory / str(pointer.get("snapshot"))).is_dir()
            ):
                return  # another process saved this version while we were building it
            name = f"snap-{uuid.uuid4().hex}"
            tmp = self.directory / f".tmp-{name}"
            try:
                tmp.mkdir()
                if snapshot.bm25 is not None:
                    snapshot.bm25.save(str(tmp / "bm25"), show_progress=False)
                (tmp / "ids.json").write_text(json.dumps({"version": snapshot.version, "ids": snapshot.ids}))
                os.rename(tmp, self.directory / name)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            pointer_tmp = self.directory / f".{POINTER}-{uuid.uuid4().hex}.tmp"
            with pointer_tmp.open("w") as handle:
                json.dump({"version": snapshot.version, "snapshot": name}, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(pointer_tmp, self.directory / POINTER)  # the switch: atomic on POSIX and Windows
            previous = str(pointer.get("snapshot")) if pointer else ""
            self._prune(keep={name, previous})

    def _prune(self, keep: set[str]) -> None:
        """Drops old snapshots, leftovers of interrupted saves and the old layout; called under the lock."""
        for entry in self.directory.iterdir():
            if entry.name in keep or entry.name == POINTER:
                continue
            legacy = entry.name in {"bm25", "manifest.json"}  # the layout before snapshots
            if legacy or entry.name.startswith(("snap-", ".tmp-", f".{POINTER}-")):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    def _loaded(self) -> _Snapshot | None:
        """The snapshot in memory; loaded once if there is none. The answerer asks per word right after a
        search made it current, so it does not ask the store for the version again each time."""
        if self._current is None:
            self.ensure_current()
        return self._current

    def frequency(self, term: str) -> tuple[int, int]:
        """(chunks holding a stemmed term, chunks in all)."""
        snapshot = self._loaded()
        if snapshot is None or snapshot.bm25 is None or not snapshot.size:
            return 0, 0
        index = snapshot.bm25.vocab_dict.get(term)
        indptr = snapshot.bm25.scores["indptr"]
        return (0 if index is None else int(indptr[index + 1] - indptr[index])), snapshot.size

    def rarity(self, term: str) -> float:
        """Inverse document frequency of a stemmed term over the chunks: log(1 + N / (1 + df)); a term no
        chunk holds gets the highest value."""
        df, size = self.frequency(term)
        return math.log(1 + size / (1 + df)) if size else 0.0

    def knows(self, word: str) -> bool:
        """Whether any chunk (or its heading path) holds this word, compared by stem."""
        snapshot = self._loaded()
        if snapshot is None or snapshot.bm25 is None:
            return False
        terms = tokenize(word)
        return bool(terms) and all(t in snapshot.bm25.vocab_dict for t in terms)

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        """Chunk ids with BM25 scores, best first; only chunks sharing at least one term."""
        self.ensure_current()
        snapshot = self._current  # read once: ids and index stay a pair even if a rebuild swaps them now
        terms = tokenize(query)
        if snapshot is None or snapshot.bm25 is None or not terms or not snapshot.size:
            return []
        vocab = snapshot.bm25.vocab_dict
        known = [t for t in terms if t in vocab]
        if not known:
            return []
        docs, scores = snapshot.bm25.retrieve(
            [known], k=min(n, snapshot.size), show_progress=False, n_threads=1
        )
        return [
            (snapshot.ids[int(i)], float(s))
            for i, s in zip(np.ravel(docs), np.ravel(scores), strict=True)
            if s > 0 and 0 <= int(i) < len(snapshot.ids)
        ]
