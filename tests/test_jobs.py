"""Background ingestion (issue 13): `POST /api/documents?wait=false` answers 202 with a job, `/api/jobs`
follows and cancels it, the Documents tab uploads through a job, and `assistant ingest --watch` keeps the
store in step with a folder.

A real server process with the real embedding model, over real HTTP; the watcher over a real folder and a
real ingest service.
"""

from __future__ import annotations

import random
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, start_server

WORDS = [
    *("harbour", "keeper", "ledger", "lantern", "tide", "gull", "rope", "anchor", "timber", "granite"),
    *("quarry", "orchard", "barley", "mill", "river", "bridge", "market", "cobbler", "weaver", "copper"),
    *("tin", "salt", "wool", "cider", "frost", "thaw", "meadow", "shepherd", "beacon", "signal"),
]
FACT = "The Quarnish lighthouse on Velmora island was rebuilt in 1887 by the engineer Tobias Wrenfield."
QUESTION = "Who rebuilt the Quarnish lighthouse on Velmora island?"
FINISHED = ("done", "failed", "cancelled")


def big_text(topic: str, paragraphs: int, fact: str = "") -> bytes:
    """Distinct paragraphs of a made-up register (a chunk per two paragraphs or so), `fact` in the middle."""
    rng = random.Random(topic)
    lines = [
        f"Entry {i} of the {topic} register. " + " ".join(rng.choice(WORDS) for _ in range(40)) + "."
        for i in range(paragraphs)
    ]
    if fact:
        lines.insert(paragraphs // 2, fact)
    return "\n\n".join(lines).encode()


@pytest.fixture(scope="module")
def jobs_server(
    seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, str, str]]:
    """The real app over a copy of the seeded store, with an admin and a member; 0.5 MB upload limit."""
    from assistant.settings import Settings
    from assistant.storage import Storage

    base = tmp_path_factory.mktemp("jobs")
    shutil.copytree(seeded_dir, base / "data")
    storage = Storage.from_settings(Settings(data_dir=base / "data"))
    admin = storage.users.add("ada", None, admin=True).api_key
    member = storage.users.add("bob", None).api_key
    storage.collections.add("default")
    storage.collections.grant("default", "bob")
    storage.close()
    srv = start_server(base / "data", base / "server.log", RAG_MAX_UPLOAD_MB="0.5")
    try:
        yield srv, admin, member
    finally:
        srv.stop()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chunk_count(url: str) -> int:
    ready = httpx.get(f"{url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    return int(ready.json()["chunks"])


def listed(url: str, key: str) -> list[str]:
    r = httpx.get(f"{url}/api/documents", headers=bearer(key), timeout=30)
    assert r.status_code == 200, r.text
    return [d["source"] for d in r.json()["documents"]]


def follow(
    url: str, key: str, job_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 400
) -> list[dict[str, Any]]:
    """Polls the job until `until(job)`; every state seen, the last one first satisfying `until`."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{url}/api/jobs/{job_id}", headers=bearer(key), timeout=30)
        assert r.status_code == 200, r.text
        seen.append(r.json())
        if until(seen[-1]):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not get there in {timeout}s; last: {seen[-1] if seen else None}")


def table_sources(table: str) -> list[str]:
    """The documents the Documents tab's table lists, in its order."""
    return re.findall(r"<tr data-source='([^']+)'", table)


def upload_later(url: str, key: str, name: str, data: bytes, **params: str) -> tuple[httpx.Response, float]:
    """A background upload's response and when it arrived, by `time.time` (the jobs' clock)."""
    r = httpx.post(
        f"{url}/api/documents",
        params={"wait": "false", **params},
        files={"files": (name, data, "text/plain")},
        headers=bearer(key),
        timeout=60,
    )
    return r, time.time()


@pytest.mark.slow  # a server process of its own (`jobs_server`)
def test_a_background_upload_answers_202_at_once_shows_progress_and_ends_done(
    jobs_server: tuple[Server, str, str],
) -> None:
    srv, admin, _ = jobs_server
    data = big_text("alpha", 390, FACT)  # about 195 chunks: four embedding batches of 64

    r, answered_at = upload_later(srv.url, admin, "velmora_register.txt", data)
    assert r.status_code == 202, r.text
    job = r.json()
    assert re.fullmatch(r"[0-9a-f]{32}", job["id"]), "an unguessable uuid4 hex, not a counter"
    assert job["state"] in ("queued", "running") and job["files_total"] == 1
    assert job["links"]["job"] == f"/api/jobs/{job['id']}" == r.headers["location"]

    reads_while_running: list[int] = []

    def watch_and_read(state: dict[str, Any]) -> bool:
        if state["state"] == "running" and len(reads_while_running) < 6:  # the server answers meanwhile
            reads_while_running.append(httpx.get(f"{srv.url}/readyz", timeout=30).status_code)
            docs = httpx.get(f"{srv.url}/api/documents", headers=bearer(admin), timeout=30)
            reads_while_running.append(docs.status_code)
        return state["state"] in FINISHED

    seen = follow(srv.url, admin, job["id"], watch_and_read)
    final = seen[-1]
    assert final["state"] == "done", final
    assert reads_while_running and set(reads_while_running) == {200}, reads_while_running
    # "at once" on any machine: the client held its 202 while the server was still ingesting
    assert answered_at < final["finished_at"], (answered_at, final["started_at"], final["finished_at"])

    done = [s["chunks_done"] for s in seen]
    assert done == sorted(done), "progress never goes back"
    assert any(0 < s["chunks_done"] < s["chunks_total"] for s in seen), [
        (s["state"], s["chunks_done"], s["chunks_total"]) for s in seen
    ]
    entry = final["files"][0]
    assert entry["name"] == "velmora_register.txt" and entry["state"] == "done" and entry["error"] is None
    assert entry["chunks"] == entry["chunks_total"] == final["chunks_done"] == final["chunks_total"] > 64
    assert final["files_done"] == 1 and final["error"] is None
    report = final["report"]["ingested"][0]
    assert report["filename"] == "velmora_register.txt" and report["chunks_added"] == entry["chunks_total"]

    assert "velmora_register.txt" in listed(srv.url, admin)
    recent = httpx.get(f"{srv.url}/api/jobs", headers=bearer(admin), timeout=30).json()["jobs"]
    assert job["id"] in [j["id"] for j in recent], "a finished job stays listed"
    answer = httpx.post(
        f"{srv.url}/api/chat", json={"message": QUESTION}, headers=bearer(admin), timeout=120
    ).json()
    assert "Wrenfield" in answer["answer"], answer["answer"]
    assert answer["citations"][0]["source"] == "velmora_register.txt"


@pytest.mark.slow  # a server process of its own (`jobs_server`)
def test_cancelling_a_running_upload_leaves_the_store_as_it_was(jobs_server: tuple[Server, str, str]) -> None:
    srv, admin, _ = jobs_server
    name = "cancelled_register.txt"
    data = big_text("bravo", 600)  # about 300 chunks: the cancel lands long before the last batch
    before = chunk_count(srv.url)

    r, _ = upload_later(srv.url, admin, name, data)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    # past the first 64 (a write batch): that batch is in the store while the second one embeds
    seen = follow(srv.url, admin, job_id, lambda s: s["chunks_done"] > 64 or s["state"] in FINISHED)
    assert seen[-1]["state"] == "running" and 64 < seen[-1]["chunks_done"] < seen[-1]["chunks_total"], seen[
        -1
    ]
    assert chunk_count(srv.url) > before, "the first batch is in the store: the cancel must take it out"

    r = httpx.delete(f"{srv.url}/api/jobs/{job_id}", headers=bearer(admin), timeout=30)
    assert r.status_code == 200 and r.json()["cancel_requested"], r.text
    final = follow(srv.url, admin, job_id, lambda s: s["state"] in FINISHED)[-1]
    assert final["state"] == "cancelled", final
    assert final["files"][0]["state"] == "cancelled" and final["report"] is None
    assert "cancel" in final["error"]

    assert chunk_count(srv.url) == before, "no chunk of the cancelled file is left"
    assert name not in listed(srv.url, admin)
    assert not (srv.data_dir / "uploads" / name).exists()
    scoped = httpx.post(
        f"{srv.url}/api/chat",
        json={"message": "What does entry 3 of the bravo register say?", "sources": [name]},
        headers=bearer(admin),
        timeout=120,
    ).json()
    assert scoped["citations"] == [] and scoped["retrieved"] == []

    again = httpx.post(
        f"{srv.url}/api/documents",
        files={"files": (name, data, "text/plain")},
        headers=bearer(admin),
        timeout=400,
    )
    assert again.status_code == 200, again.text
    assert again.json()["ingested"][0]["chunks_added"] == final["files"][0]["chunks_total"]
    assert name in listed(srv.url, admin)


@pytest.mark.slow  # a server process of its own (`jobs_server`)
def test_unknown_jobs_are_404_and_jobs_are_for_admins(jobs_server: tuple[Server, str, str]) -> None:
    srv, admin, member = jobs_server
    unknown = uuid.uuid4().hex
    for method in ("GET", "DELETE"):
        r = httpx.request(method, f"{srv.url}/api/jobs/{unknown}", headers=bearer(admin), timeout=30)
        assert r.status_code == 404, r.text
        error = r.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["code"] == "not_found"

    small = {"files": ("small.txt", b"A small note about otters.\n", "text/plain")}
    for headers, status in (({}, 401), (bearer("ga_not-a-key"), 401), (bearer(member), 403)):
        assert httpx.get(f"{srv.url}/api/jobs", headers=headers, timeout=30).status_code == status
        for method in ("GET", "DELETE"):
            r = httpx.request(method, f"{srv.url}/api/jobs/{unknown}", headers=headers, timeout=30)
            assert r.status_code == status, (method, headers, r.text)
        r = httpx.post(
            f"{srv.url}/api/documents", params={"wait": "false"}, files=small, headers=headers, timeout=30
        )
        assert r.status_code == status, r.text


@pytest.mark.slow  # a server process of its own (`jobs_server`)
def test_a_background_upload_is_checked_before_the_202(jobs_server: tuple[Server, str, str]) -> None:
    srv, admin, _ = jobs_server
    cases = [
        ("run.exe", b"MZ", {}, 415, "unsupported file type"),
        ("../../escaped.txt", b"text", {}, 400, "invalid file name"),
        ("big.txt", b"word " * 120_000, {}, 413, "limit"),
        ("000_78f4c420c5d86458.txt", b"A forged seed.\n", {}, 409, "already exists"),
        ("fine.txt", b"text", {"collection": "not a name!"}, 400, "collection"),
    ]
    for name, data, form, status, words in cases:
        r = httpx.post(
            f"{srv.url}/api/documents",
            params={"wait": "false"},
            files={"files": (name, data, "text/plain")},
            data=form,
            headers=bearer(admin),
            timeout=60,
        )
        assert r.status_code == status, (name, r.text)
        assert words in r.json()["error"]["message"], r.text
    assert "fine.txt" not in listed(srv.url, admin)


def test_a_queued_job_never_starts_and_finished_jobs_are_kept_for_a_bounded_count() -> None:
    from vectorstore.errors import JobCancelled, QueueFullError
    from vectorstore.jobs import IngestQueue

    queue = IngestQueue(workers=1, capacity=1, keep=2)
    release, ran = threading.Event(), []
    busy = queue.submit_job("busy", lambda job: release.wait(30), files=["busy.txt"])
    waiting = queue.submit_job("waiting", lambda job: ran.append(job.id), files=["waiting.txt"])
    with pytest.raises(QueueFullError):
        queue.submit_job("refused", lambda job: None)
    assert waiting.state == "queued"
    assert queue.cancel(waiting.id) is waiting and waiting.state == "cancelled"
    assert isinstance(waiting.future.exception(timeout=5), JobCancelled)
    assert waiting.snapshot()["files"][0]["state"] == "cancelled"
    assert queue.submit_job("next", lambda job: "ok").id, "the cancelled job's slot is free at once"
    release.set()
    assert busy.future.result(timeout=10) is True
    queue.shutdown(wait=True)
    assert ran == [], "a job cancelled while queued never runs"
    assert busy.state == "done" and busy.snapshot()["files"][0]["state"] == "done"
    assert len(queue.jobs()) == 2, "only the last `keep` finished jobs are kept"


# -- ingest --watch ---------------------------------------------------------------------------------------
def write_atomically(path: Path, text: str) -> None:
    """As editors save: a hidden temp file (never watched), then a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def wait_for(lines: list[str], pattern: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in lines if re.search(pattern, line)]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no line matching {pattern!r} in {timeout}s: {lines}")


def test_watch_ingests_added_and_changed_files_and_removes_deleted_ones(tmp_path: Path) -> None:
    from assistant.settings import Settings
    from tests.conftest import build_shared
    from vectorstore.watch import watch

    ingest = build_shared(Settings(data_dir=tmp_path / "data")).ingest
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    stop, ready, lines = threading.Event(), threading.Event(), []
    watcher = threading.Thread(
        target=watch, args=(ingest, [folder], stop, lines.append), kwargs={"ready": ready, "tick_ms": 200}
    )
    watcher.start()
    try:
        assert ready.wait(30), "the watch never started"

        def texts() -> dict[str, str]:
            return {c.source: c.text for c in ingest.store.all_chunks()}

        write_atomically(folder / "sub" / "otters.txt", "Otters of the Velmora river eat crayfish.\n")
        assert wait_for(lines, r"^ingested sub/otters\.txt: \d+ chunks? added")
        assert "crayfish" in texts()["sub/otters.txt"]

        write_atomically(folder / "sub" / "otters.txt", "Otters of the Velmora river eat eels in winter.\n")
        wait_for(lines, r"^ingested sub/otters\.txt: \d+ chunks? added, \d+ removed")
        assert "eels" in texts()["sub/otters.txt"] and "crayfish" not in texts()["sub/otters.txt"]

        (folder / ".hidden.txt").write_text("A secret that must never be ingested.\n")
        (folder / "sub" / "otters.txt").unlink()
        wait_for(lines, r"^removed sub/otters\.txt")
        assert texts() == {}, "the deleted file's document is gone, the hidden file never came in"
        assert not any("hidden" in line for line in lines), lines
    finally:
        stop.set()
        watcher.join(30)
    assert not watcher.is_alive(), "the stop event ends the watch"


# -- the Documents tab ------------------------------------------------------------------------------------
def settings_for(data: Path) -> Any:
    from assistant.settings import Settings

    return Settings(data_dir=data)


async def collect(steps: Any, on_step: Callable[[tuple[Any, ...]], None]) -> list[tuple[Any, ...]]:
    seen = []
    async for step in steps:
        seen.append(step)
        on_step(step)
    return seen


def test_the_documents_tab_uploads_through_a_job_shows_progress_and_cancels(tmp_path: Path) -> None:
    import asyncio

    from assistant.container import build_components
    from assistant.ui.documents import DocumentsEvents
    from vectorstore.jobs import IngestQueue

    ingest = build_components(settings_for(tmp_path / "data")).ingest
    queue = IngestQueue()
    events = DocumentsEvents(ingest, queue, 1_000_000)
    (tmp_path / "in").mkdir()
    small, big = tmp_path / "in" / "small_note.txt", tmp_path / "in" / "long_register.txt"
    small.write_text("A short note: the otters of the Velmora river eat crayfish.\n")
    big.write_bytes(big_text("charlie", 220))

    def cancel_once_embedding(step: tuple[Any, ...]) -> None:
        status, job_id = step[0], step[4]
        if isinstance(job_id, str) and re.search(r"long_register\.txt\*\*: embedding [1-9][\d,]* of", status):
            events.cancel(job_id)

    steps = asyncio.run(collect(events.upload([str(small), str(big)], False, None), cancel_once_embedding))
    progress = [s[0] for s in steps[:-1]]
    assert progress and all(re.match(r"\*\*Adding 2 files: \d+%\*\*", p) for p in progress), progress
    assert any(
        re.search(r"→ \*\*long_register\.txt\*\*: embedding \d+ of [\d,]+ chunks \(\d+%\)", p)
        for p in progress
    ), progress
    final = steps[-1]
    assert final[0].startswith("✓ **small_note.txt** added"), final[0]
    assert "✗ **long_register.txt** was not added: the upload was cancelled." in final[0]
    assert table_sources(final[1]) == ["small_note.txt"], "the table: the cancelled file is not in"
    assert {c.source for c in ingest.store.all_chunks()} == {"small_note.txt"}
    assert queue.jobs()[0].state == "cancelled"
    queue.shutdown()


def test_a_member_sees_only_the_documents_of_their_collections_in_the_tab(tmp_path: Path) -> None:
    import gradio as gr

    from assistant.access import Gate
    from assistant.container import build_components
    from assistant.storage import Storage
    from assistant.ui.documents import DocumentsEvents
    from vectorstore.jobs import IngestQueue

    settings = settings_for(tmp_path / "data")
    ingest = build_components(settings).ingest
    for collection in ("default", "moon", "hr"):
        folder = tmp_path / collection
        folder.mkdir()
        (folder / f"{collection}_notes.txt").write_text(f"Notes of the {collection} collection.\n")
        ingest.ingest([folder], collection=collection)
    storage = Storage.from_settings(settings)
    admin = storage.users.add("ada", None, admin=True).api_key
    member = storage.users.add("bob", None).api_key
    for collection in ("default", "moon", "hr"):
        storage.collections.add(collection)
    storage.collections.grant("moon", "bob")
    gate = Gate.from_settings(settings, storage.users)
    events = DocumentsEvents(ingest, IngestQueue(), 1_000_000, gate)  # the gate's database: no storage given

    def shown(key: str | None) -> list[str]:
        request = gr.Request(headers={"authorization": f"Bearer {key}"} if key else {})
        return table_sources(events.refresh(request)[0])

    assert shown(admin) == ["default_notes.txt", "hr_notes.txt", "moon_notes.txt"]
    assert shown(member) == ["moon_notes.txt"]
    assert shown(None) == [], "no credential, nothing"
    storage.close()


def test_a_jobs_percentage_counts_each_file_by_its_chunks_embedded() -> None:
    from concurrent.futures import Future

    from vectorstore.jobs import FileProgress, Job

    job: Job[str] = Job("two", Future(), [FileProgress("a.txt"), FileProgress("b.txt")])
    job.state = "running"
    assert job.snapshot()["percent"] == 0
    job.file_started(0)
    assert job.snapshot()["files"][0]["stage"] == "reading"
    job.file_stage(0, "embedding")
    job.file_progress(0, 50, 200)
    snap = job.snapshot()
    assert snap["percent"] == 12 and snap["files"][0]["stage"] == "embedding"
    job.file_finished(0, "done")
    job.file_started(1)
    job.file_progress(1, 199, 200)
    assert job.snapshot()["percent"] == 99 and job.snapshot()["files"][0]["stage"] is None
    job._finish("done", result="ok")
    assert job.snapshot()["percent"] == 100

    pdf: Job[str] = Job("pdf", Future(), [FileProgress("manual.pdf")])
    pdf.state = "running"
    pdf.file_started(0)
    pdf.file_pages(0, 50, 100)  # a PDF's parse counts for a quarter of it
    assert pdf.snapshot()["percent"] == 12 and pdf.snapshot()["files"][0]["pages_total"] == 100
    pdf.file_progress(0, 100, 200)
    assert pdf.snapshot()["percent"] == 62
