"""The keyword (BM25) index over the collection's chunks: built once, then kept current change by change.

Chroma stays the one source of truth. A process builds its index from the stored texts once (or loads the
last one saved in the data dir), then follows the store's change log (`vectorstore/changelog.py`): when the
collection's version moves, it reads the records written since, fetches the added chunks by id and drops
the removed ones. A one-file upload costs that file's chunks in every replica, not a pass over the corpus.

On disk, each save is a new snapshot folder (`snap-<uuid>/`) written under a temporary name and published by
replacing the `CURRENT` pointer file with `os.replace`; saves take a cross-process file lock, readers take
none and see the old snapshot or the new one, whole. A snapshot is saved after a full build and whenever the
index has been merged into one segment again (every ~10 % of growth), so a restart replays little.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from vectorstore.bm25 import Bm25, Segment
from vectorstore.changelog import CLOCK_SKEW_SECONDS, PENDING_SECONDS, RETENTION_SECONDS
from vectorstore.errors import DataDirBusyError
from vectorstore.locking import ProcessLock
from vectorstore.store import ChunkStore, StoredChunk, contextual, release_free_memory
from vectorstore.text import tokenize

log = logging.getLogger(__name__)

POINTER = "CURRENT"  # {"snapshot", "applied_until"}: the one snapshot readers load, switched with os.replace
FETCH = 500  # chunk ids fetched from the store per request while following the log
REBUILD_SHARE = 0.5  # a log announcing more than half the store is followed by reading the whole store


@dataclass(frozen=True)
class _State:
    """The index and how far into the change log it is; swapped whole, never changed in place."""

    version: str
    index: Bm25
    applied_until: float  # the write time of the newest record applied
    applied: frozenset[str] = frozenset()  # records applied that a later read may list again (clock skew)
    pending: tuple[tuple[str, float], ...] = ()  # announced chunks not in the store yet, with the time
    saved: bool = field(default=False, compare=False)


def _terms(chunk: StoredChunk) -> list[str]:
    return tokenize(contextual(chunk))


class KeywordIndex:
    """BM25 over the chunk texts stored in Chroma, following the store's change log."""

    def __init__(self, store: ChunkStore, directory: Path) -> None:
        self.store = store
        self.directory = directory
        self._lock = threading.Lock()
        self._current: _State | None = None
        self._save_lock = ProcessLock(
            directory.with_name(directory.name + ".lock"), timeout=120, purpose="saving the keyword index"
        )

    # -- keeping current -----------------------------------------------------------------------------
    def ensure_current(self) -> None:
        version = self.store.version
        if self._current is not None and self._current.version == version:
            return
        with self._lock:
            current = self._current
            if current is not None and current.version == version:
                return
            current = current or self._load()
            state = self._follow(current, version) if current is not None else None
            if current is None or state is None:
                self._rebuild(version)
                return
            if not state.saved and len(state.index.segments) <= 1 and state.index is not current.index:
                state = self._save_quietly(state)
            self._current = state

    def _follow(self, state: _State, version: str) -> _State | None:
        """`state` with every change recorded since applied; None when only a full build will do."""
        now = time.time()
        if state.applied_until < now - RETENTION_SECONDS + CLOCK_SKEW_SECONDS:
            return None  # the records since then may have been pruned
        changes = self.store.changes.since(state.applied_until, state.applied)
        if any(change.op == "reset" for change in changes):
            return None
        announced = sum(len(change.ids) for change in changes if change.op == "add")
        if announced > FETCH and announced > REBUILD_SHARE * max(self.store.count(), 1):
            return None  # (the count is asked only past FETCH: not a round trip per small change)
        index = state.index
        pending = {i: at for i, at in state.pending if at > now - PENDING_SECONDS}
        index, pending = self._fetch(index, pending, list(pending))
        for change in changes:
            if change.op == "delete":
                index = index.without(change.ids)
                for chunk_id in change.ids:
                    pending.pop(chunk_id, None)
            else:
                pending.update(dict.fromkeys(change.ids, change.at))
                index, pending = self._fetch(index, pending, list(change.ids))
        until = max([state.applied_until, *(change.at for change in changes)])
        applied = {r for r in state.applied if _record_time(r) > until - CLOCK_SKEW_SECONDS}
        applied.update(change.id for change in changes if change.at > until - CLOCK_SKEW_SECONDS)
        if not changes and index is state.index and len(pending) == len(state.pending):
            return replace(state, version=version)
        return _State(version, index, until, frozenset(applied), tuple(pending.items()))

    def _fetch(self, index: Bm25, pending: dict[str, float], ids: list[str]) -> tuple[Bm25, dict[str, float]]:
        """Indexes the chunks of `ids` the store holds; they stop being pending."""
        for start in range(0, len(ids), FETCH):
            found = [chunk for chunk, _ in self.store.get(ids[start : start + FETCH])]
            index = index.with_docs((chunk.id, _terms(chunk)) for chunk in found)
            for chunk in found:
                pending.pop(chunk.id, None)
        return index, pending

    def _rebuild(self, version: str) -> None:
        """Reads every stored chunk; then the log written meanwhile is followed as usual.

        The records of the skew window before the read (which the next follow would list again) count as
        applied: the read has their effect, except a write announced but not yet made when its chunk was
        read, which is taken up as pending. Left unapplied, a bulk upload's records would make every
        follow of the next minutes rebuild again."""
        release_free_memory()  # what an ingest's writes freed: the build should not sit on top of it
        started = time.time()
        recent = self.store.changes.since(started)
        index = Bm25.empty()
        page: list[tuple[str, list[str]]] = []
        for chunk in self.store.iter_chunks():
            page.append((chunk.id, _terms(chunk)))
            if len(page) >= 2000:  # a segment per page, merged once at the end
                index, page = index.with_docs(page, merge=False), []
        index = index.with_docs(page, merge=False).merged()
        pending: dict[str, float] = {}
        for change in recent:  # in write order: a removal, then the same id added again, ends pending
            if change.op == "delete":
                index = index.without(change.ids)
                for chunk_id in change.ids:
                    pending.pop(chunk_id, None)
            else:
                pending.update({i: change.at for i in change.ids if i not in (index.where or {})})
        until = max([started, *(change.at for change in recent)])
        read = _State(version, index, until, frozenset(c.id for c in recent), tuple(pending.items()))
        state = self._follow(read, version) or read  # what was written while we read
        release_free_memory()
        self._current = self._save_quietly(replace(state, index=state.index.merged()))
        log.info("keyword index built: %d chunks", state.index.size)

    # -- disk ----------------------------------------------------------------------------------------
    def _pointer(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.directory / POINTER).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("keyword index pointer unreadable (%s)", exc)
            return None
        return data if isinstance(data, dict) else None

    def _load(self) -> _State | None:
        """The last saved snapshot, whatever its version (the log brings it up to date); None if there is
        none, it is unreadable, or it does not hold what the store holds."""
        for _attempt in range(3):  # a save in another process may prune the snapshot we were about to read
            pointer = self._pointer()
            if not pointer or "applied_until" not in pointer:
                return None  # nothing saved, or the layout before the change log
            try:
                state = _read_snapshot(self.directory / str(pointer["snapshot"]))
            except Exception as exc:  # a corrupt or vanished snapshot is retried, then rebuilt, never fatal
                log.warning("keyword index snapshot unreadable (%s)", exc)
                continue
            followed = self._follow(state, "")
            if followed is None or (not followed.pending and followed.index.size != self.store.count()):
                return None  # a store replaced under the data dir: the log cannot tell, the count does
            return replace(followed, saved=followed.index is state.index)
        return None

    def _save_quietly(self, state: _State) -> _State:
        try:
            self._save(state)
            return replace(state, saved=True)
        except (OSError, DataDirBusyError) as exc:  # an index we cannot persist still serves this process
            log.warning("keyword index not saved (%s); the next start replays the log", exc)
            return state

    def _save(self, state: _State) -> None:
        with self._save_lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            pointer = self._pointer()
            if pointer and float(pointer.get("applied_until", 0)) >= state.applied_until:
                return  # another process saved as recent a snapshot while we were building ours
            name = f"snap-{uuid.uuid4().hex}"
            tmp = self.directory / f".tmp-{name}"
            try:
                tmp.mkdir()
                _write_snapshot(tmp, state)
                os.rename(tmp, self.directory / name)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            pointer_tmp = self.directory / f".{POINTER}-{uuid.uuid4().hex}.tmp"
            with pointer_tmp.open("w") as handle:
                json.dump({"snapshot": name, "applied_until": state.applied_until}, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(pointer_tmp, self.directory / POINTER)  # the switch: atomic on POSIX and Windows
            previous = str(pointer.get("snapshot")) if pointer else ""
            self._prune(keep={name, previous})

    def _prune(self, keep: set[str]) -> None:
        """Drops old snapshots, leftovers of interrupted saves and older layouts; called under the lock."""
        for entry in self.directory.iterdir():
            if entry.name in keep or entry.name == POINTER:
                continue
            legacy = entry.name in {"bm25", "manifest.json"}  # the layout before snapshots
            if legacy or entry.name.startswith(("snap-", ".tmp-", f".{POINTER}-")):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    # -- reading -------------------------------------------------------------------------------------
    def _loaded(self) -> Bm25:
        """The index in memory; loaded once if there is none. The answerer asks per word right after a
        search made it current, so it does not ask the store for the version again each time."""
        if self._current is None:
            self.ensure_current()
        return self._current.index if self._current is not None else Bm25.empty()

    def frequency(self, term: str) -> tuple[int, int]:
        """(chunks holding a stemmed term, chunks in all)."""
        index = self._loaded()
        return index.frequency(term), index.size

    def rarity(self, term: str) -> float:
        """Inverse document frequency of a stemmed term over the chunks: log(1 + N / (1 + df)); a term no
        chunk holds gets the highest value."""
        df, size = self.frequency(term)
        return math.log(1 + size / (1 + df)) if size else 0.0

    def knows(self, word: str) -> bool:
        """Whether any chunk (or its heading path) holds this word, compared by stem."""
        index = self._loaded()
        terms = tokenize(word)
        return bool(terms) and all(index.frequency(t) > 0 for t in terms)

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        """Chunk ids with BM25 scores, best first; only chunks sharing at least one term."""
        self.ensure_current()
        state = self._current  # read once: a change swaps in a new index, this one stays whole
        if state is None:
            return []
        return state.index.search(tokenize(query), n)


def _record_time(record: str) -> float:
    """A change record's write time from its id (nanoseconds first, see `ChangeLog.record`)."""
    try:
        return int(record.split("-", 1)[0]) / 1e9
    except ValueError:
        return 0.0


def _write_snapshot(folder: Path, state: _State) -> None:
    index = state.index.merged()
    segment = index.segments[0] if index.segments else Segment.build([], [], len(index.vocab))
    np.savez(
        folder / "index.npz",
        data=segment.tf.data,
        indices=segment.tf.indices,
        indptr=segment.tf.indptr,
        shape=np.asarray(segment.tf.shape),
        lengths=segment.lengths,
        df=index.df,
    )
    meta = {
        "version": state.version,
        "applied_until": state.applied_until,
        "applied": sorted(state.applied),
        "pending": [list(p) for p in state.pending],
        "ids": list(segment.ids),
        "vocab": sorted(index.vocab, key=index.vocab.__getitem__),
    }
    (folder / "state.json").write_text(json.dumps(meta))


def _read_snapshot(folder: Path) -> _State:
    meta = json.loads((folder / "state.json").read_text())
    with np.load(folder / "index.npz") as arrays:
        shape = tuple(int(x) for x in arrays["shape"])
        tf = sparse.csc_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
        lengths, df = arrays["lengths"], arrays["df"]
    ids = tuple(str(i) for i in meta["ids"])
    if len(ids) != shape[0] or len(lengths) != shape[0]:
        raise ValueError(f"snapshot {folder.name} has {len(ids)} ids for {shape[0]} indexed chunks")
    vocab = {str(term): number for number, term in enumerate(meta["vocab"])}
    segments = (Segment(ids, tf, lengths, np.ones(len(ids), dtype=np.bool_)),) if ids else ()
    index = Bm25(vocab, df, segments, {i: (0, row) for row, i in enumerate(ids)}, float(lengths.sum()))
    pending = tuple((str(i), float(at)) for i, at in meta.get("pending", []))
    applied = frozenset(str(r) for r in meta.get("applied", []))
    return _State(str(meta["version"]), index, float(meta["applied_until"]), applied, pending, saved=True)
