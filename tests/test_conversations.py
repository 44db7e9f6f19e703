"""Issue 12 through the server: people, stored conversations and collections, over real HTTP against
`python app.py` as a real process, with real database files and a real restart."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, start_server

# Every test here talks to `world`, a server process of its own (with a user database), or restarts it.
pytestmark = pytest.mark.slow

FIRST = "What happened during Lavrov's meeting in Vientiane with the Lao minister?"
FOLLOW_UP = "And what did they sign there?"
SIGNED = "signed three strategically important bilateral documents"
LEGACY_KEY = "legacy-admin-key-0123456789"
PASSWORD = "correct horse battery"
LUNAR = (
    "The Quixotl accord on lunar irrigation. The Quixotl accord on lunar irrigation was signed by the "
    "Zorbulan water council in 2031. It establishes twelve crater reservoirs for lunar irrigation and a "
    "shared Zorbulan ice registry."
)
LUNAR_QUESTION = "What does the Quixotl accord on lunar irrigation establish?"


@dataclass
class World:
    base: Path
    server: Server
    keys: dict[str, str] = field(default_factory=dict)

    def restart(self) -> None:
        self.server.stop()
        self.server = start_server(self.server.data_dir, self.base / "server-2.log", RAG_API_KEYS=LEGACY_KEY)

    def client(self, who: str) -> httpx.Client:
        key = LEGACY_KEY if who == "legacy" else self.keys[who]
        return httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {key}"}, timeout=120)


@pytest.fixture(scope="module")
def world(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The seeded store, an admin (ada), two members: bob may use `default`, cy only `other`."""
    from assistant.settings import Settings
    from assistant.storage import Storage

    base = tmp_path_factory.mktemp("people")
    data = base / "data"
    shutil.copytree(seeded_dir, data)
    storage = Storage.from_settings(Settings(data_dir=data))
    storage.database.migrate()
    keys = {
        "ada": storage.users.add("ada", PASSWORD, admin=True).api_key,
        "bob": storage.users.add("bob", PASSWORD).api_key,
        "cy": storage.users.add("cy", PASSWORD).api_key,
    }
    for name in ("default", "other"):
        storage.collections.add(name)
    storage.collections.grant("default", "bob")
    storage.collections.grant("other", "cy")
    storage.close()
    server = start_server(data, base / "server.log", RAG_API_KEYS=LEGACY_KEY)
    w = World(base, server, keys)
    try:
        yield w
    finally:
        w.server.stop()


def ask(client: httpx.Client, message: str, **fields: Any) -> dict[str, Any]:
    r = client.post("/api/chat", json={"message": message, **fields})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def upload_lunar(world: World) -> None:
    with world.client("ada") as ada:
        r = ada.post(
            "/api/documents",
            files={"files": ("lunar.txt", LUNAR.encode(), "text/plain")},
            data={"collection": "other"},
            params={"replace": "true"},
        )
    assert r.status_code == 200, r.text


# -- conversations -------------------------------------------------------------------------------------------
def test_a_follow_up_sent_with_only_the_conversation_id_is_answered_in_context(world: World) -> None:
    with world.client("bob") as bob:
        first = ask(bob, FIRST)
        conversation = first["conversation_id"]
        assert conversation and first["citations"]
        follow = ask(bob, FOLLOW_UP, conversation_id=conversation)
        assert follow["conversation_id"] == conversation, "the same conversation continues"
        assert any(SIGNED in c["text"] for c in follow["citations"]), "answered from the stored history"
        alone = ask(bob, FOLLOW_UP)
        assert alone["conversation_id"] != conversation, "no id: a new conversation"

        stored = bob.get(f"/api/conversations/{conversation}").json()
        assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "user", "assistant"]
        assert stored["messages"][2]["content"] == FOLLOW_UP
        assert stored["messages"][3]["content"] == follow["answer"]
        assert stored["messages"][3]["citations"] == follow["citations"], "citations kept with the answer"
        assert stored["messages"][3]["timings"]["total_ms"] > 0
        assert stored["title"].startswith("What happened during Lavrov")

        listed = bob.get("/api/conversations").json()["conversations"]
        assert {c["id"] for c in listed} >= {conversation, alone["conversation_id"]}
        r = bob.patch(f"/api/conversations/{conversation}", json={"title": "Vientiane"})
        assert r.status_code == 200 and r.json()["title"] == "Vientiane" and r.json()["messages"] == 4
        r = bob.delete(f"/api/conversations/{alone['conversation_id']}")
        assert r.status_code == 200
        assert bob.get(f"/api/conversations/{alone['conversation_id']}").status_code == 404


def test_one_user_gets_404_on_anothers_conversation(world: World) -> None:
    with world.client("bob") as bob, world.client("cy") as cy:
        mine = ask(bob, FIRST)["conversation_id"]
        path = f"/api/conversations/{mine}"
        for r in (
            cy.get(path),
            cy.patch(path, json={"title": "taken"}),
            cy.delete(path),
            cy.post("/api/chat", json={"message": FOLLOW_UP, "conversation_id": mine}),
        ):
            assert r.status_code == 404, (r.request.method, r.text)
            assert r.json()["error"]["param"] == "conversation_id"
        assert mine not in {c["id"] for c in cy.get("/api/conversations").json()["conversations"]}
        assert bob.get(path).json()["title"] != "taken", "untouched"
        assert cy.get("/api/conversations/no-such-id").status_code == 404, "the same answer as missing"


# -- people --------------------------------------------------------------------------------------------------
def test_a_member_gets_403_on_upload_and_delete_and_admins_manage_documents(world: World) -> None:
    with world.client("bob") as bob:
        r = bob.post("/api/documents", files={"files": ("x.txt", b"member notes", "text/plain")})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = bob.delete("/api/documents/lunar.txt")
        assert r.status_code == 403
        assert bob.get("/api/documents").status_code == 200, "members may still list documents"
    upload_lunar(world)  # an admin's key
    with world.client("legacy") as legacy:  # a RAG_API_KEYS key still works, as an admin
        documents = legacy.get("/api/documents").json()["documents"]
        assert {"source": "lunar.txt", "collection": "other"}.items() <= next(
            d for d in documents if d["source"] == "lunar.txt"
        ).items()
        r = legacy.post("/api/documents", files={"files": ("gone.txt", b"to be removed soon", "text/plain")})
        assert r.status_code == 200
        assert legacy.delete("/api/documents/gone.txt").status_code == 200


def test_the_ui_refuses_a_members_upload_and_delete_too(world: World, tmp_path: Path) -> None:
    """Gradio's endpoints can be called without the page: its handlers ask the same gate."""
    from gradio_client import Client, handle_file

    file = tmp_path / "member-upload.txt"
    file.write_text("A member's notes on canal tolls in Ghent.\n")
    bob = Client(
        world.server.url + "/", headers={"Authorization": f"Bearer {world.keys['bob']}"}, verbose=False
    )
    with pytest.raises(httpx.HTTPStatusError, match="403"):  # S5: the file never reaches Gradio's cache
        bob.predict([handle_file(str(file))], False, api_name="/upload")
    report, *_ = bob.predict([], False, api_name="/upload")  # the event itself (it lists bob's documents)
    assert "Choose one or more files" in report
    seed = "003_50dedbe65a896504.txt"
    status, *_ = bob.predict(seed, api_name="/delete_document")
    assert "Only an admin" in status
    with world.client("ada") as ada:
        sources = {d["source"] for d in ada.get("/api/documents").json()["documents"]}
        assert seed in sources and "member-upload.txt" not in sources
    ada_ui = Client(
        world.server.url + "/", headers={"Authorization": f"Bearer {world.keys['ada']}"}, verbose=False
    )
    report, *_ = ada_ui.predict([handle_file(str(file))], False, api_name="/upload")
    assert "member-upload.txt** added" in report


def test_people_sign_in_with_name_and_password_and_bad_credentials_are_refused(world: World) -> None:
    with httpx.Client(base_url=world.server.url, timeout=60) as browser:
        assert browser.get("/api/conversations").status_code == 401
        r = browser.post("/login", data={"name": "bob", "key": "wrong password", "next": "/"})
        assert r.status_code == 401
        r = browser.post("/login", data={"name": "bob", "key": PASSWORD, "next": "/"}, follow_redirects=False)
        assert r.status_code == 303 and "assistant_session" in r.cookies
        assert browser.get("/api/conversations").status_code == 200, "the session cookie signs bob in"
        r = browser.post("/api/documents", files={"files": ("y.txt", b"notes", "text/plain")})
        assert r.status_code == 403, "a member's session is a member's"
    with httpx.Client(base_url=world.server.url, timeout=60) as bot:
        r = bot.get("/api/conversations", headers={"Authorization": "Bearer ga_not-a-real-key"})
        assert r.status_code == 401


# -- collections ---------------------------------------------------------------------------------------------
def test_a_question_in_one_collection_never_retrieves_anothers_chunks(world: World) -> None:
    upload_lunar(world)
    with world.client("ada") as ada, world.client("bob") as bob, world.client("cy") as cy:
        everything = ask(ada, LUNAR_QUESTION)
        assert "lunar.txt" in {p["source"] for p in everything["retrieved"]}, "unscoped, an admin finds it"

        in_other = ask(ada, LUNAR_QUESTION, collection="other")
        assert in_other["retrieved"] and {p["source"] for p in in_other["retrieved"]} == {"lunar.txt"}
        assert {c["source"] for c in in_other["citations"]} == {"lunar.txt"}
        in_default = ask(ada, LUNAR_QUESTION, collection=["default"])
        assert "lunar.txt" not in {p["source"] for p in in_default["retrieved"]}

        for_bob = ask(bob, LUNAR_QUESTION)  # bob may use `default` only
        assert for_bob["retrieved"] and "lunar.txt" not in {p["source"] for p in for_bob["retrieved"]}
        r = bob.post("/api/chat", json={"message": LUNAR_QUESTION, "collection": "other"})
        assert r.status_code == 404, "a collection not granted is one that does not exist"

        for_cy = ask(cy, FIRST)  # cy may use `other` only: the seeds are out of reach
        assert {p["source"] for p in for_cy["retrieved"]} <= {"lunar.txt"}
        assert not any(SIGNED in c["text"] for c in for_cy["citations"])
        assert cy.post("/api/chat", json={"message": FIRST, "collection": "default"}).status_code == 404

        listed = {d["source"] for d in cy.get("/api/documents").json()["documents"]}
        assert listed == {"lunar.txt"}, "a member lists the documents of their collections only"

        seed = next(p["source"] for p in everything["retrieved"] if p["source"] != "lunar.txt")
        only = ask(ada, LUNAR_QUESTION, sources=[seed])
        assert only["retrieved"] and {p["source"] for p in only["retrieved"]} == {seed}


def test_each_collection_is_a_model_for_the_openai_api(world: World) -> None:
    upload_lunar(world)
    with world.client("cy") as cy, world.client("bob") as bob, world.client("ada") as ada:
        assert [m["id"] for m in cy.get("/v1/models").json()["data"]] == [
            "grounded-assistant",
            "grounded-assistant/other",
        ]
        assert "grounded-assistant/default" in {m["id"] for m in ada.get("/v1/models").json()["data"]}
        request = {
            "model": "grounded-assistant/other",
            "messages": [{"role": "user", "content": LUNAR_QUESTION}],
        }
        r = cy.post("/v1/chat/completions", json=request)
        assert r.status_code == 200, r.text
        assert r.json()["model"] == "grounded-assistant/other"
        assert r.json()["citations"] and {c["source"] for c in r.json()["citations"]} == {"lunar.txt"}
        r = ada.post("/v1/chat/completions", json={**request, "model": "grounded-assistant/default"})
        assert "lunar.txt" not in {c["source"] for c in r.json()["citations"]}
        r = bob.post("/v1/chat/completions", json=request)
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


# -- restart (last: it replaces the server) ------------------------------------------------------------------
def test_a_restart_keeps_every_conversation(world: World) -> None:
    before: dict[str, Any] = {}
    with world.client("bob") as bob:
        conversation = ask(bob, FIRST)["conversation_id"]
    for who in ("ada", "bob", "cy"):
        with world.client(who) as client:
            listed = client.get("/api/conversations").json()["conversations"]
            before[who] = {c["id"]: client.get(f"/api/conversations/{c['id']}").json() for c in listed}
    assert before["bob"], "bob has conversations to keep"

    world.restart()

    for who in ("ada", "bob", "cy"):
        with world.client(who) as client:
            listed = client.get("/api/conversations").json()["conversations"]
            after = {c["id"]: client.get(f"/api/conversations/{c['id']}").json() for c in listed}
            assert after == before[who], f"{who}'s conversations survived the restart unchanged"
    with world.client("bob") as bob:
        follow = ask(bob, FOLLOW_UP, conversation_id=conversation)
        assert any(SIGNED in c["text"] for c in follow["citations"]), "the context survived too"


# -- the command line ----------------------------------------------------------------------------------------
def test_cli_ingests_into_a_collection_it_registers_and_moves_a_document_between_collections(
    tmp_path: Path,
) -> None:
    from tests.test_cli import run

    data = tmp_path / "data"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "lunar.txt").write_text(LUNAR)
    made = run("users", "add", "dee", "--no-password", data=data)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().splitlines()[-1].startswith("ga_"), "the key is the last line"
    first = run("ingest", "--collection", "moon", str(tmp_path / "docs"), "--json", data=data)
    assert first.returncode == 0, first.stderr + first.stdout
    assert json.loads(first.stdout)["chunks_added"] > 0
    listed = run("collections", "list", data=data)
    assert listed.returncode == 0 and "moon" in listed.stdout, "ingest --collection registers it"
    assert run("collections", "grant", "moon", "dee", data=data).returncode == 0
    assert run("keys", "rotate", "dee", data=data).stdout.strip().splitlines()[-1].startswith("ga_")

    again = run("ingest", "--collection", "moon", str(tmp_path / "docs"), "--json", data=data)
    assert json.loads(again.stdout)["files_unchanged"] == 1, "same collection: nothing to do"
    moved = run("ingest", "--collection", "sun", str(tmp_path / "docs"), "--json", data=data)
    assert json.loads(moved.stdout)["files_changed"] == 1 and json.loads(moved.stdout)["chunks_added"] == 0
    listing = run("documents", data=data)
    assert listing.returncode == 0
    assert run("ingest", "--collection", "../bad", str(tmp_path / "docs"), data=data).returncode != 0

    from assistant.container import build_container
    from assistant.settings import Settings

    container = build_container(Settings(data_dir=data))
    metas = container.store.metadatas()
    assert metas and {m["collection"] for m in metas.values()} == {"sun"}, "moved without re-embedding"


def test_five_wrong_passwords_lock_that_name_from_that_address_and_only_that_name(world: World) -> None:
    with httpx.Client(base_url=world.server.url, timeout=60) as guesser:
        for _ in range(5):
            assert guesser.post("/login", data={"name": "cy", "key": "guess", "next": "/"}).status_code == 401
        locked = guesser.post(
            "/login", data={"name": "cy", "key": PASSWORD, "next": "/"}, follow_redirects=False
        )
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 60, (
            "even the right password"
        )
        assert "Too many sign-in attempts" in locked.text
        other = guesser.post(
            "/login", data={"name": "ada", "key": PASSWORD, "next": "/"}, follow_redirects=False
        )
        assert other.status_code == 303, "another name still signs in"
