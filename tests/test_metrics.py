"""GET /metrics on the real server with users (the session's team server): Prometheus text, parsed by
prometheus_client's own parser, moving as people chat and upload; for admins only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from assistant.answering.extractive import _REASONS
from assistant.answering.service import Answer
from assistant.metrics import Metrics, refusal_kind
from tests.conftest import MOON_QUESTION, TeamServer

FAR = "What is the boiling point of mercury on Jupiter's moons?"
UNKNOWN_NAME = "What does the Quixotl accord say about the Vexmar treaty?"
SCRATCH = b"The Brellwick protocol. The Brellwick protocol sets the tide tables of Port Ossen every spring."


def client(team: TeamServer, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=team.url, headers=headers, timeout=300)


def scrape(team: TeamServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as (name, sorted labels) → value, through prometheus_client's parser."""
    with client(team, team.team.admin_key) as admin:
        r = admin.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """A sample's value, or the sum over the samples whose labels include `labels` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= set(got))


def families(team: TeamServer) -> set[str]:
    with client(team, team.team.admin_key) as admin:
        return {family.name for family in text_string_to_metric_families(admin.get("/metrics").text)}


@pytest.fixture
def chats(team_server: TeamServer) -> Iterator[tuple[dict[Any, float], dict[str, dict[str, Any]]]]:
    """/metrics before, and three chats as ada: one answered, two refused for different reasons."""
    before = scrape(team_server)
    answers: dict[str, dict[str, Any]] = {}
    with client(team_server, team_server.team.admin_key) as ada:
        for name, question in (("answered", MOON_QUESTION), ("far", FAR), ("unknown", UNKNOWN_NAME)):
            r = ada.post("/api/chat", json={"message": question})
            assert r.status_code == 200, r.text
            answers[name] = r.json()
    yield before, answers


@pytest.mark.slow  # the session's team server is a process of its own
def test_answers_are_counted_by_outcome_and_refusal_reason(team_server: TeamServer, chats: Any) -> None:
    before, answers = chats
    after = scrape(team_server)
    assert not answers["answered"]["refused"]
    assert answers["far"]["refused"] and answers["unknown"]["refused"]

    def moved(**labels: str) -> float:
        return value(after, "assistant_answers_total", **labels) - value(
            before, "assistant_answers_total", **labels
        )

    assert moved(outcome="answered") == 1
    assert moved(outcome="refused") == 2
    # each refusal under its reason's kind, named without the question's words
    assert moved(outcome="refused", reason="low_relevance") == 1, answers["far"]["refusal_reason"]
    assert moved(outcome="refused", reason="names_missing") == 1, answers["unknown"]["refusal_reason"]
    assert not any("Vexmar" in str(key) or "Jupiter" in str(key) for key in after)
    # retrieval for all three, composing for those past the relevance gate
    assert (
        value(after, "assistant_retrieval_duration_seconds_count")
        - value(before, "assistant_retrieval_duration_seconds_count")
        == 3
    )
    assert value(after, "assistant_generation_duration_seconds_count") > value(
        before, "assistant_generation_duration_seconds_count"
    )


@pytest.mark.slow  # the session's team server is a process of its own
def test_request_latency_is_labelled_by_route_template(team_server: TeamServer, chats: Any) -> None:
    before, _ = chats
    with client(team_server, team_server.team.admin_key) as ada:
        assert ada.get("/api/jobs/no-such-job").status_code == 404
        assert ada.get("/api/conversations/nope-123").status_code == 404
    after = scrape(team_server)
    count = "assistant_request_duration_seconds_count"
    assert (
        value(after, count, route="/api/chat", method="POST", status="200")
        - value(before, count, route="/api/chat", method="POST", status="200")
        == 3
    )
    assert value(after, count, route="/api/jobs/{job_id}", status="404") >= 1
    routes = {dict(labels)["route"] for name, labels in after if name == count}
    assert not any("no-such-job" in r or "nope-123" in r for r in routes), routes


@pytest.mark.slow  # the session's team server is a process of its own
def test_an_upload_counts_its_chunks_seconds_and_job(team_server: TeamServer) -> None:
    before = scrape(team_server)
    with client(team_server, team_server.team.admin_key) as ada:
        r = ada.post(
            "/api/documents",
            files={"files": ("brellwick.txt", SCRATCH, "text/plain")},
            data={"collection": "scratch"},
        )
        assert r.status_code == 200, r.text
        try:
            after = scrape(team_server)
        finally:
            assert ada.delete("/api/documents/brellwick.txt").status_code == 200
    added = r.json()["ingested"][0]["chunks_added"]
    assert (
        value(after, "assistant_ingest_chunks_total") - value(before, "assistant_ingest_chunks_total")
        == added
    )
    assert value(after, "assistant_ingest_seconds_total") > value(before, "assistant_ingest_seconds_total")
    done = "assistant_ingest_jobs_total"
    assert value(after, done, outcome="done") - value(before, done, outcome="done") == 1
    assert value(after, "assistant_ingest_queue_depth", state="queued") == 0
    assert {"assistant_feedback", "assistant_ingest_queue_depth"} <= families(team_server)


@pytest.mark.slow  # the session's team server is a process of its own
def test_metrics_are_for_admins_only(team_server: TeamServer) -> None:
    with client(team_server, None) as anonymous:
        r = anonymous.get("/metrics")
        assert r.status_code == 401 and "assistant_" not in r.text
    with client(team_server, team_server.team.member_key) as bob:
        r = bob.get("/metrics")
        assert r.status_code == 403 and "assistant_" not in r.text


# -- without a server ---------------------------------------------------------------------------------------
def test_every_refusal_reason_the_answerers_give_has_a_label_of_its_own() -> None:
    reasons = [template.format(names="Vexmar", kind="date") for template in _REASONS.values()]
    reasons += ["no passage answers the question closely enough", "the model declined"]
    reasons += ["no passage relevant enough (best similarity 0.12)"]
    kinds = [refusal_kind(Answer(text="", refused=True, refusal_reason=r)) for r in reasons]
    assert "other" not in kinds and "unknown" not in kinds, dict(zip(reasons, kinds, strict=True))
    assert refusal_kind(Answer(text="", refused=True, empty_store=True)) == "empty_store"


def test_two_apps_in_one_process_count_apart() -> None:
    """No process-wide registry: each container's metrics are its own."""

    def answers(metrics: Metrics) -> dict[str, float]:
        text = metrics.render().decode()
        families = text_string_to_metric_families(text)
        return {
            s.labels["reason"]: s.value for f in families if f.name == "assistant_answers" for s in f.samples
        }

    one, other = Metrics(), Metrics()
    one.record_answer(Answer(text="x", refused=True, refusal_reason="no passage mentions Vexmar"))
    assert answers(one) == {"names_missing": 1.0}
    assert answers(other) == {}
