"""The durable ingestion queue (issue 22) on a real database: a SQLite file and a real PostgreSQL server.

A job is taken by one worker only, however many ask at once; a worker that stops renewing its lease loses the
job to the next one, and can no longer write to it; a cancel reaches a queued job at once and a running one
through its worker's next report; the uploaded bytes stay until the job ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.server.ingest_jobs import stored_upload_work
from assistant.settings import Settings
from assistant.storage import Database, JobQueueService
from assistant.worker import Worker
from tests.conftest import PostgresServer, build_shared
from tests.test_jobs import big_text

# A live lease outlasts any stall of a busy machine (a 2 s one ran out between two calls under load); a test
# that needs a lease to run out gives the last renewal a short one, then waits past it.
LIVE, SHORT = 60.0, 0.5
UPLOADS = [("a.txt", b"alpha " * 100), ("b.txt", b"bravo " * 100)]
OPTIONS = {"replace": False, "collection": "default", "limit": 1_000_000}


@pytest.fixture(params=["sqlite", "postgresql"])
def jobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobQueueService]:
    if request.param == "sqlite":
        url = f"sqlite+pysqlite:///{tmp_path / 'data' / 'assistant.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.new_database()
    db = Database(url)
    yield JobQueueService(db, lease_seconds=LIVE)
    db.dispose()


def submit(jobs: JobQueueService, name: str = "a.txt (+1 more)") -> str:
    files = [{"name": n, "state": "queued"} for n, _ in UPLOADS]
    return jobs.submit(name, UPLOADS, OPTIONS, {"files": files}).id


def test_a_job_is_taken_by_one_worker_and_again_after_its_lease_runs_out(jobs: JobQueueService) -> None:
    job_id = submit(jobs)
    assert jobs.get(job_id).state == "queued"  # type: ignore[union-attr]
    assert jobs.uploads(job_id) == UPLOADS, "the bytes are kept for whichever worker takes the job"

    winners: list[str] = []
    barrier = threading.Barrier(6)

    def claim(n: int) -> None:
        barrier.wait()
        got = jobs.claim(f"w{n}")
        if got is not None:
            winners.append(f"w{n}")

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1, winners
    first = winners[0]
    record = jobs.get(job_id)
    assert record is not None and record.state == "running" and record.attempts == 1
    assert jobs.claim("late") is None, "a job under a live lease is nobody else's"
    jobs.lease_seconds = SHORT
    assert jobs.report(job_id, first, {"files": [], "chunks_done": 3}) is False  # renewed, no cancel

    time.sleep(2 * SHORT)  # the holder stops renewing (as if killed): its lease runs out
    second = jobs.claim("w-next")
    assert second is not None and second.id == job_id and second.attempts == 2
    assert second.progress["chunks_done"] == 3, "the next worker sees how far the first one got"
    assert jobs.report(job_id, first, {"chunks_done": 99}) is None, "the first worker lost the job"
    assert not jobs.finish(job_id, first, "done", None, {}, None), "and cannot end it"

    assert jobs.finish(job_id, "w-next", "done", None, {"files": []}, {"ingested": []})
    done = jobs.get(job_id)
    assert done is not None and done.state == "done" and done.finished_at is not None
    assert jobs.uploads(job_id) == [], "the bytes go when the job ends"
    assert [r.id for r in jobs.recent()] == [job_id]


def test_a_cancel_ends_a_queued_job_at_once_and_reaches_a_running_ones_worker(jobs: JobQueueService) -> None:
    queued = submit(jobs, "queued")
    cancelled = jobs.cancel(queued)
    assert cancelled is not None and cancelled.state == "cancelled" and cancelled.cancel_requested
    assert jobs.claim("w1") is None, "a cancelled job never starts"
    assert jobs.uploads(queued) == []

    running = submit(jobs, "running")
    assert jobs.claim("w1") is not None
    flagged = jobs.cancel(running)
    assert flagged is not None and flagged.state == "running" and flagged.cancel_requested
    assert jobs.report(running, "w1") is True, "the worker's next report brings the cancel back"
    assert jobs.finish(running, "w1", "cancelled", "the job was cancelled", {}, None)
    assert jobs.get(running).state == "cancelled"  # type: ignore[union-attr]
    assert jobs.cancel("0" * 32) is None


def test_a_worker_that_stops_gives_its_job_back_and_a_job_that_kills_workers_is_given_up(
    jobs: JobQueueService,
) -> None:
    job_id = submit(jobs)
    assert jobs.claim("w1") is not None
    assert jobs.release(job_id, "w1", {"files": [{"name": "a.txt", "state": "done"}]})
    again = jobs.claim("w2")
    assert again is not None and again.attempts == 1, "a stop on purpose is not a failed try"
    assert again.progress["files"][0]["state"] == "done"

    jobs.lease_seconds = SHORT
    assert jobs.report(job_id, "w2") is False  # w2's last renewal
    for n in range(3, 6):  # its workers keep dying: after max_attempts it fails instead of looping
        time.sleep(2 * SHORT)
        jobs.claim(f"w{n}")
    final = jobs.get(job_id)
    assert final is not None and final.state == "failed" and "stopped 3 times" in (final.error or "")
    assert jobs.uploads(job_id) == []


@pytest.mark.slow  # embeds some 140 chunks
def test_a_stopped_worker_gives_its_job_back_and_the_next_resumes_after_the_finished_file(
    tmp_path: Path,
) -> None:
    """Real ingestion into a real store: worker 1 finishes the first file, is stopped in the second, and the
    job goes back to the queue; worker 2 skips the first file and ingests the second whole."""
    container = build_shared(Settings(data_dir=tmp_path / "data"))
    assert container.storage is not None
    jobs, work = container.storage.jobs, stored_upload_work(container.ingest)
    files = [("first.txt", big_text("delta", 6)), ("second.txt", big_text("echo", 260))]
    progress = {
        "files": [{"name": n, "state": "queued", "chunks": 0, "chunks_total": None} for n, _ in files]
    }
    job_id = jobs.submit("first.txt (+1 more)", files, OPTIONS, progress).id

    first = Worker(jobs, work)
    runner = threading.Thread(target=first.run_one)
    runner.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        seen = jobs.get(job_id).progress.get("files", [{}, {}])  # type: ignore[union-attr]
        if seen[1].get("chunks", 0) > 0:
            break
        time.sleep(0.1)
    assert seen[0]["state"] == "done" and seen[1]["state"] == "running", seen
    first.stop()
    runner.join(120)
    given_back = jobs.get(job_id)
    assert given_back is not None and given_back.state == "queued", given_back
    assert [n for n, _ in jobs.uploads(job_id)] == ["first.txt", "second.txt"], "the bytes stay"

    assert Worker(jobs, work).run_one()
    final = jobs.get(job_id)
    assert final is not None and final.state == "done", final
    report = {item["filename"]: item for item in (final.result or {})["ingested"]}
    assert sorted(report) == ["first.txt", "second.txt"], "each file reported once"
    by_source = container.ingest.list_documents()
    chunks = {d.source: d.chunks for d in by_source}
    assert chunks["first.txt"] == report["first.txt"]["chunks_added"] > 0
    assert chunks["second.txt"] == report["second.txt"]["chunks_added"] > 64, "the second file, whole"


def test_a_worker_that_lost_its_job_stops_and_leaves_its_chunks_to_the_new_holder(
    jobs: JobQueueService,
) -> None:
    """Its lease ran out and another worker took the job: at its next report it stops at a safe point and
    keeps what it wrote (the new holder writes the same chunks, and takes them out if cancelled)."""
    from assistant.worker.lease import LeaseKeeper
    from assistant.worker.runner import restore

    submit(jobs)
    record = jobs.claim("w1")
    assert record is not None
    job = restore(record)
    keeper = LeaseKeeper(jobs, job, "w1", [], interval=60)
    keeper.beat()
    hooks = job.hooks(0)
    assert not hooks["cancelled"]() and not keeper.lost, "a live lease: the work goes on"

    jobs.lease_seconds = SHORT
    keeper.beat()  # w1's last renewal: then it stalls past its lease, and w2 takes the job
    assert not keeper.lost
    time.sleep(2 * SHORT)
    assert jobs.claim("w2") is not None
    keeper.beat()
    assert keeper.lost and not keeper.cancel_requested
    assert hooks["cancelled"]() and hooks["keep_written"](), "stop at the next batch, delete nothing"
