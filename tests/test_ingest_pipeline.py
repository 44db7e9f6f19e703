"""The ingest pipeline (issue 22): files read ahead, chunks embedded shortest first, writes on a thread of
their own. What is stored, the progress reported, a cancel and an interrupted run are as they were."""

from __future__ import annotations

import hashlib
import threading
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from tests.fakes import HashEmbeddings, hash_vector
from vectorstore.chunking import LAYOUT_VERSION, Chunker
from vectorstore.embeddings import LazyEmbeddings
from vectorstore.errors import JobCancelled
from vectorstore.ingest import IngestService
from vectorstore.keyword import KeywordIndex
from vectorstore.loaders import load_document
from vectorstore.store import ChunkStore, open_client

MODEL_ID = "test:sha256-16"


def _service(
    data: Path, embeddings: Embeddings | None = None, batch_size: int = 4, chunker: Chunker | None = None
) -> IngestService:
    store = ChunkStore(open_client(data), "documents", MODEL_ID)
    index = KeywordIndex(store, data / "bm25" / "documents")
    model = embeddings or HashEmbeddings()
    lazy = LazyEmbeddings(MODEL_ID, lambda: model)
    return IngestService(store, index, lazy, chunker or Chunker(300, 30), data / "uploads", batch_size)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Five files of paragraphs of very different lengths (so ordering by length reorders), one nested."""
    docs = tmp_path / "docs"
    (docs / "annex").mkdir(parents=True)
    for n, name in enumerate(["alder.txt", "birch.md", "annex/cedar.txt", "damson.txt", "elm.txt"]):
        paragraphs = [
            f"Entry {i} of the {Path(name).stem} ledger: "
            + " ".join(f"the ferry carried {i * k} crates past the weir." for k in range(1 + (i * 7 + n) % 9))
            for i in range(6 + 3 * n)
        ]
        (docs / name).write_text("\n\n".join(paragraphs) + "\n")
    return docs


def _expected(service: IngestService, docs: Path) -> dict[str, tuple[Any, ...]]:
    """Each chunk the files split into, as the store should hold it: id -> (source, start, end, text,
    file hash, vector); worked out from the files alone, without the ingester."""
    out = {}
    for file in sorted(p for p in docs.rglob("*") if p.is_file()):
        source = file.relative_to(docs).as_posix()
        sha = hashlib.sha256(file.read_bytes()).hexdigest()
        for chunk in service.chunker.split(source, load_document(file)):
            vector = tuple(round(x, 5) for x in hash_vector(chunk.contextual_text))
            out[chunk.id] = (source, chunk.start, chunk.end, chunk.text, sha, vector)
    return out


def _stored(service: IngestService) -> dict[str, tuple[Any, ...]]:
    out = {}
    for chunk, vector in service.store.get([c.id for c in service.store.all_chunks()], with_embeddings=True):
        meta = chunk.metadata
        assert meta["layout"] == service.chunker.layout and meta["collection"] == "default"
        assert meta["layout"].startswith(f"{LAYOUT_VERSION}/")
        rounded = tuple(round(float(x), 5) for x in vector)
        out[chunk.id] = (chunk.source, chunk.start, chunk.end, chunk.text, meta["file_sha"], rounded)
    return out


def _pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("ingest-read", "ingest-write"))]


def test_a_folder_is_stored_chunk_for_chunk_as_its_files_split_whatever_the_embedding_order(
    tmp_path: Path, corpus: Path
) -> None:
    calls: list[list[str]] = []

    class Recording(HashEmbeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            calls.append(list(texts))
            return super().embed_documents(texts)

    service = _service(tmp_path / "data", Recording())
    report = service.ingest([corpus])
    expected = _expected(service, corpus)
    assert report.files_changed == 5 and report.chunks_added == len(expected) and not report.skipped
    assert _stored(service) == expected, "ids, offsets, texts, hashes and vectors as the files give them"
    # within a file, windows are cut from its chunks shortest first (little padding in a model batch): the
    # lengths embedded only drop where a file ends
    lengths = [len(t) for call in calls for t in call]
    assert sum(b < a for a, b in pairwise(lengths)) <= 4
    assert _pipeline_threads() == [], "the reader and writer threads end with the ingest"

    again = service.ingest([corpus])
    assert (again.files_unchanged, again.chunks_added, again.chunks_kept) == (5, 0, len(expected))


def test_a_new_chunk_size_rechunks_every_file_at_the_next_ingest(tmp_path: Path, corpus: Path) -> None:
    """`RAG_CHUNK_SIZE` changed: the next ingest cuts every file again at the new size (unchanged files were
    kept as they were cut, whatever the setting said)."""
    first = _service(tmp_path / "data")
    first.ingest([corpus])
    smaller = _service(tmp_path / "data", chunker=Chunker(200, 20))
    report = smaller.ingest([corpus])
    expected = _expected(smaller, corpus)
    assert report.files_changed == 5 and report.files_unchanged == 0, report
    assert _stored(smaller) == expected, "every chunk as the new size cuts it, none of the old ones"
    again = smaller.ingest([corpus])
    assert again.files_unchanged == 5 and again.chunks_added == 0


def test_progress_per_file_is_monotonic_and_stages_come_in_order(tmp_path: Path, corpus: Path) -> None:
    service = _service(tmp_path / "data")
    events: list[tuple[str, Any]] = []
    service.ingest(
        [corpus],
        on_progress=lambda done, total: events.append(("progress", (done, total))),
        on_stage=lambda stage: events.append(("stage", stage)),
    )
    files: list[list[tuple[int, int]]] = []
    stages: list[str] = []
    for kind, value in events:
        if kind == "stage":
            stages.append(value)
            if value == "embedding":
                files.append([])
        else:
            files[-1].append(value)
    assert len(files) == 5
    for progress in files:
        total = progress[0][1]
        assert progress[0] == (0, total) and progress[-1] == (total, total) and total > 0
        done = [d for d, _ in progress]
        assert done == sorted(done) and all(t == total for _, t in progress)
        assert len(done) >= total // 4, "once per model call at least"
    # the first file is read in the caller, the others ahead of their turn (their stages are not reported
    # while the file before them is still embedding)
    assert stages[:5] == ["reading", "parsing", "chunking", "embedding", "saving"]
    assert stages[5:-1] == ["reading", "embedding", "saving"] * 4
    assert stages[-1] == "indexing"


def test_a_failed_write_stops_the_later_writes_and_the_next_run_repairs_the_store(
    tmp_path: Path, corpus: Path
) -> None:
    service = _service(tmp_path / "data")
    original_add, adds = service.store.add, []

    def add_then_fail(*args: Any, **kwargs: Any) -> None:
        adds.append(1)
        if len(adds) == 7:  # inside the second or third file, with writes queued behind it
            raise KeyboardInterrupt  # the process is stopped in the middle of a write
        original_add(*args, **kwargs)

    service.store.add = add_then_fail  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        service.ingest([corpus])
    service.store.add = original_add  # type: ignore[method-assign]
    assert len(adds) == 7, "no write after the failed one"
    assert _pipeline_threads() == []

    expected = _expected(service, corpus)
    stored = _stored(service)
    assert 0 < len(stored) < len(expected)
    for chunk_id, entry in stored.items():
        assert entry[:4] == expected[chunk_id][:4], "what is stored is whole and points at real text"
    for source in {entry[0] for entry in stored.values()}:
        mine = {i: v for i, v in stored.items() if v[0] == source}
        if any(v[4] != "pending" for v in mine.values()):  # a file marked whole is whole
            assert mine == {i: v for i, v in expected.items() if v[0] == source}

    report = service.ingest([corpus])
    assert report.chunks_added == len(expected) - len(stored), "only the missing chunks are embedded"
    assert _stored(service) == expected


def test_a_cancel_inside_a_later_file_keeps_the_files_before_it_whole_and_nothing_of_it(
    tmp_path: Path, corpus: Path
) -> None:
    cancel = threading.Event()
    calls: list[int] = []

    class CancelOnThirdFile(HashEmbeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            calls.append(len(texts))
            if any("cedar ledger" in t for t in texts):
                cancel.set()  # asked for while the third file embeds (and the fourth is read ahead)
            return super().embed_documents(texts)

    service = _service(tmp_path / "data", CancelOnThirdFile())
    with pytest.raises(JobCancelled):
        service.ingest([corpus], cancelled=cancel.is_set)
    assert _pipeline_threads() == []
    expected = _expected(service, corpus)
    stored = _stored(service)
    whole = {"alder.txt"}  # in path order: alder, annex/cedar, birch (read ahead), ...; cedar is cancelled
    assert {v[0] for v in stored.values()} == whole
    assert stored == {i: v for i, v in expected.items() if v[0] in whole}


def test_writes_run_beside_the_embedding_of_the_next_window(tmp_path: Path, corpus: Path) -> None:
    """The first window's write waits until the model has been given the second window: it can only finish
    if the two run at once (the wait gives up after 30 s, and the test then fails)."""
    second_embed = threading.Event()
    overlapped: list[bool] = []
    calls: list[int] = []

    class Signalling(HashEmbeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            calls.append(len(texts))
            if len(calls) == 2:
                second_embed.set()
            return super().embed_documents(texts)

    service = _service(tmp_path / "data", Signalling())
    original_add = service.store.add

    def add(*args: Any, **kwargs: Any) -> None:
        if not overlapped:
            overlapped.append(second_embed.wait(30))
        original_add(*args, **kwargs)

    service.store.add = add  # type: ignore[method-assign]
    service.ingest([corpus])
    assert overlapped == [True]
    assert _stored(service) == _expected(service, corpus)


REGISTER = "\n\n".join(f"Entry {i} of the lock register: the ferry carried {i} crates." for i in range(40))


def _cut_short(tmp_path: Path, embeddings: Embeddings) -> tuple[IngestService, list[str]]:
    """A store holding a whole document and the first five chunks of another that a run wrote and never
    finished (a worker killed, or one that lost its job, mid-file): those are marked pending."""
    service = _service(tmp_path / "data", embeddings)
    (tmp_path / "other.txt").write_text("The keeper closes the lock at night.\n")
    service.ingest([tmp_path / "other.txt"])
    service.add_upload("register.txt", REGISTER.encode())
    ids = sorted(service.store.metadatas(where={"source": "register.txt"}))
    service.store.delete(ids[5:])
    service.store.set_metadata(ids[:5], {"file_sha": "pending"})
    return service, ids[:5]


class _StopAtSecondBatch(HashEmbeddings):
    def __init__(self) -> None:
        super().__init__()
        self.stop, self.batches = threading.Event(), -1_000_000  # not armed

    def arm(self) -> None:
        self.stop.clear()
        self.batches = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.batches += 1
        if self.batches == 2:
            self.stop.set()  # asked for while the second batch embeds
        return super().embed_documents(texts)


def test_a_cancel_takes_out_what_an_earlier_attempt_at_the_file_left(tmp_path: Path) -> None:
    model = _StopAtSecondBatch()
    service, _ = _cut_short(tmp_path, model)
    model.arm()
    with pytest.raises(JobCancelled):
        service.add_upload("register.txt", REGISTER.encode(), replace=True, cancelled=model.stop.is_set)
    assert [d.source for d in service.list_documents()] == ["other.txt"], "neither attempt left a chunk"


def test_a_worker_that_lost_its_job_stops_and_deletes_nothing(tmp_path: Path) -> None:
    """Its chunks are the new holder's (the same ids): a stop that took them out could break a file the
    other one finishes."""
    model = _StopAtSecondBatch()
    service, left = _cut_short(tmp_path, model)
    model.arm()
    with pytest.raises(JobCancelled):
        service.add_upload(
            "register.txt",
            REGISTER.encode(),
            replace=True,
            cancelled=model.stop.is_set,
            keep_written=lambda: True,
        )
    assert set(left) <= set(service.store.metadatas(where={"source": "register.txt"}))


def test_what_unfinished_runs_left_is_discarded_and_a_whole_document_never(tmp_path: Path) -> None:
    service, left = _cut_short(tmp_path, HashEmbeddings())
    assert service.discard_unfinished("other.txt") == 0
    assert service.discard_unfinished("register.txt") == len(left) == 5
    assert [d.source for d in service.list_documents()] == ["other.txt"]
    report = service.add_upload("register.txt", REGISTER.encode())
    assert report.chunks_added == len(service.store.metadatas(where={"source": "register.txt"})) > 5
