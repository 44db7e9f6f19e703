"""Which chunks were written or removed, kept in Chroma beside them: how every process's keyword index
follows the store by applying what changed instead of reading the whole collection again.

A writer records its change *before* making it ("these ids are about to be added / removed"), so a writer
that dies half-way leaves a record that says too much, never too little: a reader that cannot find an
announced chunk yet keeps asking for it for a while (`PENDING_SECONDS`), and a reader told of a removal
simply drops the ids. Records live in a second Chroma collection (`<name>-changes`), so every replica that
shares the Chroma server (or the data dir) sees the same log with nothing more to run. Each record is a
document holding a JSON list of chunk ids, with its write time (`at`, epoch seconds) in its metadata; ids
sort by time, so records are applied in the order they were written.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Op = Literal["add", "delete", "reset"]

CLOCK_SKEW_SECONDS = 300.0  # hosts' clocks may differ this much: records this old are read again, by id
RETENTION_SECONDS = 7 * 24 * 3600.0  # older records are pruned; an index older than this is rebuilt
PENDING_SECONDS = 600.0  # how long an announced chunk that is not in the store yet is asked for again
BATCH = 500  # ids per record, so a record stays small


@dataclass(frozen=True)
class Change:
    id: str
    op: Op
    at: float
    ids: tuple[str, ...]


class ChangeLog:
    """Append and read the change records of one chunk collection (the collection is got through
    `collection()` each time, so a store reopened after another process's write is followed)."""

    def __init__(self, collection: Callable[[], Any]) -> None:
        self._collection = collection
        self._pruned = 0.0

    def record(self, op: Op, ids: Sequence[str] = ()) -> None:
        now = time.time()
        batches = [list(ids[i : i + BATCH]) for i in range(0, len(ids), BATCH)] or [[]]
        records = [f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}" for _ in batches]
        self._collection().add(
            ids=records,
            documents=[json.dumps(batch) for batch in batches],
            metadatas=[{"op": op, "at": now} for _ in batches],
            embeddings=[[0.0] for _ in batches],  # Chroma wants a vector; nothing searches this one
        )
        if now - self._pruned > 3600:  # at most hourly per process: a delete by metadata scans the log
            self._pruned = now
            self.prune(now)

    def since(self, at: float, known: frozenset[str] = frozenset()) -> list[Change]:
        """Records written after `at` (minus the clock skew) that are not in `known`, oldest first."""
        collection = self._collection()
        heads = collection.get(where={"at": {"$gt": at - CLOCK_SKEW_SECONDS}}, include=["metadatas"])
        new = sorted(i for i in heads["ids"] if i not in known)
        if not new:
            return []
        got = collection.get(ids=new, include=["documents", "metadatas"])
        changes = [
            Change(record, meta["op"], float(meta["at"]), tuple(json.loads(doc or "[]")))
            for record, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]
        return sorted(changes, key=lambda change: change.id)

    def prune(self, now: float | None = None) -> None:
        cutoff = (now or time.time()) - RETENTION_SECONDS
        self._collection().delete(where={"at": {"$lt": cutoff}})
