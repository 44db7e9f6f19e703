"""Feedback that replays (issue 23): a rated answer keeps its trace, the export turns ratings into eval items,
and replaying them against today's pipeline reports a 👎 failing while the answer is unchanged. The API over
real HTTP (the session's team server): members rate and read only their own answers' feedback, admins all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from assistant.container import Container
from assistant.evaluation.cases import cases_of, write_cases
from assistant.evaluation.scoring import load_items, run_items
from assistant.storage import Database, Storage
from assistant.traces import answer_trace
from tests.conftest import MOON_QUESTION, ROOT, SEEDS, TeamServer, clean_env

MINE_ACTION = "With which country is Russia jointly chairing the Mine Action Centre?"
FAR = "What is the boiling point of mercury on Jupiter's moons?"


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    opened = Storage.open(Database(f"sqlite+pysqlite:///{tmp_path / 'assistant.db'}"))
    yield opened
    opened.close()


def _asked(components: Container, storage: Storage, question: str) -> int:
    """The question answered by the real pipeline and stored as the UI and the API store it."""
    answer = components.chat.answer(question)
    conversation = storage.conversations.create(None)
    trace = answer_trace(components.settings, components.store, question, answer)
    kept = storage.conversations.add_exchange(
        conversation.id,
        None,
        question,
        answer.text,
        citations=[c.model_dump(mode="json") for c in answer.citations],
        trace=trace,
    )
    assert kept is not None
    return kept[1].id


def test_a_stored_answer_keeps_what_it_was_built_from(components: Container, storage: Storage) -> None:
    rated = storage.feedback.rate(_asked(components, storage, MINE_ACTION), None, "up")
    assert rated is not None
    trace = rated.trace
    assert trace["question"] == MINE_ACTION and trace["query"]
    assert trace["retrieved"] and all(p["id"] and p["similarity"] > 0 for p in trace["retrieved"])
    assert trace["k"] == components.settings.k
    assert trace["settings"]["min_relevance"] == components.settings.min_relevance
    assert trace["store"]["version"] == components.store.version
    retrieved = components.store.get([trace["retrieved"][0]["id"]])
    assert trace["store"]["layout"] == retrieved[0][0].metadata["layout"], "the stamp its chunks carry"
    assert rated.citations and "Cambodia" in rated.answer


def test_export_then_replay_reports_the_thumbs_down_failing(
    components: Container, storage: Storage, tmp_path: Path
) -> None:
    liked = _asked(components, storage, MINE_ACTION)
    disliked = _asked(components, storage, MINE_ACTION)
    wrong = _asked(components, storage, MINE_ACTION)
    assert storage.feedback.rate(liked, None, "up") is not None
    assert storage.feedback.rate(disliked, None, "down", comment="<script>alert(1)</script>") is not None
    assert storage.feedback.rate(wrong, None, "down", wrong_source=True) is not None

    out = tmp_path / "cases.jsonl"
    write_cases(cases_of(storage.feedback.list_all()), out)
    raw = [json.loads(line) for line in out.read_text().splitlines()]
    assert [c["type"] for c in raw] == ["feedback-up", "feedback-down", "feedback-wrong-source"]
    assert raw[0]["evidence"] and all("Cambodia" in e or e for e in raw[0]["evidence"])
    assert raw[1]["must_not"] == [raw[1]["feedback"]["answer"]] and raw[1]["answerable"]
    assert raw[1]["feedback"]["comment"] == "<script>alert(1)</script>"  # data, kept as given
    assert not raw[2]["answerable"]

    items = load_items(out)
    results = {r.id: r for r in run_items(components.chat, items)}
    up, down, wrong_source = (results[c["id"]] for c in raw)
    assert up.failed == "" and up.citation_support, "the 👍 answer still cites its evidence"
    assert down.repeated and down.failed == "repeats an answer rated down"
    assert wrong_source.failed == "repeats an answer rated down"


def test_a_changed_answer_passes_its_thumbs_down(
    components: Container, storage: Storage, tmp_path: Path
) -> None:
    rated = storage.feedback.rate(_asked(components, storage, MINE_ACTION), None, "down")
    assert rated is not None
    case = cases_of([rated])[0]
    case["must_not"] = ["Russia chairs it alone."]  # as if the answer rated down had been another one
    out = tmp_path / "cases.jsonl"
    write_cases([case], out)
    (result,) = run_items(components.chat, load_items(out))
    assert result.repeated is False and result.failed == ""


# --- the API over real HTTP (the team server: ada is an admin, bob a member)


def _client(team: TeamServer, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=team.url, headers=headers, timeout=300)


def _feedback_count(team: TeamServer, rating: str) -> float:
    with _client(team, team.team.admin_key) as admin:
        text = admin.get("/metrics").text
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "assistant_feedback_total" and s.labels.get("rating") == rating
    )


@pytest.mark.slow  # the session's team server is a process of its own
def test_api_members_rate_and_read_only_their_own_answers(team_server: TeamServer) -> None:
    before = _feedback_count(team_server, "down")
    with (
        _client(team_server, team_server.team.admin_key) as ada,
        _client(team_server, team_server.team.member_key) as bob,
    ):
        mine = bob.post("/api/chat", json={"message": MINE_ACTION}).json()
        theirs = ada.post("/api/chat", json={"message": MOON_QUESTION}).json()
        assert isinstance(mine["message_id"], int) and isinstance(theirs["message_id"], int)

        r = bob.post(
            "/api/feedback",
            json={"message_id": mine["message_id"], "rating": "down", "wrong_source": True, "comment": "<b"},
        )
        assert r.status_code == 201, r.text
        given = r.json()
        assert (given["rating"], given["wrong_source"], given["comment"]) == ("down", True, "<b")
        assert given["question"] == MINE_ACTION and given["user"] == "bob"
        assert given["trace"]["retrieved"] and "default" in json.dumps(given["trace"]["scope"])
        assert "moon" not in json.dumps(given["trace"]["scope"]), "bob's scope: his collections only"

        stolen = bob.post("/api/feedback", json={"message_id": theirs["message_id"], "rating": "up"})
        assert stolen.status_code == 404, "another's answer is missing, not forbidden"
        assert ada.post("/api/feedback", json={"message_id": theirs["message_id"], "rating": "up"}).is_success

        own = [f["message_id"] for f in bob.get("/api/feedback").json()["feedback"]]
        assert own == [mine["message_id"]], "ada's feedback is not listed to bob"
        assert bob.get("/api/admin/feedback").status_code == 403
        everyone = {f["message_id"]: f["user"] for f in ada.get("/api/admin/feedback").json()["feedback"]}
        assert everyone[mine["message_id"]] == "bob" and everyone[theirs["message_id"]] == "ada"

        bad = bob.post("/api/feedback", json={"message_id": mine["message_id"], "rating": "meh"})
        assert bad.status_code == 400
        long = bob.post(
            "/api/feedback", json={"message_id": mine["message_id"], "rating": "up", "comment": "x" * 2001}
        )
        assert long.status_code == 400
    with _client(team_server, None) as anonymous:
        assert anonymous.get("/api/feedback").status_code == 401
    assert _feedback_count(team_server, "down") == before + 1


def run_cli(*args: str, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env(RAG_DATA_DIR=str(data_dir))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow  # two CLI processes, and an eval run that ingests the seeds into a collection of its own
def test_cli_export_and_eval_report_a_thumbs_down_failing(
    components: Container, fresh_copy: Path, tmp_path: Path
) -> None:
    storage = Storage.from_settings(components.settings.model_copy(update={"data_dir": fresh_copy}))
    try:
        answer = _asked(components, storage, MINE_ACTION)
        assert storage.feedback.rate(answer, None, "down") is not None
        wrong = _asked(components, storage, MINE_ACTION)
        assert storage.feedback.rate(wrong, None, "down", wrong_source=True) is not None
    finally:
        storage.close()
    exported = run_cli("feedback", "export", "--out", "cases.jsonl", data_dir=fresh_copy, cwd=tmp_path)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert "2 cases from 2 ratings" in exported.stdout + exported.stderr
    replayed = run_cli("eval", f"cases.jsonl={SEEDS}", data_dir=fresh_copy, cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    said = replayed.stdout + replayed.stderr
    assert "FAIL feedback-1: repeats an answer rated down" in said, said
    assert "FAIL feedback-2: repeats an answer rated down" in said, "the wrong-source 👎 fails too"
    report: dict[str, Any] = json.loads((tmp_path / "reports" / "eval.json").read_text())
    items = report["sets"]["cases"]["variants"]["hybrid (ours)"]["items"]
    assert [i["repeated"] for i in items] == [True, True]
    assert [i["answerable"] for i in items] == [True, False]


# --- the UI's side, without a browser


def test_the_ui_finds_the_stored_answer_a_thumb_was_given_on(components: Container, storage: Storage) -> None:
    from assistant.ui.chat import ERROR_PREFIX, UNGROUNDED_NOTE, answer_at, display
    from assistant.ui.conversations import Conversations
    from assistant.ui.feedback import rating_of

    assert rating_of(True) == ("up", False) and rating_of(False) == ("down", False)
    assert rating_of("Wrong source") == ("down", True) and rating_of("") is None
    first = _asked(components, storage, MINE_ACTION)
    (conversation,) = storage.conversations.list(None)
    stored = storage.conversations.get(conversation.id, None)
    assert stored is not None
    text = stored.messages[1].content
    # the same conversation in the chat: a failed turn (not stored) before the stored answer, which shows
    # HTML-escaped with a note after it
    shown = [
        {"role": "user", "content": "broken?"},
        {"role": "assistant", "content": ERROR_PREFIX + "<strong>No answer</strong>"},
        {"role": "user", "content": display(MINE_ACTION)},
        {"role": "assistant", "content": display(text) + UNGROUNDED_NOTE},
    ]
    assert answer_at(shown, 3) == (0, text)
    assert answer_at(shown, 2) is None
    ui = Conversations(storage, None)
    assert ui.rate(None, conversation.id, 0, text, "down", wrong_source=True, comment="<img src=x>")
    assert not ui.rate(None, "someone-elses", 0, text, "down")
    (given,) = storage.feedback.list(None)
    assert (given.message_id, given.wrong_source, given.comment) == (first, True, "<img src=x>")


def test_the_feedback_tab_shows_the_ratings_as_text(components: Container, storage: Storage) -> None:
    from assistant.ui.conversations import Conversations
    from assistant.ui.feedback import feedback_html

    rated = storage.feedback.rate(
        _asked(components, storage, MINE_ACTION), None, "down", wrong_source=True, comment="<img src=x>"
    )
    assert rated is not None
    records, everyone = Conversations(storage, None).feedback(None)  # the open app: its own admin
    assert everyone and [r.id for r in records] == [rated.id]
    shown = feedback_html(records, everyone)
    assert "&lt;img src=x&gt;" in shown and "<img" not in shown
    assert "👎 wrong source" in shown and "Cambodia" in shown
    assert "No feedback yet" in feedback_html([], False)


def test_each_kind_of_rating_becomes_its_kind_of_case() -> None:
    from datetime import UTC, datetime

    from assistant.evaluation.cases import case_of
    from assistant.storage import FeedbackRecord

    now = datetime.now(UTC)
    cited = [{"n": 1, "source": "a.txt", "start": 0, "end": 9, "text": "Cambodia."}]

    def record(rating: str, refused: bool, wrong_source: bool = False) -> FeedbackRecord:
        return FeedbackRecord(
            1, 2, "c", rating, wrong_source, "", now, now, "Q?", "A [1].",
            [] if refused else cited, {"refused": refused}, "ann", [{"role": "user", "content": "before"}],
        )  # fmt: skip

    up = case_of(record("up", False))
    assert (up["type"], up["answerable"], up["evidence"], up["history"]) == (
        "feedback-up", True, ["Cambodia."], [{"role": "user", "content": "before"}]
    )  # fmt: skip
    assert "must_not" not in up
    assert case_of(record("up", True))["answerable"] is False
    down = case_of(record("down", True))  # a refusal rated down: it should have answered
    assert (down["type"], down["answerable"], down["must_not"]) == ("feedback-down", True, ["A [1]."])
    wrong = case_of(record("down", False, wrong_source=True))
    assert (wrong["type"], wrong["answerable"]) == ("feedback-wrong-source", False)
