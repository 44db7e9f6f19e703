"""Storage safety (issue 11): uploads that replace, zip bombs, symlinks, several processes on one data dir,
the keyword index's snapshots, interrupted ingests.

Real Chroma stores on disk and real processes; a tiny deterministic embedding stands in for the model so each
process starts in a second or two.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from tests.conftest import ROOT, clean_env
from tests.fakes import HashEmbeddings, hash_vector
from vectorstore.chunking import Chunker
from vectorstore.embeddings import LazyEmbeddings
from vectorstore.errors import LoadError
from vectorstore.ingest import IngestService
from vectorstore.keyword import KeywordIndex
from vectorstore.store import ChunkStore, open_client

MODEL_ID = "test:sha256-16"
COLLECTION = "documents"


def _lazy(embeddings: Embeddings | None = None) -> LazyEmbeddings:
    model = embeddings or HashEmbeddings()
    return LazyEmbeddings(MODEL_ID, lambda: model)


def _service(data: Path, embeddings: Embeddings | None = None, batch_size: int = 64) -> IngestService:
    store = ChunkStore(open_client(data), COLLECTION, MODEL_ID)
    index = KeywordIndex(store, data / "bm25" / COLLECTION)
    return IngestService(store, index, _lazy(embeddings), Chunker(300, 30), data / "uploads", batch_size)


def _paragraphs(topic: str, n: int) -> str:
    return "\n\n".join(
        f"Paragraph {i} about {topic}: the {topic} number {i} was recorded in the ledger of year {1900 + i}, "
        f"with notes on its keeper, its colour and the weather that season."
        for i in range(n)
    )


def _child(*args: str, wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    """This module run as a separate Python process (see `child_main`)."""
    cmd = [sys.executable, "-c", "from tests.test_store_safety import child_main; child_main()", *args]
    env = clean_env(PYTHONPATH=str(ROOT))
    if wait:
        done = subprocess.run(cmd, cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        return done
    return subprocess.Popen(
        cmd, cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def child_main() -> None:
    """Entry point of the helper processes: `ingest DATA PATH DELAY READY GO` or `write DATA FILE DELETE`."""
    mode, data = sys.argv[1], Path(sys.argv[2])
    if mode == "ingest":  # two of these race on one file
        path, delay, ready, go = Path(sys.argv[3]), float(sys.argv[4]), Path(sys.argv[5]), Path(sys.argv[6])
        service = _service(data, HashEmbeddings(delay=delay), batch_size=2)
        ready.touch()
        while not go.exists():
            time.sleep(0.01)
        print(json.dumps(service.ingest([path]).as_dict()))
    elif mode == "write":  # another process adds a document and deletes one
        service = _service(data)
        service.ingest([Path(sys.argv[3])])
        service.delete(sys.argv[4])
    else:
        raise SystemExit(f"unknown mode {mode}")


# -- S2: an upload never silently replaces a document ----------------------------------------------------
def test_an_upload_named_like_an_existing_document_is_refused_unless_replace(tmp_path: Path) -> None:
    from vectorstore.errors import DocumentExistsError, UploadError

    docs = tmp_path / "seeds"
    docs.mkdir()
    (docs / "treaty.txt").write_text("The treaty was signed in Vientiane by both ministers.\n")
    service = _service(tmp_path / "data")
    service.ingest([docs])

    # a name taken by a folder-ingested document (a seed)
    with pytest.raises(DocumentExistsError) as refused:
        service.add_upload("treaty.txt", b"The treaty was signed in Paris.\n")
    expected = "a document named 'treaty.txt' already exists; pass replace=true to replace it"
    assert expected in str(refused.value)
    assert isinstance(refused.value, UploadError), "adapters that know only UploadError still refuse it"
    texts = [c.text.strip() for c in service.store.all_chunks()]
    assert texts == ["The treaty was signed in Vientiane by both ministers."]
    assert not (tmp_path / "data" / "uploads" / "treaty.txt").exists(), "nothing written"

    # a name taken by an earlier upload
    service.add_upload("notes.txt", b"First notes about otters.\n")
    with pytest.raises(DocumentExistsError):
        service.add_upload("notes.txt", b"Forged notes about otters.\n")
    assert "First notes" in (tmp_path / "data" / "uploads" / "notes.txt").read_text()

    # asked for: replaced
    report = service.add_upload("notes.txt", b"Second notes about otters.\n", replace=True)
    assert report.files_changed == 1
    by_source = {c.source: c.text.strip() for c in service.store.all_chunks()}
    assert by_source["notes.txt"] == "Second notes about otters."
    service.add_upload("treaty.txt", b"The treaty was signed in Paris.\n", replace=True)
    assert {c.source: c.text.strip() for c in service.store.all_chunks()}["treaty.txt"].endswith("Paris.")


# -- S7: zip bombs and oversized PDFs are refused before parsing ----------------------------------------
def _docx_bomb(path: Path, xml_mb: int) -> None:
    body = "<w:p><w:r><w:t>bomb</w:t></w:r></w:p>" * (xml_mb * 1024 * 1024 // 38)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", f"<w:document><w:body>{body}</w:body></w:document>")


def test_a_docx_zip_bomb_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    from vectorstore.safety import ArchiveLimits, check_archive, check_before_parse

    bomb = tmp_path / "report.docx"
    _docx_bomb(bomb, xml_mb=24)
    assert bomb.stat().st_size < 200_000, "a small file..."
    with pytest.raises(LoadError) as refused:
        check_before_parse(bomb)
    message = str(refused.value)
    assert "refused .docx file" in message and "word/document.xml" in message and "zip bomb" in message

    # the other limits, on small archives with small limits
    many = tmp_path / "many.docx"
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(12):
            archive.writestr(f"part{i}.xml", "<x/>")
    with pytest.raises(LoadError, match="12 parts, more than the limit of 10"):
        check_archive(many, ArchiveLimits(max_members=10))
    big = tmp_path / "big.docx"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.bin", os.urandom(300_000))
        archive.writestr("b.bin", os.urandom(300_000))
    with pytest.raises(LoadError, match="expands to more than"):
        check_archive(big, ArchiveLimits(max_total_bytes=500_000))
    fake = tmp_path / "fake.docx"
    fake.write_bytes(b"not a zip at all")
    with pytest.raises(LoadError, match="not a valid zip archive"):
        check_before_parse(fake)


def test_real_documents_pass_the_bounds_and_pdf_pages_are_bounded(tmp_path: Path) -> None:
    from docx import Document as Docx
    from reportlab.pdfgen import canvas

    from vectorstore.safety import PdfLimits, check_before_parse, check_pdf

    docx = tmp_path / "real.docx"
    document = Docx()
    for i in range(300):
        document.add_paragraph(f"Paragraph {i}: the lighthouse keeper logged the weather. " * 5)
    document.save(str(docx))
    check_before_parse(docx)  # no error

    pdf = tmp_path / "three.pdf"
    sheet = canvas.Canvas(str(pdf))
    for page in range(3):
        sheet.drawString(72, 720, f"Page {page + 1} of the harbour log.")
        sheet.showPage()
    sheet.save()
    check_before_parse(pdf)
    assert check_pdf(pdf) == 3
    with pytest.raises(LoadError, match="3 pages, more than the limit of 2"):
        check_pdf(pdf, PdfLimits(max_pages=2))
    with pytest.raises(LoadError, match="more than the limit of"):
        check_pdf(pdf, PdfLimits(max_bytes=100))
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(LoadError, match=r"cannot read \.pdf"):
        check_pdf(broken)


# -- S8: folder ingest does not follow symlinks out of the folder ---------------------------------------
def test_symlinks_leaving_the_ingested_folder_are_skipped_and_reported(tmp_path: Path) -> None:
    outside = tmp_path / "home"
    (outside / ".ssh").mkdir(parents=True)
    (outside / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY----- secretkeymaterial\n")
    (outside / "private").mkdir()
    (outside / "private" / "diary.txt").write_text("Dear diary, the safe code is 4711.\n")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text("Sea otters hold hands while they sleep.\n")
    (docs / ".env").write_text("API_KEY=hiddenvalue\n")
    (docs / "innocent.txt").symlink_to(outside / ".ssh" / "id_rsa")
    (docs / "sub" / "notes.txt").symlink_to(outside / "private" / "diary.txt")
    (docs / "linked").symlink_to(outside / "private", target_is_directory=True)
    (docs / "env.txt").symlink_to(docs / ".env")
    (docs / "alias.txt").symlink_to(docs / "a.txt")  # stays inside: fine

    service = _service(tmp_path / "data")
    report = service.ingest([docs])
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == {"innocent.txt", "sub/notes.txt", "linked", "env.txt"}
    assert "outside the ingested folder" in reasons["innocent.txt"]
    assert "outside the ingested folder" in reasons["linked"]
    assert "hidden" in reasons["env.txt"]
    assert sorted(d.source for d in service.list_documents()) == ["a.txt", "alias.txt"]
    text = " ".join(c.text for c in service.store.all_chunks())
    assert "secretkeymaterial" not in text and "4711" not in text and "hiddenvalue" not in text


# -- S11: a process that did not write sees the other process's writes, without errors ------------------
def test_a_process_reads_and_writes_correctly_after_another_process_wrote(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = tmp_path / "old.txt"
    old.write_text(_paragraphs("otter", 6))
    service = _service(data)
    service.ingest([old])
    probe = hash_vector("lighthouse")
    assert {c.source for c, _ in service.store.query(probe, 5)} == {"old.txt"}  # the index is now in memory
    assert service.keyword_index.search("otter", 3)

    new = tmp_path / "new.txt"
    new.write_text(_paragraphs("lighthouse", 8))
    _child("write", str(data), str(new), "old.txt")  # another process: adds new.txt, deletes old.txt

    hits = service.store.query(probe, 10)
    assert {c.source for c, _ in hits} == {"new.txt"}, "no deleted chunks, and the new ones are found"
    assert all(c.text for c, _ in hits)
    keyword = service.keyword_index.search("lighthouse", 3)
    assert keyword and {c.source for c, _ in service.store.get([i for i, _ in keyword])} == {"new.txt"}
    assert [d.source for d in service.list_documents()] == ["new.txt"]

    # and this process's own write after the other's keeps both
    service.add_upload("third.txt", _paragraphs("harbour", 3).encode())
    assert sorted(d.source for d in service.list_documents()) == ["new.txt", "third.txt"]
    total = service.store.count()
    assert len(service.store.query(probe, 100)) == total
    fresh = _service(data)  # what a process started now sees
    assert fresh.store.count() == total
    assert sorted(d.source for d in fresh.list_documents()) == ["new.txt", "third.txt"]


def test_a_writer_waiting_too_long_for_another_process_gets_a_clear_error(tmp_path: Path) -> None:
    from vectorstore.errors import DataDirBusyError
    from vectorstore.locking import data_dir_write_lock

    holder = data_dir_write_lock(tmp_path, timeout=5)
    waiter = data_dir_write_lock(tmp_path, timeout=0.3)
    errors: list[BaseException] = []

    def other() -> None:  # another thread with its own lock file handle: the same as another process
        try:
            with waiter:
                pass
        except BaseException as exc:
            errors.append(exc)

    with holder:
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(10)
    assert len(errors) == 1 and isinstance(errors[0], DataDirBusyError)
    assert f"pid {os.getpid()}" in str(errors[0]) and "writing to the data dir" in str(errors[0])
    with waiter:  # released: free again
        pass


# -- S12: the keyword index is swapped whole -----------------------------------------------------------
def _store_with(client, name: str, texts: list[str]) -> ChunkStore:
    from vectorstore.chunking import Chunk, content_id

    store = ChunkStore(client, name, MODEL_ID)
    chunks = [Chunk(content_id(name, t), f"{name}.txt", t, 0, len(t)) for t in texts]
    store.add(chunks, [hash_vector(t) for t in texts], {"file_sha": "x"})
    return store


def test_a_search_holding_the_index_sees_it_whole_while_a_change_swaps_in_the_next(tmp_path: Path) -> None:
    client = open_client(tmp_path / "data")
    store = _store_with(client, "kwstore", [f"zebra number {i} grazes" for i in range(30)])
    reader = KeywordIndex(store, tmp_path / "data" / "bm25" / "kw")
    assert len(reader.search("zebra", 50)) == 30
    assert reader._current is not None
    held = reader._current.index  # what a search running in another thread has in hand

    store.delete([c.id for c in store.all_chunks()][5:])  # meanwhile another process shrinks the store
    assert len(reader.search("zebra", 50)) == 5, "the reader followed the change"
    assert len(held.search(["zebra"], 50)) == 30, "the index in hand was not changed under the search"
    assert {i for i, _ in held.search(["zebra"], 50)} >= {i for i, _ in reader.search("zebra", 50)}


def test_concurrent_saves_never_tear_the_keyword_index(tmp_path: Path) -> None:
    client = open_client(tmp_path / "data")
    directory = tmp_path / "data" / "bm25" / "shared"
    store = _store_with(client, "kwa", [f"zebra alpha {i}" for i in range(10)])
    ids = {c.id for c in store.all_chunks()}
    # Two writers (as two processes would, each with its own lock handle) and a reader, on one directory.
    writers = [KeywordIndex(store, directory), KeywordIndex(store, directory)]
    reader = KeywordIndex(store, directory)
    errors: list[BaseException] = []
    stop = threading.Event()

    def write(writer: KeywordIndex) -> None:
        try:
            for _ in range(15):
                writer._rebuild(store.version)
        except BaseException as exc:
            errors.append(exc)

    loads = 0

    def read() -> None:
        nonlocal loads
        try:
            while not stop.is_set():
                state = reader._load()
                if state is not None:
                    loads += 1
                    got = {i for i, _ in state.index.search(["zebra"], 100)}
                    assert got == ids, f"torn snapshot: {len(got)} ids"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in writers] + [threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads[:2]:
        t.join(120)
    stop.set()
    threads[2].join(30)
    assert not errors, errors[:3]
    assert loads > 0
    leftovers = [p.name for p in directory.iterdir() if p.name.startswith(".")]
    assert leftovers == [], "no temporary folders left behind"
    assert len([p for p in directory.iterdir() if p.name.startswith("snap-")]) <= 2


# -- S13: an interrupted ingest is repaired by the next run --------------------------------------------
def test_an_ingest_interrupted_inside_a_new_file_is_completed_by_the_next_run(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "long.txt").write_text(_paragraphs("lighthouse", 12))
    service = _service(tmp_path / "data", batch_size=2)
    service.embeddings = _lazy(HashEmbeddings(fail_after=1))  # dies after the first batch
    with pytest.raises(RuntimeError, match="killed"):
        service.ingest([docs])
    assert service.store.count() == 2, "a partial file is in the store"

    service.embeddings = _lazy()
    report = service.ingest([docs])
    assert (report.files_changed, report.files_unchanged) == (1, 0), "the partial file is processed again"
    assert report.chunks_kept == 2 and report.chunks_added >= 6, "only the missing chunks are embedded"
    chunks = service.store.all_chunks()
    assert len(chunks) == report.chunks_kept + report.chunks_added
    sha = hashlib.sha256((docs / "long.txt").read_bytes()).hexdigest()
    assert {c.metadata["file_sha"] for c in chunks} == {sha}
    again = service.ingest([docs])
    assert (again.files_unchanged, again.chunks_added) == (1, 0)


@pytest.mark.slow
# -- S14: two processes ingesting one file keep one version --------------------------------------------
def test_two_processes_ingesting_the_same_file_keep_one_version(tmp_path: Path) -> None:
    data = tmp_path / "data"
    versions = {}
    for name, topic in (("one", "otter"), ("two", "heron")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "notes.txt").write_text(_paragraphs(topic, 8))
        versions[topic] = folder / "notes.txt"
    go = tmp_path / "go"
    readies = [tmp_path / "ready-otter", tmp_path / "ready-heron"]
    procs = [
        _child("ingest", str(data), str(versions[topic]), "0.2", str(ready), str(go), wait=False)
        for topic, ready in zip(("otter", "heron"), readies, strict=True)
    ]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in readies):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), [
            p.communicate()[1][-2000:] for p in procs if p.poll() is not None
        ]
        time.sleep(0.05)
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-3000:]

    chunks = [c for c in _service(data).store.all_chunks() if c.source == "notes.txt"]
    topics = {t for t in ("otter", "heron") if any(t in c.text for c in chunks)}
    assert len(topics) == 1, f"both versions kept: {len(chunks)} chunks"
    expected = hashlib.sha256(versions[topics.pop()].read_bytes()).hexdigest()
    assert {c.metadata["file_sha"] for c in chunks} == {expected}
