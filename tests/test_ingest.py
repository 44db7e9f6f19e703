"""Ingestion against the real embedding model and a real on-disk Chroma store."""

from __future__ import annotations

import shutil
import time
from itertools import pairwise
from pathlib import Path

import pytest

from assistant.settings import Settings
from tests.conftest import SEEDS, build_shared
from vectorstore.errors import EmbeddingMismatchError
from vectorstore.loaders import load_document, load_text
from vectorstore.store import ChunkStore, open_client


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    return docs


def _components(data: Path):
    return build_shared(Settings(data_dir=data))  # the process's one loaded model, not a load per test


def test_reingest_of_unchanged_files_embeds_nothing(fresh_copy: Path) -> None:
    c = _components(fresh_copy)
    before = c.store.count()
    calls: list[int] = []
    original = c.embeddings.embed_documents_reporting
    c.embeddings.embed_documents_reporting = (  # type: ignore[method-assign]
        lambda texts, progress: calls.append(len(texts)) or original(texts, progress)
    )
    report = c.ingest.ingest([SEEDS])
    assert calls == []
    assert (report.chunks_added, report.chunks_removed, report.files_unchanged) == (0, 0, 2)
    assert report.chunks_kept == before == c.store.count()


def test_changed_file_replaces_only_its_changed_chunks(tmp_path: Path, corpus: Path) -> None:
    c = _components(tmp_path / "data")
    first = c.ingest.ingest([corpus])
    target = corpus / "000_78f4c420c5d86458.txt"
    text = target.read_text(encoding="utf-8")
    old_sentence = "The ministers met like old friends."
    assert old_sentence in text
    target.write_text(
        text.replace(old_sentence, "The ministers met in a hall of green marble."), encoding="utf-8"
    )

    second = c.ingest.ingest([corpus])
    assert second.files_changed == 1 and second.files_unchanged == 1
    assert 1 <= second.chunks_added <= 3, "only the chunks around the edit are embedded again"
    assert second.chunks_removed == second.chunks_added
    texts = [ch.text for ch in c.store.all_chunks()]
    assert not any(old_sentence in t for t in texts)
    assert any("green marble" in t for t in texts)
    assert c.store.count() == first.chunks_added
    # the changed file's offsets still point at its extracted text
    new_text = load_text(target)
    for ch in c.store.all_chunks():
        if ch.source == target.name:
            assert new_text[ch.start : ch.end] == ch.text


def test_removed_file_loses_its_chunks(tmp_path: Path, corpus: Path) -> None:
    c = _components(tmp_path / "data")
    c.ingest.ingest([corpus])
    (corpus / "003_50dedbe65a896504.txt").unlink()
    report = c.ingest.ingest([corpus])
    assert report.documents_removed == ["003_50dedbe65a896504.txt"]
    assert [d.source for d in c.ingest.list_documents()] == ["000_78f4c420c5d86458.txt"]
    answer = c.chat.answer("With which country is Russia jointly chairing the Mine Action Centre?")
    assert "Cambodia" not in answer.text


def test_bad_files_are_reported_and_skipped_while_the_rest_is_ingested(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text(
        "# Otters\n\nSea otters hold hands while they sleep so they do not drift apart.\n"
    )
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (docs / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    (docs / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (docs / "empty.txt").write_text("   \n")
    c = _components(tmp_path / "data")
    report = c.ingest.ingest([docs, tmp_path / "missing.txt"])
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == {
        "broken.pdf",
        "latin1.txt",
        "picture.png",
        "empty.txt",
        str(tmp_path / "missing.txt"),
    }
    assert "unsupported file type '.png'" in reasons["picture.png"]
    assert "cannot read .pdf" in reasons["broken.pdf"]
    assert "no text" in reasons["empty.txt"]
    assert "no such file" in reasons[str(tmp_path / "missing.txt")]
    assert [d.source for d in c.ingest.list_documents()] == ["good.md"]
    answer = c.chat.answer("Why do sea otters hold hands?")
    assert answer.citations and answer.citations[0].source == "good.md"


def test_every_supported_format_is_ingested_with_offsets_into_its_text(tmp_path: Path) -> None:
    from docx import Document as Docx
    from reportlab.pdfgen import canvas

    docs = tmp_path / "docs"
    docs.mkdir()
    fact = "The lighthouse of Varnholm was painted red in 1911."
    (docs / "a.txt").write_text(f"Plain text. {fact}\n")
    (docs / "b.md").write_text(f"# Notes\n\n- {fact.replace('Varnholm', 'Ostrel')}\n")
    (docs / "c.html").write_text(
        "<html><head><title>t</title><script>var x=1;</script></head><body><p>"
        f"{fact.replace('Varnholm', 'Kessa')}"
        "</p></body></html>"
    )
    pdf = canvas.Canvas(str(docs / "d.pdf"))
    pdf.drawString(72, 720, fact.replace("Varnholm", "Brume"))
    pdf.save()
    doc = Docx()
    doc.add_paragraph(fact.replace("Varnholm", "Tallis"))
    doc.save(str(docs / "e.docx"))

    c = _components(tmp_path / "data")
    report = c.ingest.ingest([docs])
    assert report.skipped == [] and report.files_changed == 5
    chunks = c.store.all_chunks()
    for name, place in [
        ("a.txt", "Varnholm"),
        ("b.md", "Ostrel"),
        ("c.html", "Kessa"),
        ("d.pdf", "Brume"),
        ("e.docx", "Tallis"),
    ]:
        mine = [ch for ch in chunks if ch.source == name]
        assert mine and any(place in ch.text for ch in mine), name
        text = load_text(docs / name)
        assert all(text[ch.start : ch.end] == ch.text for ch in mine)
    assert not any("var x" in ch.text for ch in chunks), "scripts are not text"


def test_embedding_model_mismatch_names_the_reindex_command(fresh_copy: Path) -> None:
    store = ChunkStore(open_client(fresh_copy), "documents", "local:some-other-model")
    with pytest.raises(EmbeddingMismatchError, match="assistant ingest --reindex"):
        store.check_embeddings()


def test_reindex_rebuilds_every_document(fresh_copy: Path) -> None:
    c = _components(fresh_copy)
    ids = {ch.id for ch in c.store.all_chunks()}
    report = c.ingest.reindex()
    assert report.chunks_added == len(ids) and {ch.id for ch in c.store.all_chunks()} == ids


def test_interrupted_ingestion_leaves_a_store_the_next_run_repairs(tmp_path: Path, corpus: Path) -> None:
    clean = _components(tmp_path / "clean")
    clean.ingest.ingest([corpus])
    expected = {(ch.id, ch.start) for ch in clean.store.all_chunks()}

    c = _components(tmp_path / "data")
    original_add, calls = c.store.add, []

    def add_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C in the middle of the run
        return original_add(*args, **kwargs)

    c.store.add = add_then_die  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        c.ingest.ingest([corpus])
    c.store.add = original_add  # type: ignore[method-assign]
    partial = c.store.count()
    assert 0 < partial < len(expected)
    for ch in c.store.all_chunks():  # what is stored is whole and points at real text
        assert load_text(corpus / ch.source)[ch.start : ch.end] == ch.text

    c.ingest.ingest([corpus])
    assert {(ch.id, ch.start) for ch in c.store.all_chunks()} == expected


def test_keyword_index_is_persisted_and_rebuilt_only_when_the_collection_changes(fresh_copy: Path) -> None:
    from vectorstore.keyword import KeywordIndex

    c = _components(fresh_copy)
    rebuilds: list[str] = []
    fresh = KeywordIndex(c.store, c.keyword_index.directory)
    original = fresh._rebuild
    fresh._rebuild = lambda version: rebuilds.append(version) or original(version)  # type: ignore[method-assign]
    for _ in range(3):
        hits = fresh.search("Mine Action Centre Cambodia", 3)
    assert rebuilds == [], "loaded from disk, not rebuilt"
    assert any("Cambodia" in ch.text for ch, _ in c.store.get([hits[0][0]]))

    shutil.rmtree(c.keyword_index.directory)  # lost: rebuilt from Chroma's stored texts
    again = KeywordIndex(c.store, c.keyword_index.directory)
    assert again.search("Mine Action Centre Cambodia", 3)[0][0] == hits[0][0]


def test_an_upload_reports_its_stages_and_each_model_batch_and_records_size_and_date(tmp_path: Path) -> None:
    """Issue 21: progress moves every few chunks (each batch the model runs), not once per 64 written."""
    c = _components(tmp_path / "data")
    data = "\n\n".join(
        f"Entry {i} of the alder register: the ferry from Quillan carried {i * 7} crates of slate and "
        f"{i * 3} barrels of cider past the weir at Morrow, logged by warden number {i}." * 3
        for i in range(120)
    ).encode()
    stages: list[str] = []
    progress: list[tuple[int, int]] = []
    started = time.time()
    report = c.ingest.add_upload(
        "alder_register.txt", data, progress=lambda d, t: progress.append((d, t)), stage=stages.append
    )
    total = report.chunks_added
    assert total > 64, "more than one write batch"
    assert stages == ["reading", "parsing", "chunking", "embedding", "saving", "indexing"]
    assert progress[0] == (0, total) and progress[-1] == (total, total)
    done = [d for d, _ in progress]
    assert done == sorted(done) and all(t == total for _, t in progress)
    assert max(b - a for a, b in pairwise(done)) <= 32, "a step is one model batch at most"
    assert len(set(done)) > 2 * (total // 64 + 1), f"more often than once per write batch: {done}"

    doc = next(d for d in c.ingest.list_documents() if d.source == "alder_register.txt")
    assert doc.size == len(data)
    assert started - 1 <= doc.ingested_at <= time.time() + 1


def test_a_document_stored_before_sizes_were_recorded_lists_none(tmp_path: Path) -> None:
    c = _components(tmp_path / "data")
    old = tmp_path / "old_note.txt"
    old.write_text("An old note about the slate quarry at Morrow, stored by an earlier version.\n")
    chunks = c.ingest.chunker.split("old_note.txt", load_document(old))
    vectors = c.embeddings.embed_documents([ch.contextual_text for ch in chunks])
    c.store.add(chunks, vectors, {"path": str(old), "root": "", "file_sha": "x", "chars": 70})
    doc = next(d for d in c.ingest.list_documents() if d.source == "old_note.txt")
    assert doc.size is None and doc.ingested_at == 0.0 and doc.collection == "default"


def test_a_one_file_upload_reads_only_its_own_stored_chunks(tmp_path: Path, corpus: Path) -> None:
    """Issue 22: an upload's cost must not grow with the store; it compares against its own file only."""
    c = _components(tmp_path / "data")
    c.ingest.ingest([corpus])  # a folder: its chunks carry the folder as their root
    note = tmp_path / "note.txt"
    note.write_text("The lamp room of the lighthouse holds a brass lens.", encoding="utf-8")
    read: list[object] = []
    original = c.store.metadatas
    c.store.metadatas = lambda where=None: read.append(where) or original(where)  # type: ignore[method-assign]
    first = c.ingest.ingest([note])
    assert None not in read, "the whole store's metadata was read for one file"
    assert len(c.store.metadatas(where={"source": "note.txt"})) == first.chunks_added == 1
    again = c.ingest.ingest([note])
    assert (again.files_unchanged, again.chunks_added) == (1, 0), "its stored chunks were found"
    assert c.ingest.ingest([corpus]).files_unchanged == 2, "a folder still finds its own"


def test_a_file_named_as_another_folders_document_is_skipped_and_that_document_kept(tmp_path: Path) -> None:
    """A document's name is its path under the folder ingested: two folders' readme.txt share one. The later
    one used to replace the first without a word (and, ingested into another collection, take it from that
    collection); it is now reported as skipped. A folder moved elsewhere still takes its documents over."""
    c = _components(tmp_path / "data")
    hr, pub = tmp_path / "hr", tmp_path / "pub"
    for folder, word in ((hr, "HERON"), (pub, "OTTER")):
        folder.mkdir()
        (folder / "readme.txt").write_text(f"The codeword of this folder is {word}.\n", encoding="utf-8")
    c.ingest.ingest([hr], collection="hr")

    report = c.ingest.ingest([pub], collection="pub")
    assert [s.path for s in report.skipped] == ["readme.txt"]
    assert "stored from" in report.skipped[0].reason and str(hr / "readme.txt") in report.skipped[0].reason
    assert report.chunks_added == report.chunks_removed == 0
    texts = [ch.text for ch in c.store.all_chunks()]
    assert any("HERON" in t for t in texts) and not any("OTTER" in t for t in texts)
    assert {d.collection for d in c.ingest.list_documents()} == {"hr"}

    both = c.ingest.ingest([hr, pub], collection="hr")  # one ingest, two files of one name: the first stays
    assert [s.path for s in both.skipped] == ["readme.txt"] and both.files_unchanged == 1

    moved = tmp_path / "hr-moved"
    hr.rename(moved)
    (moved / "readme.txt").write_text("The codeword of this folder is EGRET.\n", encoding="utf-8")
    taken = c.ingest.ingest([moved], collection="hr")
    assert not taken.skipped and taken.files_changed == 1
    assert [d.path for d in c.ingest.list_documents()] == [str((moved / "readme.txt").resolve())]


def test_reindex_reads_each_document_from_its_own_file_not_a_namesake(tmp_path: Path) -> None:
    """Reindex re-read whole folders, so a folder's file skipped for its name (or replaced by an upload)
    came back in place of the document the store held."""
    c = _components(tmp_path / "data")
    hr, pub = tmp_path / "z-hr", tmp_path / "a-pub"
    for folder, word in ((hr, "HERON"), (pub, "OTTER")):
        folder.mkdir()
        (folder / "readme.txt").write_text(f"The codeword of this folder is {word}.\n", encoding="utf-8")
    (pub / "other.txt").write_text("Another document of the public folder.\n", encoding="utf-8")
    (pub / "alias.txt").symlink_to(pub / "other.txt")  # a link inside the folder is read as a document
    c.ingest.ingest([hr], collection="hr")
    c.ingest.ingest([pub], collection="pub")  # readme.txt skipped: hr's holds the name
    c.ingest.add_upload("notes.txt", b"The first notes.\n")
    c.ingest.add_upload("readme.txt", b"The codeword of the upload is KITE.\n", replace=True, collection="hr")

    report = c.ingest.reindex()
    assert not report.skipped, report.skipped
    documents = {d.source: d.collection for d in c.ingest.list_documents()}
    assert documents == {"readme.txt": "hr", "other.txt": "pub", "alias.txt": "pub", "notes.txt": "default"}
    texts = " ".join(ch.text for ch in c.store.all_chunks())
    assert "KITE" in texts and "HERON" not in texts and "OTTER" not in texts and "The first notes" in texts


def test_reindex_does_not_follow_a_folder_swapped_for_a_symlink(tmp_path: Path) -> None:
    """S8 at reindex: a stored document's folder replaced by a link to somewhere else is not read through."""
    c = _components(tmp_path / "data")
    notes, outside = tmp_path / "notes", tmp_path / "outside"
    (notes / "sub").mkdir(parents=True)
    outside.mkdir()
    (notes / "sub" / "plan.txt").write_text("The plan is to meet on Monday.\n", encoding="utf-8")
    (outside / "plan.txt").write_text("PRIVATE KEY material that must stay out.\n", encoding="utf-8")
    c.ingest.ingest([notes])
    shutil.rmtree(notes / "sub")
    (notes / "sub").symlink_to(outside, target_is_directory=True)

    report = c.ingest.reindex()
    assert not any("PRIVATE" in ch.text for ch in c.store.all_chunks())
    assert "sub/plan.txt" in {s.path for s in report.skipped}


def test_reindex_keeps_a_folders_documents_that_sit_in_two_collections(tmp_path: Path) -> None:
    """A folder's files may end in two collections (`--watch` into another collection moves only what
    changes); reindex reads one collection at a time and must not take the other's files for gone."""
    c = _components(tmp_path / "data")
    folder = tmp_path / "notes"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text(f"Note {name} says the meeting is on Monday.\n", encoding="utf-8")
    c.ingest.ingest([folder], collection="x")
    (folder / "b.txt").write_text("Note b.txt now says the meeting is on Tuesday.\n", encoding="utf-8")
    c.ingest.sync(folder, [folder / "b.txt"], folder=True, collection="y")
    before = {d.source: d.collection for d in c.ingest.list_documents()}
    assert before == {"a.txt": "x", "b.txt": "y"}

    report = c.ingest.reindex()
    assert not report.documents_removed and not report.skipped
    assert {d.source: d.collection for d in c.ingest.list_documents()} == before
