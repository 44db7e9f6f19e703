"""The keyword index follows the store change by change (issue 22): an upload costs its own chunks.

Real Chroma stores on disk; the hash embedding stands in for the model (what is searched here is BM25 over
the stored texts, which no embedding touches). bm25s, the library the index used before, is the reference
for the ranking.
"""

from __future__ import annotations

import random
from pathlib import Path

import bm25s
import pytest

from tests.conftest import ROOT
from tests.fakes import hash_vector
from vectorstore.bm25 import Bm25
from vectorstore.chunking import Chunk, content_id
from vectorstore.keyword import KeywordIndex
from vectorstore.store import ChunkStore, open_client
from vectorstore.text import tokenize

MODEL_ID = "test:sha256-16"


def _paragraphs() -> list[str]:
    return [
        p for f in sorted((ROOT / "seeds").glob("*.txt")) for p in f.read_text().split("\n\n") if p.strip()
    ]


def _chunks(name: str, texts: list[str], section: str = "") -> list[Chunk]:
    return [Chunk(content_id(name, t), f"{name}.txt", t, 0, len(t), section=section) for t in texts]


def _add(store: ChunkStore, chunks: list[Chunk]) -> None:
    store.add(chunks, [hash_vector(c.text) for c in chunks], {"file_sha": "x"})


def _rounded(hits: list[tuple[str, float]]) -> list[tuple[str, float]]:
    return [(chunk_id, round(score, 6)) for chunk_id, score in hits]


class _Counting(KeywordIndex):
    """A keyword index that counts its full builds (a read of every stored chunk)."""

    builds = 0

    def _rebuild(self, version: str) -> None:
        self.builds += 1
        super()._rebuild(version)


@pytest.fixture
def store(tmp_path: Path) -> ChunkStore:
    return ChunkStore(open_client(tmp_path / "data"), "kwstore", MODEL_ID)


def _reference(docs: list[list[str]]) -> tuple[bm25s.BM25, dict[str, int]]:
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in d] for d in docs]
    ref = bm25s.BM25()
    scores = ref.build_index_from_ids(
        unique_token_ids=list(range(len(vocab))), corpus_token_ids=ids, show_progress=False
    )
    vocab.setdefault("", len(vocab))
    ref.scores, ref.vocab_dict, ref.unique_token_ids_set = scores, vocab, set(vocab.values())
    return ref, vocab


def test_it_ranks_as_lucene_bm25_and_a_changed_index_as_one_built_afresh() -> None:
    docs = [tokenize(p) or ["\x00"] for p in _paragraphs()]
    ids = [f"c{i}" for i in range(len(docs))]
    grown = Bm25.empty()
    for start in range(0, len(docs), 7):  # many small uploads, merged along the way
        grown = grown.with_docs(zip(ids[start : start + 7], docs[start : start + 7], strict=True))
    ref, vocab = _reference(docs)
    rng = random.Random(20261203)
    queries = [rng.sample(d, min(4, len(d))) for d in rng.choices(docs, k=100)]
    for query in queries:
        got = grown.search(query, 10)
        found, scores = ref.retrieve(
            [[t for t in query if t in vocab]], k=10, show_progress=False, n_threads=1
        )
        want = [(ids[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0]
        assert [round(s, 4) for _, s in got] == [round(s, 4) for _, s in want], query
        # the same chunks, but for ties at the cut (either library may keep either of them)
        cut = round(want[-1][1], 4) if len(want) == 10 else -1.0
        assert {i for i, s in got if round(s, 4) > cut} == {i for i, s in want if round(s, 4) > cut}, query

    gone = set(rng.sample(ids, len(ids) // 3))
    shrunk = grown.without(sorted(gone))
    fresh = Bm25.empty().with_docs((i, d) for i, d in zip(ids, docs, strict=True) if i not in gone)
    assert shrunk.size == fresh.size == len(ids) - len(gone)
    for query in queries:
        assert _rounded(shrunk.search(query, 10)) == _rounded(fresh.search(query, 10)), query


def test_an_upload_and_a_delete_by_another_process_are_followed_without_a_rebuild(
    store: ChunkStore, tmp_path: Path
) -> None:
    _add(store, _chunks("seeds", _paragraphs()))
    reader = _Counting(store, tmp_path / "data" / "bm25" / "kw")
    assert reader.search("Cambodia", 3)
    assert reader.builds == 1

    # Another process (its own ChunkStore on the same store) uploads a note and later moves it.
    writer = ChunkStore(store.client, "kwstore", MODEL_ID)
    note = _chunks("note", ["The otter census counted 41 otters on the Quillan weir."])
    _add(writer, note)
    assert [i for i, _ in reader.search("otter census", 3)][:1] == [note[0].id]
    moved = _chunks("note", [note[0].text], section="Riverbank wildlife")
    writer.update_metadata(moved, {"file_sha": "x"})
    assert reader.search("riverbank wildlife", 3)[0][0] == note[0].id, "the heading path is indexed too"
    writer.delete([note[0].id])
    assert reader.search("otter census", 3) == []
    assert not reader.knows("otter")
    assert reader.builds == 1, "followed change by change, never read whole again"


def test_a_restart_loads_the_saved_index_and_replays_only_the_changes_since(
    store: ChunkStore, tmp_path: Path
) -> None:
    directory = tmp_path / "data" / "bm25" / "kw"
    _add(store, _chunks("seeds", _paragraphs()))
    first = _Counting(store, directory)
    first.ensure_current()
    _add(store, _chunks("note", ["A heron nests on the lighthouse at Morrow."]))  # after the save

    again = _Counting(store, directory)
    hits = again.search("heron lighthouse", 3)
    assert again.builds == 0, "loaded from disk and caught up from the log"
    fresh = _Counting(store, tmp_path / "elsewhere")
    assert _rounded(hits) == _rounded(fresh.search("heron lighthouse", 3))
    assert fresh.builds == 1


def test_a_chunk_announced_before_it_is_written_is_found_once_it_is(
    store: ChunkStore, tmp_path: Path
) -> None:
    _add(store, _chunks("seeds", _paragraphs()[:5]))
    reader = KeywordIndex(store, tmp_path / "data" / "bm25" / "kw")
    reader.ensure_current()
    late = _chunks("late", ["The walrus ledger was closed in the spring."])
    store.changes.record("add", [late[0].id])  # a writer has announced the chunk, then paused...
    store._touch()
    assert reader.search("walrus ledger", 3) == []
    store.collection.upsert(  # ...and writes it now
        ids=[late[0].id],
        documents=[late[0].text],
        embeddings=[hash_vector(late[0].text)],
        metadatas=[{"source": "late.txt"}],
    )
    store._touch()
    assert [i for i, _ in reader.search("walrus ledger", 3)] == [late[0].id]


def test_a_dropped_store_is_read_again_whole(store: ChunkStore, tmp_path: Path) -> None:
    _add(store, _chunks("seeds", _paragraphs()))
    reader = _Counting(store, tmp_path / "data" / "bm25" / "kw")
    assert reader.search("Cambodia", 3)
    store.drop()  # a re-index elsewhere
    _add(store, _chunks("note", ["Only the kestrel remains."]))
    assert [len(reader.search(q, 3)) for q in ("Cambodia", "kestrel")] == [0, 1]
    assert reader.builds == 2


def test_a_filtered_keyword_search_ranks_as_filtering_every_hit_would(
    store: ChunkStore, tmp_path: Path
) -> None:
    """A member's question searches only granted collections; Chroma is asked about the best hits only."""
    from tests.fakes import HashEmbeddings
    from vectorstore.retrievers import HybridRetriever

    texts = [f"The ferry log, entry {i}: {'ferry ' * (i % 5)}crossings at the weir." for i in range(400)]
    for name in ("open", "closed"):
        chunks = _chunks(name, [f"{t} ({name})" for t in texts])
        store.add(chunks, [hash_vector(c.text) for c in chunks], {"collection": name})
    index = KeywordIndex(store, tmp_path / "data" / "bm25" / "kwstore")
    retriever = HybridRetriever(store=store, keyword_index=index, embeddings=HashEmbeddings(), mode="bm25")
    asked: list[int] = []
    original = store.allowed
    store.allowed = lambda ids, where: asked.append(len(ids)) or original(ids, where)  # type: ignore[method-assign]
    where = {"collection": {"$in": ["open"]}}
    got = retriever._keyword("ferry crossings", 30, where)
    opened = set(store.metadatas(where=where))
    want = [(cid, s) for cid, s in index.search("ferry crossings", 10_000) if cid in opened][:30]
    assert got == want and len(got) == 30
    assert sum(asked) < len(opened), "not every allowed chunk is looked up"
    assert retriever._keyword("ferry crossings", 30, {"collection": {"$in": ["nobody"]}}) == []


def test_after_a_bulk_upload_is_read_whole_the_next_small_change_is_followed(
    store: ChunkStore, tmp_path: Path
) -> None:
    """A log announcing most of the store is read by a full build; those records then count as applied,
    or every follow of the next minutes (they are read again for clock skew) would build again."""
    _add(store, _chunks("seeds", _paragraphs()[:5]))
    reader = _Counting(store, tmp_path / "data" / "bm25" / "kwstore")
    reader.ensure_current()
    writer = ChunkStore(store.client, "kwstore", MODEL_ID)
    _add(writer, _chunks("bulk", [f"Ledger line {i} of the harbour tolls." for i in range(600)]))
    assert len(reader.search("harbour tolls", 1000)) == 600
    assert reader.builds == 2, "a bulk upload by another process is read whole"
    _add(writer, _chunks("note", ["The kestrel nests on the harbour crane."]))
    assert reader.search("kestrel", 3)
    assert reader.builds == 2, "then followed change by change again"
