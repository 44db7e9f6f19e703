"""/api/admin over real HTTP: `python app.py` as a real process with a real SQLite database file; users and
collections made, changed and removed by an admin's key, what a member is refused, and what the answers never
contain (a password hash, a stored key hash)."""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.storage.credentials import hash_api_key
from tests.conftest import Server, start_server

ADMIN_PASSWORD = "admin password 1"
LUNAR = (
    "The Quixotl accord on lunar irrigation. The Quixotl accord on lunar irrigation was signed by the "
    "Zorbulan water council in 2031. It establishes twelve crater reservoirs for lunar irrigation and a "
    "shared Zorbulan ice registry."
)
LUNAR_QUESTION = "What does the Quixotl accord on lunar irrigation establish?"
MOON_MODEL = "grounded-assistant/moon"
# every admin route, with a body where it takes one
ADMIN_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/admin/users", None),
    ("POST", "/api/admin/users", {"name": "mallory", "admin": True}),
    ("DELETE", "/api/admin/users/ada", None),
    ("POST", "/api/admin/users/ada/key", None),
    ("PUT", "/api/admin/users/ada/password", {"password": "taken over!"}),
    ("GET", "/api/admin/collections", None),
    ("POST", "/api/admin/collections", {"name": "mine"}),
    ("PUT", "/api/admin/collections/moon/members/mallory", None),
    ("DELETE", "/api/admin/collections/moon/members/ada", None),
]


@dataclass
class Admin:
    """The server, ada's (an admin's) key, and every /api/admin response body, to look for hashes in."""

    server: Server
    key: str
    bodies: list[str] = field(default_factory=list)

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return httpx.Client(
            base_url=self.server.url,
            headers=headers,
            timeout=120,
            event_hooks={"response": [self._keep]},
        )

    def admin(self) -> httpx.Client:
        return self.client(self.key)

    def _keep(self, response: httpx.Response) -> None:
        if response.request.url.path.startswith("/api/admin"):
            response.read()
            self.bodies.append(response.text)


@pytest.fixture(scope="module")
def admin(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    """The seeded store plus lunar.txt in collection `moon` (not yet in the database), and one admin, ada:
    everything else is made through the API."""
    from assistant.container import build_container
    from assistant.settings import Settings
    from assistant.storage import Storage

    base = tmp_path_factory.mktemp("admin-api")
    data = base / "data"
    shutil.copytree(seeded_dir, data)
    (base / "moon").mkdir()
    (base / "moon" / "lunar.txt").write_text(LUNAR)
    assert (
        build_container(Settings(data_dir=data))
        .ingest.ingest([base / "moon"], collection="moon")
        .chunks_added
    )
    storage = Storage.from_settings(Settings(data_dir=data))
    storage.database.migrate()
    key = storage.users.add("ada", ADMIN_PASSWORD, admin=True).api_key
    storage.close()
    server = start_server(data, base / "server.log")
    try:
        yield Admin(server, key)
    finally:
        server.stop()


def new_user(server: Admin, name: str, **fields: Any) -> dict[str, Any]:
    """A user made by ada through the API (`fields`: admin, password)."""
    with server.admin() as ada:
        r = ada.post("/api/admin/users", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made


def ensure_moon(admin: Admin) -> None:
    with admin.admin() as ada:
        r = ada.post("/api/admin/collections", json={"name": "moon"})
    assert r.status_code in (201, 409), r.text


def error_of(r: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()["error"]
    return body


# -- users ---------------------------------------------------------------------------------------------------
@pytest.mark.slow  # a server process of its own (`admin`, with a user database)
def test_an_admin_adds_a_user_whose_key_answers_on_api_chat(admin: Admin) -> None:
    made = new_user(admin, "eve")
    assert made["api_key"].startswith("ga_")
    assert made["user"] == {
        "name": "eve",
        "admin": False,
        "has_password": False,
        "keys": 1,
        "created_at": made["user"]["created_at"],
    }
    ensure_moon(admin)
    with admin.admin() as ada:
        assert ada.put("/api/admin/collections/moon/members/eve").status_code == 200
        listed = {u["name"]: u for u in ada.get("/api/admin/users").json()["users"]}
        assert listed["eve"] == made["user"] and listed["ada"]["admin"] is True
    with admin.client(made["api_key"]) as eve:
        r = eve.post("/api/chat", json={"message": LUNAR_QUESTION})
        assert r.status_code == 200, r.text
        assert {c["source"] for c in r.json()["citations"]} == {"lunar.txt"}
        assert eve.get("/api/admin/users").status_code == 403, "a member, not an admin"


@pytest.mark.slow  # a server process of its own (`admin`, with a user database)
def test_rotating_a_key_turns_the_old_one_away_and_the_new_one_in(admin: Admin) -> None:
    old = new_user(admin, "fay")["api_key"]
    with admin.client(old) as fay:
        assert fay.get("/api/conversations").status_code == 200
    with admin.admin() as ada:
        r = ada.post("/api/admin/users/fay/key")
    assert r.status_code == 200, r.text
    new = r.json()["api_key"]
    assert new.startswith("ga_") and new != old and r.json()["user"]["keys"] == 1
    with admin.client(old) as fay:
        r = fay.get("/api/conversations")
        assert r.status_code == 401 and error_of(r)["code"] == "invalid_api_key"
    with admin.client(new) as fay:
        assert fay.get("/api/conversations").status_code == 200


@pytest.mark.slow  # a server process of its own (`admin`, with a user database)
def test_an_admin_made_with_the_api_may_use_the_admin_api(admin: Admin) -> None:
    key = new_user(admin, "gus", admin=True)["api_key"]
    with admin.client(key) as gus:
        assert gus.get("/api/admin/users").status_code == 200
        r = gus.post("/api/admin/collections", json={"name": "gus-notes"})
        assert r.status_code == 201 and r.json() == {
            "name": "gus-notes",
            "members": [],
            "created_at": r.json()["created_at"],
        }


@pytest.mark.slow  # a server process of its own (`admin`, with a user database)
def test_a_password_set_by_an_admin_signs_in_and_removing_it_stops_that(admin: Admin) -> None:
    new_user(admin, "hal")
    with admin.admin() as ada:
        r = ada.put("/api/admin/users/hal/password", json={"password": "hal's secret"})
        assert r.status_code == 200 and r.json()["has_password"] is True, r.text
    with admin.client() as browser:
        r = browser.post("/login", data={"name": "hal", "key": "hal's secret", "next": "/"})
        assert r.status_code == 303 and "assistant_session" in r.cookies
    with admin.admin() as ada:
        r = ada.put("/api/admin/users/hal/password", json={"password": None})
        assert r.status_code == 200 and r.json()["has_password"] is False
        r = ada.put("/api/admin/users/hal/password", json={"password": "short"})
        assert r.status_code == 400 and error_of(r)["param"] == "password"
    with admin.client() as browser:
        assert (
            browser.post("/login", data={"name": "hal", "key": "hal's secret", "next": "/"}).status_code
            == 401
        )


@pytest.mark.slow  # a server process of its own (`admin`, with a user database)
def test_a_removed_user_is_gone_with_their_key(admin: Admin) -> None:
    key = new_user(admin, "ivy")["api_key"]
    with admin.admin() as ada:
        r = ada.delete("/api/admin/users/ivy")
        assert r.status_code == 200 and r.json() == {"deleted": "ivy"}
        assert "ivy" not in {u["name"] for u in ada.get("/api/admin/users").json()["users"]}
        r = ada.delete("/api/admin/users/ada")
        assert r.status_code == 409 and error_of(r)["code"] == "own_account", "no locking oneself out"
    with admin.client(key) as ivy:
        assert ivy.get("/api/conversations").status_code == 401


# -- collections ---------------------------------------------------------------------------------------------
@pytest.mark.slow  # a server process of its own (`admin`, with a user database)
def test_grant_and_revoke_change_what_a_member_lists_and_may_ask(admin: Admin) -> None:
    key = new_user(admin, "jon")["api_key"]
    ensure_moon(admin)

    def seen() -> tuple[set[str], set[str]]:
        with admin.client(key) as jon:
            documents = jon.get("/api/documents").json()["documents"]
            models = jon.get("/v1/models").json()["data"]
        return {d["source"] for d in documents}, {m["id"] for m in models}

    documents, models = seen()
    assert documents == set() and MOON_MODEL not in models, "nothing granted: nothing listed"
    with admin.admin() as ada:
        r = ada.put("/api/admin/collections/moon/members/jon")
        assert r.status_code == 200 and "jon" in r.json()["members"]
        assert ada.put("/api/admin/collections/moon/members/jon").status_code == 200, "granting twice is fine"
    documents, models = seen()
    assert documents == {"lunar.txt"} and MOON_MODEL in models
    with admin.admin() as ada:
        listed = {c["name"]: c for c in ada.get("/api/admin/collections").json()["collections"]}
        assert "jon" in listed["moon"]["members"]
        r = ada.delete("/api/admin/collections/moon/members/jon")
        assert r.status_code == 200 and "jon" not in r.json()["members"]
    documents, models = seen()
    assert documents == set() and MOON_MODEL not in models


# -- refusals ------------------------------------------------------------------------------------------------
@pytest.mark.slow  # a server process of its own (`admin`, with a user database)
def test_a_member_gets_403_on_every_admin_route_and_nothing_changes(admin: Admin) -> None:
    key = new_user(admin, "kim")["api_key"]
    with admin.client(key) as kim:
        for method, path, body in ADMIN_ROUTES:
            r = kim.request(method, path, json=body)
            assert r.status_code == 403, (method, path, r.text)
            assert error_of(r)["code"] == "forbidden"
    with admin.admin() as ada:  # ada's key still works: not rotated, ada not removed
        users = {u["name"] for u in ada.get("/api/admin/users").json()["users"]}
        assert "mallory" not in users and "ada" in users
        assert "mine" not in {c["name"] for c in ada.get("/api/admin/collections").json()["collections"]}
    with admin.client() as browser:
        r = browser.post("/login", data={"name": "ada", "key": ADMIN_PASSWORD, "next": "/"})
        assert r.status_code == 303, "ada's password is untouched"


@pytest.mark.slow  # a server process of its own (`admin`, with a user database)
def test_no_key_is_401_on_every_admin_route(admin: Admin) -> None:
    with admin.client() as anyone:
        for method, path, body in ADMIN_ROUTES:
            r = anyone.request(method, path, json=body)
            assert r.status_code == 401, (method, path, r.text)


@pytest.mark.slow  # a server process of its own (`admin`, with a user database)
def test_a_duplicate_is_409_an_unknown_404_and_a_bad_name_400(admin: Admin) -> None:
    new_user(admin, "lou")
    ensure_moon(admin)
    with admin.admin() as ada:
        r = ada.post("/api/admin/users", json={"name": "lou", "password": "another one"})
        assert r.status_code == 409 and error_of(r)["code"] == "user_exists"
        r = ada.post("/api/admin/collections", json={"name": "moon"})
        assert r.status_code == 409 and error_of(r)["code"] == "collection_exists"
        for method, path, body in [
            ("DELETE", "/api/admin/users/nobody", None),
            ("POST", "/api/admin/users/nobody/key", None),
            ("PUT", "/api/admin/users/nobody/password", {"password": "long enough"}),
            ("PUT", "/api/admin/collections/no-such/members/lou", None),
            ("PUT", "/api/admin/collections/moon/members/nobody", None),
            ("DELETE", "/api/admin/collections/no-such/members/lou", None),
        ]:
            r = ada.request(method, path, json=body)
            assert r.status_code == 404 and error_of(r)["code"] == "not_found", (method, path, r.text)
        for method, path, body in [
            ("POST", "/api/admin/users", {"name": "../etc"}),
            ("POST", "/api/admin/users", {"name": ""}),
            ("POST", "/api/admin/collections", {"name": "with space"}),
            ("DELETE", "/api/admin/users/-lou", None),
            ("PUT", "/api/admin/collections/moon/members/lou!", None),
        ]:
            r = ada.request(method, path, json=body)
            assert r.status_code == 400 and error_of(r)["param"] == "name", (method, path, r.text)
        r = ada.post("/api/admin/users", json={"name": "max", "admin": "yes"})
        assert r.status_code == 400 and error_of(r)["param"] == "admin", "strict: a boolean is a boolean"
        assert "max" not in {u["name"] for u in ada.get("/api/admin/users").json()["users"]}


# -- last: what the answers above (and these) left out -------------------------------------------------------
@pytest.mark.slow  # a server process of its own (`admin`, with a user database)
def test_no_answer_carries_a_password_hash_or_a_stored_key_hash(admin: Admin) -> None:
    new_user(admin, "ned", password="ned's password", admin=True)
    ensure_moon(admin)
    with admin.admin() as ada:
        for method, path, body in [
            ("GET", "/api/admin/users", None),
            ("POST", "/api/admin/users/ned/key", None),
            ("PUT", "/api/admin/users/ned/password", {"password": "ned's new password"}),
            ("PUT", "/api/admin/collections/moon/members/ned", None),
            ("GET", "/api/admin/collections", None),
        ]:
            assert ada.request(method, path, json=body).status_code == 200, (method, path)
    with sqlite3.connect(admin.server.data_dir / "assistant.db") as db:
        passwords = [row[0] for row in db.execute("SELECT password_hash FROM users") if row[0]]
        keys = [row[0] for row in db.execute("SELECT key_hash FROM api_keys")]
    assert passwords and keys, "hashes to look for"
    seen = "\n".join(admin.bodies)
    given = re.findall(r'"api_key":"(ga_[^"]+)"', seen)  # rotated and removed ones too
    assert len(given) >= 2
    for secret in [*passwords, *keys, *(hash_api_key(key) for key in given)]:
        assert secret not in seen
    assert "$argon2" not in seen and "hash" not in seen


def test_without_a_user_database_the_admin_routes_say_so(tmp_path: Path) -> None:
    """In-process: a server built without storage (tests, embedders) answers 503, not a crash."""
    from fastapi.testclient import TestClient

    from assistant.container import build_container
    from assistant.server import create_api
    from assistant.server.deps import get_storage
    from assistant.settings import Settings

    app = create_api(build_container(Settings(data_dir=tmp_path / "data")))
    app.dependency_overrides[get_storage] = lambda: None
    with TestClient(app, base_url="http://localhost") as client:
        r = client.get("/api/admin/users")
    assert r.status_code == 503 and error_of(r)["code"] == "storage_unavailable", r.text
