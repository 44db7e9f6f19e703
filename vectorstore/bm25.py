"""BM25 over segments that grow and shrink in place: an upload costs its own chunks, not the corpus.

Ranks as Lucene's BM25 (bm25s' default method, which the previous index used): for each query term,
idf = ln(1 + (N - df + 0.5) / (df + 0.5)) times tf / (tf + k1 · (1 - b + b · dl / avgdl)), summed over the
query's terms (a repeated term counts again). N, df and avgdl are over the live chunks of every segment.

Like a Lucene index, new chunks go into a new small segment and removed ones are only marked dead; when the
small segments or the dead rows grow past a share of the whole, everything is merged into one segment
again. An index is never changed in place: each change returns a new `Bm25`, so a search running in another
thread keeps reading the one it started with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

K1 = 1.5  # term-frequency saturation: Lucene's and bm25s' default
B = 0.75  # length normalisation: Lucene's and bm25s' default
MERGE_SHARE = 0.1  # merge when the small segments and dead rows together reach 10 % of the live chunks
MAX_SEGMENTS = 32  # ... or when there are this many segments (each costs a pass per query term)
EMPTY = "\x00"  # the term of a chunk without words, so every chunk keeps a row


@dataclass(frozen=True)
class Segment:
    """Chunks added together: their term frequencies (rows × term ids known then) and lengths."""

    ids: tuple[str, ...]
    tf: sparse.csc_matrix
    lengths: NDArray[np.float32]
    alive: NDArray[np.bool_]

    @classmethod
    def build(cls, ids: Sequence[str], docs: Sequence[Sequence[int]], n_terms: int) -> Segment:
        rows, cols, counts = [], [], []
        for row, terms in enumerate(docs):
            unique, count = np.unique(np.asarray(terms, dtype=np.int64), return_counts=True)
            rows.append(np.full(len(unique), row, dtype=np.int64))
            cols.append(unique)
            counts.append(count)
        tf = sparse.csc_matrix(
            (
                np.concatenate(counts).astype(np.float32) if counts else np.zeros(0, np.float32),
                (
                    np.concatenate(rows) if rows else np.zeros(0, np.int64),
                    np.concatenate(cols) if cols else np.zeros(0, np.int64),
                ),
            ),
            shape=(len(ids), n_terms),
        )
        lengths = np.asarray([len(t) for t in docs], dtype=np.float32)
        return cls(tuple(ids), tf, lengths, np.ones(len(ids), dtype=np.bool_))

    def column(self, term: int) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """(rows, term frequencies) of one term in this segment; nothing for a term newer than it."""
        if term >= self.tf.shape[1]:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        start, end = self.tf.indptr[term], self.tf.indptr[term + 1]
        return self.tf.indices[start:end], self.tf.data[start:end]


@dataclass(frozen=True)
class Bm25:
    """An immutable BM25 index: segments, the live chunks' statistics, and where each chunk id lives."""

    vocab: dict[str, int]  # only ever grows; shared by successive indexes (adding a key is thread-safe)
    df: NDArray[np.int64]  # live chunks holding each term id
    segments: tuple[Segment, ...] = ()
    where: dict[str, tuple[int, int]] | None = None  # chunk id → (segment, row), live chunks only
    total_length: float = 0.0

    @classmethod
    def empty(cls) -> Bm25:
        return cls(vocab={}, df=np.zeros(0, np.int64), where={})

    @property
    def size(self) -> int:
        return len(self.where or {})

    def frequency(self, term: str) -> int:
        index = self.vocab.get(term)
        return 0 if index is None or index >= len(self.df) else int(self.df[index])

    # -- changes -------------------------------------------------------------------------------------
    def with_docs(self, docs: Iterable[tuple[str, Sequence[str]]], merge: bool = True) -> Bm25:
        """This index plus (chunk id, terms) pairs; a chunk id already indexed is replaced. Merged into
        one segment when the new ones have grown large enough, unless `merge` is False."""
        docs = list(docs)
        if not docs:
            return self
        base = self.without(chunk_id for chunk_id, _ in docs)
        vocab = base.vocab
        ids, term_ids = [], []
        for chunk_id, terms in dict(docs).items():  # the last text of an id repeated in one batch wins
            ids.append(chunk_id)
            term_ids.append([vocab.setdefault(t, len(vocab)) for t in (terms or [EMPTY])])
        segment = Segment.build(ids, term_ids, len(vocab))
        df = np.zeros(len(vocab), np.int64)
        df[: len(base.df)] = base.df
        df += np.diff(segment.tf.indptr)  # chunks per term: the column lengths
        where = dict(base.where or {})
        number = len(base.segments)
        where.update({chunk_id: (number, row) for row, chunk_id in enumerate(ids)})
        grown = Bm25(
            vocab, df, (*base.segments, segment), where, base.total_length + float(segment.lengths.sum())
        )
        return grown.merged() if merge and grown._wants_merge() else grown

    def without(self, chunk_ids: Iterable[str]) -> Bm25:
        """This index with these chunks marked dead (ids it does not hold are ignored)."""
        where = self.where or {}
        gone = [where[i] for i in dict.fromkeys(chunk_ids) if i in where]
        if not gone:
            return self
        segments = list(self.segments)
        df = self.df.copy()
        total = self.total_length
        for number in {s for s, _ in gone}:
            rows = [r for s, r in gone if s == number]
            segment = segments[number]
            alive = segment.alive.copy()
            alive[rows] = False
            df[: segment.tf.shape[1]] -= np.asarray((segment.tf[rows] > 0).sum(axis=0)).ravel()
            total -= float(segment.lengths[rows].sum())
            segments[number] = replace(segment, alive=alive)
        dead = set(gone)
        keep = {i: place for i, place in where.items() if place not in dead}
        return Bm25(self.vocab, df, tuple(segments), keep, total)

    def _wants_merge(self) -> bool:
        if len(self.segments) <= 1:
            return False
        dead = sum(int((~s.alive).sum()) for s in self.segments)
        small = sum(len(s.ids) for s in self.segments[1:])
        return len(self.segments) > MAX_SEGMENTS or dead + small >= MERGE_SHARE * max(self.size, 1)

    def merged(self) -> Bm25:
        """One segment of the live chunks, in id order of insertion; the statistics are unchanged."""
        width = len(self.vocab)
        ids: list[str] = []
        parts, lengths = [], []
        for segment in self.segments:
            rows = np.flatnonzero(segment.alive)
            if not len(rows):
                continue
            tf = segment.tf[rows]
            tf.resize((len(rows), width))
            parts.append(tf)
            lengths.append(segment.lengths[rows])
            ids.extend(segment.ids[r] for r in rows)
        if not ids:
            return Bm25(self.vocab, self.df, (), {}, 0.0)
        tf = sparse.vstack(parts, format="csc").astype(np.float32)
        one = Segment(tuple(ids), tf, np.concatenate(lengths), np.ones(len(ids), dtype=np.bool_))
        where = {chunk_id: (0, row) for row, chunk_id in enumerate(ids)}
        return Bm25(self.vocab, self.df, (one,), where, self.total_length)

    # -- ranking -------------------------------------------------------------------------------------
    def search(self, terms: Sequence[str], n: int) -> list[tuple[str, float]]:
        """The n best (chunk id, score) pairs with a score above zero, best first."""
        size = self.size
        known = [self.vocab[t] for t in terms if self.frequency(t) > 0]
        if not known or not size or n <= 0:
            return []
        average = self.total_length / size
        hits: list[tuple[NDArray[np.float64], int]] = []
        for number, segment in enumerate(self.segments):
            scores = np.zeros(len(segment.ids), dtype=np.float64)
            norm = K1 * ((1 - B) + B * segment.lengths / average)
            for term in known:
                rows, tf = segment.column(term)
                df = float(self.df[term])
                idf = np.log(1 + (size - df + 0.5) / (df + 0.5))
                scores[rows] += idf * tf / (tf + norm[rows])
            scores[~segment.alive] = 0.0
            hits.append((scores, number))
        return self._best(hits, n)

    def _best(self, hits: list[tuple[NDArray[np.float64], int]], n: int) -> list[tuple[str, float]]:
        flat = np.concatenate([scores for scores, _ in hits])
        owners = np.concatenate([np.full(len(scores), number) for scores, number in hits])
        rows = np.concatenate([np.arange(len(scores)) for scores, _ in hits])
        positive = np.flatnonzero(flat > 0)
        if len(positive) > n:  # the n-th best score; every hit scoring as much stays in the running
            nth = np.partition(flat[positive], len(positive) - n)[len(positive) - n]
            positive = positive[flat[positive] >= nth]
        # best first; equal scores in the order the chunks were indexed, so a deeper search only appends
        order = positive[np.lexsort((positive, -flat[positive]))][:n]
        return [(self.segments[owners[i]].ids[rows[i]], float(flat[i])) for i in order]
