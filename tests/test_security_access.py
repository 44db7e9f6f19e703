"""Issue 18: who may read what, how long a session lives, and what a request may cost. One test per finding
(N1-N5, N7-N16, S4 and S5 residuals), each failing on the code before the fix.

In-process tests drive the real app (real Chroma, real SQLite, the real gate and middleware) with TestClient;
the UI's events are called as Gradio calls them, with the HTTP request the browser sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from assistant.access.sessions import COOKIE, SECURE_COOKIE
from assistant.access.throttle import SignInBusy, SignInGuard
from assistant.container import Container, build_container
from assistant.server import create_api
from assistant.server.app import create_app
from assistant.settings import Settings
from assistant.ui.app import build_ui
from assistant.ui.documents import shown_name
from tests.conftest import Server, start_server

PASSWORD = "correct horse battery"
MEMO = "The secret project codename is BLUEHERON; only HR may read this memo."
MEMO_QUESTION = "What is the secret project codename?"
PUBLIC = "The cafeteria opens at 8 am and closes at 3 pm on weekdays."
PUBLIC_QUESTION = "When does the cafeteria open?"


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Container:
    """A memo in `hr`, a notice in `public`; ada admin, bob a member of `public`, carol of nothing."""
    data = tmp_path_factory.mktemp("office") / "data"
    container = build_container(Settings(data_dir=data))
    container.ingest.add_upload("memo.txt", MEMO.encode(), collection="hr")
    container.ingest.add_upload("notice.txt", PUBLIC.encode(), collection="public")
    storage = container.storage
    assert storage is not None
    for name in ("hr", "public"):
        storage.collections.add(name)
    storage.users.add("ada", PASSWORD, admin=True)
    storage.users.add("bob", PASSWORD)
    storage.users.add("carol", PASSWORD)
    storage.collections.grant("public", "bob")
    return container


def api(container: Container, base: str = "http://localhost", **settings: Any) -> TestClient:
    changed = container.settings.model_copy(update=settings)
    app = create_api(Container(**{**container.__dict__, "settings": changed}))
    return TestClient(app, raise_server_exceptions=False, base_url=base)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    r = client.post("/login", data={"name": name, "key": password, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    cookie = client.cookies.get(COOKIE) or client.cookies.get(SECURE_COOKIE)
    assert cookie
    return cookie


def gradio_request(headers: dict[str, str]) -> gr.Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/gradio_api/queue/join",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "query_string": b"",
        "client": ("127.0.0.1", 1),
        "server": ("localhost", 80),
        "scheme": "http",
    }
    return gr.Request(request=Request(scope))


def event(demo: gr.Blocks, name: str) -> Any:
    return next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == name)


# -- N1: the UI's Retry keeps to the caller's collections ---------------------------------------------------
def test_n1_retry_never_reads_a_collection_not_granted(office: Container) -> None:
    app = api(office)
    demo = build_ui(office, app.app.state.gate)  # type: ignore[attr-defined]
    retry = event(demo, "retry")
    history = [{"role": "user", "content": MEMO_QUESTION}, {"role": "assistant", "content": "no"}]
    with TestClient(app.app, base_url="http://localhost") as browser:  # type: ignore[arg-type]
        bob = sign_in(browser, "bob")
    for who in ({"Cookie": f"{COOKIE}={bob}"}, {"Authorization": "Bearer ga_forged"}, {}):
        outputs = list(retry(history, 6, {}, None, [], [], gradio_request(who)))
        shown = json.dumps([o for o in outputs if isinstance(o, tuple)], default=str)
        assert "BLUEHERON" not in shown, who
    admin_key = office.storage.users.rotate_key("ada").api_key  # type: ignore[union-attr]
    outputs = list(
        retry(history, 6, {}, None, [], [], gradio_request({"Authorization": f"Bearer {admin_key}"}))
    )
    assert "BLUEHERON" in json.dumps(outputs[-1], default=str), "an admin may read hr: the scope is not empty"


def test_n1_the_scope_refuses_when_it_cannot_tell_who_asks(office: Container) -> None:
    from assistant.errors import AuthenticationError
    from assistant.ui.conversations import Conversations

    gate = api(office).app.state.gate  # type: ignore[attr-defined]
    conversations = Conversations(office.storage, gate)  # type: ignore[arg-type]
    with pytest.raises(AuthenticationError):
        conversations.scope(gradio_request({}), [], [])
    with pytest.raises(AuthenticationError):
        conversations.scope(None, ["hr"], [])


# -- N2, N3: a session dies with its credential, ids are never reused ---------------------------------------
def test_n2_a_removed_users_cookie_never_becomes_the_next_users_session(office: Container) -> None:
    storage = office.storage
    assert storage is not None
    mallory = storage.users.add("mallory", PASSWORD)
    client = api(office)
    cookie = sign_in(client, "mallory")
    storage.users.remove("mallory")
    dave = storage.users.add("dave", PASSWORD, admin=True)
    assert dave.user.id != mallory.user.id, "a removed user's id is not handed out again"
    replay = client.get("/api/admin/users", cookies={COOKIE: cookie})
    assert replay.status_code == 401
    storage.users.remove("dave")


@pytest.mark.parametrize("ending", ["rotate", "password", "no-password", "logout"])
def test_n3_a_session_ends_with_its_credential_and_with_sign_out(office: Container, ending: str) -> None:
    storage = office.storage
    assert storage is not None
    name = f"eve-{ending}"
    key = storage.users.add(name, PASSWORD).api_key
    client = api(office)
    if ending == "rotate":  # a session opened with the key, then the key is rotated
        r = client.post("/login", data={"key": key, "next": "/"}, follow_redirects=False)
        assert r.status_code == 303
    else:
        sign_in(client, name)
    cookie = client.cookies[COOKIE]
    assert client.get("/api/conversations").status_code == 200
    if ending == "rotate":
        storage.users.rotate_key(name)
    elif ending == "password":
        storage.users.set_password(name, "a brand new password")
    elif ending == "no-password":
        storage.users.set_password(name, None)
    else:
        assert client.get("/logout", follow_redirects=False).status_code == 303
    replay = api(office).get("/api/conversations", cookies={COOKIE: cookie})
    assert replay.status_code == 401, f"the old cookie still works after {ending}"
    storage.users.remove(name)


# -- N4: sign-in attempts counted before the check, no lock-out of the owner, bounded hashing ---------------
def test_n4_concurrent_wrong_passwords_are_throttled_and_cannot_lock_the_owner_out(office: Container) -> None:
    app = api(office).app

    def attempt(_: int) -> int:
        with TestClient(app, base_url="http://localhost", client=("203.0.113.9", 5000)) as c:  # type: ignore[arg-type]
            r = c.post(
                "/login", data={"name": "ada", "key": "wrong guess", "next": "/"}, follow_redirects=False
            )
            return r.status_code

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(attempt, range(20)))
    assert codes.count(401) <= 5 and codes.count(429) + codes.count(503) >= 15, codes
    with TestClient(app, base_url="http://localhost", client=("198.51.100.7", 5000)) as owner:  # type: ignore[arg-type]
        r = owner.post("/login", data={"name": "ada", "key": PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, "the owner, from her own address, still signs in"


def test_n4_password_checks_run_in_bounded_slots_and_the_rest_are_turned_away() -> None:
    guard = SignInGuard(concurrency=1, max_waiting=2)
    started, release = threading.Event(), threading.Event()
    running: list[int] = []

    def slow() -> int:
        running.append(1)
        started.set()
        release.wait(10)
        return len(running)

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(guard.check, slow)
        assert started.wait(10)
        second = pool.submit(guard.check, slow)  # waits for the slot
        while guard._waiting < 2:
            threading.Event().wait(0.01)
        with pytest.raises(SignInBusy):
            guard.check(lambda: 0)
        release.set()
        assert first.result(10) >= 1 and second.result(10) == 2
    assert len(running) == 2, "the third check never ran"


@pytest.mark.slow  # a server process of its own
def test_n4_a_forwarded_for_header_is_not_believed_by_default(seeded_dir: Path, tmp_path: Path) -> None:
    """The real server (uvicorn): six guesses for one name, each 'from' another X-Forwarded-For address,
    are one client's: the sixth is refused."""
    data = tmp_path / "data"
    from assistant.storage import Storage

    storage = Storage.from_settings(Settings(data_dir=data))
    storage.users.add("zoe", PASSWORD)
    storage.close()
    server: Server = start_server(data, tmp_path / "server.log")
    try:
        codes = []
        for i in range(6):
            r = httpx.post(
                f"{server.url}/login",
                data={"name": "zoe", "key": "guess", "next": "/"},
                headers={"X-Forwarded-For": f"192.0.2.{i + 1}"},
                timeout=60,
            )
            codes.append(r.status_code)
        assert codes[:5] == [401] * 5 and codes[5] == 429, codes
    finally:
        server.stop()


# -- N5: multipart bodies are bounded, and a member is refused before the body is read ----------------------
def _stream(consumed: list[int], chunks: int = 400) -> Iterator[bytes]:
    yield b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\n'
    for _ in range(chunks):
        consumed.append(1)
        yield b"a" * (1 << 20)
    yield b"\r\n--x--\r\n"


def test_n5_a_members_upload_is_refused_before_its_body_is_read(office: Container) -> None:
    bob = office.storage.users.rotate_key("bob").api_key  # type: ignore[union-attr]
    consumed: list[int] = []
    r = api(office).post(
        "/api/documents",
        content=_stream(consumed),
        headers={"Authorization": f"Bearer {bob}", "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert r.status_code == 403 and len(consumed) < 10, (r.status_code, len(consumed))


def test_n5_multipart_bodies_are_bounded_on_every_route(office: Container) -> None:
    ada = office.storage.users.rotate_key("ada").api_key  # type: ignore[union-attr]
    auth = {"Authorization": f"Bearer {ada}"}
    client = api(office, max_upload_mb=1.0, max_upload_files=2)
    body = b"--x\r\n" + b"a" * (3 << 20) + b"\r\n--x--\r\n"
    r = client.post("/api/chat", content=body, headers={**auth, "Content-Type": "multipart/x; boundary=x"})
    assert r.status_code == 413, "a multipart body to a JSON route is bounded like any other"
    r = client.post("/api/documents", content=body, headers={**auth, "Content-Type": "multipart/form-data"})
    assert r.status_code == 413, "an upload is bounded by files x size"
    files = [("files", (f"f{i}.txt", b"tiny", "text/plain")) for i in range(3)]
    r = client.post("/api/documents", files=files, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "too_many_files"


# -- N7: each key of RAG_API_KEYS has its own conversations ------------------------------------------------
def test_n7_two_api_keys_do_not_share_conversations(office: Container) -> None:
    from assistant.server.deps import get_chat
    from tests.fakes import FakeChat

    client = api(office, api_keys="key-one-0123456789,key-two-0123456789")
    client.app.dependency_overrides[get_chat] = lambda: FakeChat()  # type: ignore[attr-defined]
    one = {"Authorization": "Bearer key-one-0123456789"}
    two = {"Authorization": "Bearer key-two-0123456789"}
    made = client.post("/api/chat", json={"message": "What is on the notice?"}, headers=one)
    assert made.status_code == 200, made.text
    conversation = made.json()["conversation_id"]
    assert client.get(f"/api/conversations/{conversation}", headers=one).status_code == 200
    assert client.get(f"/api/conversations/{conversation}", headers=two).status_code == 404
    listed = client.get("/api/conversations", headers=two).json()
    assert conversation not in json.dumps(listed)


# -- N8, N10: members see no server paths; file names are text ----------------------------------------------
def test_n8_members_see_no_server_paths(office: Container) -> None:
    from assistant.ui.settings_tab import effective_settings

    bob = office.storage.users.rotate_key("bob").api_key  # type: ignore[union-attr]
    listed = api(office).get("/api/documents", headers={"Authorization": f"Bearer {bob}"}).json()
    assert listed["documents"] and all(not d["path"] for d in listed["documents"])
    gate = api(office).app.state.gate  # type: ignore[attr-defined]
    shown = effective_settings(office.settings, gate, gradio_request({"Authorization": f"Bearer {bob}"}))
    assert str(office.settings.data_dir) not in json.dumps(shown)


def test_n10_a_file_name_with_markup_is_shown_as_text() -> None:
    shown = shown_name("<img src=x onerror=alert(1)>[x](http://evil.example).txt")
    assert "<img" not in shown and "](http" not in shown and "&lt;img" in shown


# -- N9: over HTTPS the cookie is __Host- prefixed, and a planted plain cookie is ignored --------------------
def test_n9_https_sessions_use_a_host_only_cookie(office: Container) -> None:
    client = api(office, base="https://localhost")
    plain = sign_in(api(office), "bob")
    sign_in(client, "ada")
    assert SECURE_COOKIE in client.cookies and COOKIE not in client.cookies
    fresh = api(office, base="https://localhost")
    assert fresh.get("/api/conversations", cookies={COOKIE: plain}).status_code == 401, "a tossed cookie"


# -- N11: the data dir is private -------------------------------------------------------------------------
@pytest.mark.slow  # a server process that ingests seeds/ at start
def test_n11_the_data_dir_and_its_files_are_the_owners_alone(seeded_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, tmp_path / "server.log")
    try:
        httpx.post(
            f"{server.url}/api/chat", json={"message": "Who chairs the Mine Action Centre?"}, timeout=120
        )
    finally:
        server.stop()
    assert data.stat().st_mode & 0o077 == 0, oct(data.stat().st_mode)
    for entry in ("assistant.db", "chroma", "bm25"):
        path = data / entry
        assert path.exists() and path.stat().st_mode & 0o077 == 0, (entry, oct(path.stat().st_mode))


# -- N12, N13: no open window after the first user, and removing every user does not open the app ------------
def test_n12_n13_the_gate_closes_at_once_and_stays_closed(tmp_path: Path) -> None:
    container = build_container(Settings(data_dir=tmp_path / "data"))
    client = api(container)
    assert client.get("/api/conversations").status_code == 200, "no users, no keys: the local app"
    storage = container.storage
    assert storage is not None
    storage.users.add("first", PASSWORD, admin=True)
    assert client.get("/api/conversations").status_code == 401, "the very next request needs a key"
    storage.users.remove("first")
    assert client.get("/api/conversations").status_code == 401, "still closed with no user left"
    assert client.post("/api/admin/users", json={"name": "x", "admin": True}).status_code == 401


# -- N24: guessing bearer keys is bounded per address, as guessing passwords at /login is ------------------
def test_n24_an_address_sending_wrong_keys_is_stopped(office: Container) -> None:
    client = api(office)
    right = {"Authorization": f"Bearer {office.storage.users.rotate_key('bob').api_key}"}  # type: ignore[union-attr]
    for _ in range(40):  # a bot's steady traffic with its right key costs it nothing
        assert client.get("/api/conversations", headers=right).status_code == 200
    statuses = [
        client.get("/api/conversations", headers={"Authorization": f"Bearer guess-{i}"}).status_code
        for i in range(35)
    ]
    assert statuses == [401] * 30 + [429] * 5
    # the right key from that address waits too: else a guesser would tell a hit by its answer
    r = client.get("/v1/models", headers=right)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "too many wrong API keys" in r.json()["error"]["message"]
    # another address is not held back, and a person signed in there (a cookie, no key) is not either
    elsewhere = TestClient(client.app, base_url="http://localhost", client=("203.0.113.9", 4000))
    assert elsewhere.get("/api/conversations", headers=right).status_code == 200
    assert client.get("/api/conversations", cookies={COOKIE: sign_in(client, "bob")}).status_code == 200


# -- N29: another local page cannot sign a person out; private answers are not cached -----------------------
def test_n29_a_sign_out_another_page_sent_asks_first(office: Container) -> None:
    client = api(office)
    cookie = sign_in(client, "bob")
    mine = {COOKIE: cookie}
    image = {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Dest": "image"}  # <img src=...> on another port
    r = client.get("/logout", headers=image, cookies=mine, follow_redirects=False)
    assert r.status_code == 200 and "<form method='post' action='/logout'>" in r.text
    listed = client.get("/api/conversations", cookies=mine)
    assert listed.status_code == 200, "still signed in"
    assert listed.headers["Cache-Control"] == "no-store", "one person's list is kept by no cache"
    typed = client.get("/logout", headers={"Sec-Fetch-Site": "none"}, cookies=mine, follow_redirects=False)
    assert typed.status_code == 303 and "cache" in typed.headers["Clear-Site-Data"]
    assert client.get("/api/conversations", cookies=mine).status_code == 401


# -- N14, N16, S4, S5: the Gradio app's own doors -----------------------------------------------------------
@pytest.fixture(scope="module")
def ui(office: Container) -> Iterator[TestClient]:
    with TestClient(create_app(office), base_url="http://localhost") as client:
        yield client


def test_n14_another_local_origin_cannot_read_the_ui_config(ui: TestClient) -> None:
    cookie = sign_in(ui, "bob")
    r = ui.get("/config", headers={"Origin": "http://localhost:9999"}, cookies={COOKIE: cookie})
    assert (
        "access-control-allow-origin" not in r.headers and "access-control-allow-credentials" not in r.headers
    )


def test_n16_a_ui_event_stream_belongs_to_whoever_started_it(ui: TestClient, office: Container) -> None:
    storage = office.storage
    assert storage is not None
    bob = {"Authorization": f"Bearer {storage.users.rotate_key('bob').api_key}"}
    carol = {"Authorization": f"Bearer {storage.users.rotate_key('carol').api_key}"}
    body = {"data": ["hi", [], 6, {}, None, [], []], "fn_index": 0, "session_hash": "bobs-session-0001"}
    ui.post("/gradio_api/queue/join", json=body, headers=bob)
    stolen = ui.get("/gradio_api/queue/data?session_hash=bobs-session-0001", headers=carol)
    assert stolen.status_code == 403
    assert ui.post("/gradio_api/queue/join", json=body, headers=carol).status_code == 403
    # Gradio reads the last of a repeated parameter: naming her own session first gets carol nothing, and a
    # request naming many sessions (which would flush other people's claims out of the table) none either
    both = [("session_hash", "carols-session-01"), ("session_hash", "bobs-session-0001")]
    assert ui.get("/gradio_api/queue/data", params=both, headers=carol).status_code == 400
    many = [("session_hash", f"carols-session-{i:04d}") for i in range(500)]
    blank = [("session_hash", "carols-session-01"), ("session_hash", "")]  # Starlette reads the blank one
    assert ui.get("/gradio_api/queue/data", params=blank, headers=carol).status_code == 400
    assert ui.get("/gradio_api/queue/data", params=many, headers=carol).status_code == 400
    # a JSON body labelled otherwise is still read as JSON by FastAPI, so it is checked as JSON
    for label in ("Application/JSON", "application/x-event+json", "text/plain"):
        r = ui.post(
            "/gradio_api/queue/join", content=json.dumps(body), headers={**carol, "Content-Type": label}
        )
        assert r.status_code == 403, label
    # ... also when a second Content-Type follows the first (Starlette, and so Gradio, reads the first)
    twice = [
        *carol.items(),
        ("Content-Type", "application/json"),
        ("Content-Type", "multipart/form-data; b=x"),
    ]
    assert ui.post("/gradio_api/queue/join", content=json.dumps(body), headers=twice).status_code == 403
    # Gradio's component server reads any body but a multipart form as JSON
    form = {**carol, "Content-Type": "application/x-www-form-urlencoded"}
    named = json.dumps({"session_hash": "bobs-session-0001", "component_id": 1, "fn_name": "x", "data": None})
    assert ui.post("/gradio_api/component_server", content=named, headers=form).status_code == 403
    capitals = {**carol, "Content-Type": "Multipart/Form-Data"}  # Gradio's test is case-sensitive
    assert ui.post("/gradio_api/component_server", content=named, headers=capitals).status_code == 403
    fields = {"session_hash": "bobs-session-0001", "component_id": "1", "fn_name": "x", "data": "null"}
    assert (
        ui.post("/gradio_api/component_server", data=fields, files={"f": b"x"}, headers=carol).status_code
        == 415
    )
    # nor an unknown event id on Gradio's GET /call route, which streams the session of that name
    assert ui.get("/gradio_api/call/chat/bobs-session-0001", headers=carol).status_code == 403


ONLY_UPLOADED = "an event may name only files uploaded to this server"
ONLY_TEXT = "a chat message's parts may only be text"


def test_n23_a_ui_event_cannot_name_a_server_file(ui: TestClient, office: Container, tmp_path: Path) -> None:
    """A chat history naming a file of the server (as a Gradio file message) is refused before Gradio copies
    the file into its cache and hands back a link to the copy: a member read /etc/passwd and the data dir's
    database that way through Retry and `/chat`, which echoed the history back."""
    from gradio.utils import get_upload_folder

    secret = tmp_path / "secret.txt"
    secret.write_text("N23-SECRET-4417 salaries", encoding="utf-8")
    bob = {"Authorization": f"Bearer {office.storage.users.rotate_key('bob').api_key}"}  # type: ignore[union-attr]
    config = ui.get("/config", headers=bob).json()
    fn = {d.get("api_name"): d["id"] for d in config["dependencies"]}
    meta = {"_type": "gradio.FileData"}
    named = [
        {"type": "file", "file": {"path": str(secret), "meta": meta}},
        {"type": "file", "file": {"path": str(secret)}},  # no Gradio marker: read as a file all the same
        {"type": "file", "file": {"path": f"{get_upload_folder()}/../../{secret}", "meta": meta}},  # ..
        {"type": "file", "file": {"url": "http://127.0.0.1:9/secret", "meta": meta}},  # fetched by the server
        [[[[{"text": "deep", "file": {"path": str(secret)}}]]]],
    ]
    for i, content in enumerate(named):
        history = [{"role": "assistant", "content": [content]}]
        for api_name, data in (("retry", [history, 5, {}, None, [], []]), ("chat", ["hi", history, 5, {}])):
            body = {"data": data, "fn_index": fn[api_name], "session_hash": f"bob-n23-{i}-{api_name}"}
            r = ui.post("/gradio_api/queue/join", json=body, headers=bob)
            assert r.status_code == 400, (api_name, content, r.text)
            assert r.json()["error"]["message"] in (ONLY_UPLOADED, ONLY_TEXT)
    copies = [p for p in Path(get_upload_folder()).rglob("*") if p.is_file() and p.name == secret.name]
    assert not copies, copies
    # deeper than Python's JSON parser reads, within the body limit: refused, not a server error
    deep = '{"data": ' + "[" * 5_000 + "]" * 5_000 + ', "fn_index": 0, "session_hash": "bob-n23-deep"}'
    r = ui.post("/gradio_api/queue/join", content=deep, headers={**bob, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["message"] == "an event nested too deeply", r.text


def test_n25_a_chat_message_holds_only_text_and_no_state_is_shared_by_link(
    ui: TestClient, office: Container
) -> None:
    """A member's history with an HTML "component" part (script in an image's onerror), saved in a deep
    link, ran in the browser of the admin who opened the link; a component's constructor arguments also had
    Gradio copy server files (a button's icon). Each is refused before Gradio reads it."""
    bob = {"Authorization": f"Bearer {office.storage.users.rotate_key('bob').api_key}"}  # type: ignore[union-attr]
    config = ui.get("/config", headers=bob).json()
    chat = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "chat")
    planted = [
        {"type": "component", "component": "html", "value": "<img src=x onerror=alert(1)>"},
        {"component": "button", "constructor_args": {"icon": "/etc/hostname"}},
        {"type": "html", "text": "<script>alert(1)</script>"},
    ]
    for i, part in enumerate(planted):
        history = [{"role": "assistant", "content": [part]}]
        body = {"data": ["hi", history, 5, {}], "fn_index": chat, "session_hash": f"bob-n25-{i}"}
        r = ui.post("/gradio_api/queue/join", json=body, headers=bob)
        assert r.status_code == 400 and r.json()["error"]["message"] == ONLY_TEXT, (part, r.text)
    text = [{"role": "user", "content": [{"type": "text", "text": "<b>hi</b>"}]}]
    body = {"data": ["hi", text, 5, {}], "fn_index": chat, "session_hash": "bob-n25-text"}
    assert ui.post("/gradio_api/queue/join", json=body, headers=bob).status_code == 200, "text goes through"
    saved = ui.get("/gradio_api/deep_link", params={"session_hash": "bob-n25-text"}, headers=bob)
    assert saved.status_code == 404
    assert ui.get("/", params={"deep_link": "Tq43Lc211bc"}, headers=bob).status_code == 404


def test_n26_a_members_upload_event_deletes_no_file(office: Container) -> None:
    from gradio.utils import get_upload_folder

    app = api(office)
    demo = build_ui(office, app.app.state.gate)  # type: ignore[attr-defined]
    upload = event(demo, "upload")
    kept = Path(get_upload_folder()) / "n26-someone-elses" / "report.txt"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text("not bob's", encoding="utf-8")
    bob = {"Authorization": f"Bearer {office.storage.users.rotate_key('bob').api_key}"}  # type: ignore[union-attr]

    async def run() -> list[Any]:
        return [out async for out in upload([str(kept)], False, gradio_request(bob))]

    import asyncio

    outputs = asyncio.run(run())
    assert "Only an admin" in str(outputs[0][0])
    assert kept.read_text(encoding="utf-8") == "not bob's", "the member's event deleted the file it named"
    kept.unlink()
    kept.parent.rmdir()


def test_n27_only_the_gradio_routes_the_ui_uses_are_served(ui: TestClient, office: Container) -> None:
    """A mounted Gradio app serves dozens of routes this UI never calls: a member filled /tmp through
    `process_recording`, held the CPU with `dev/reload` streams, had this offline server fetch a public URL
    through `file=`, and Gradio's run history kept one person's answers in the browser for the next."""
    from gradio.utils import get_upload_folder

    bob = {"Authorization": f"Bearer {office.storage.users.rotate_key('bob').api_key}"}  # type: ignore[union-attr]
    video = {"video": ("v.mp4", b"\x00" * 4096, "video/mp4")}
    assert ui.post("/gradio_api/process_recording", files=video, headers=bob).status_code == 404
    for route in (
        "/gradio_api/dev/reload",
        "/gradio_api/runs",
        "/gradio_api/run-history/buckets",
        "/gradio_api/startup-events",
        "/gradio_api/stream/abc/1/2/playlist.m3u8",
        "/gradio_api/openapi.json",
        "/gradio_api/file=http://198.51.100.7/x.txt",
        "/gradio_api/file=https://example.com/x.txt",
        "/gradio_api/file/http://198.51.100.7/x.txt",
        "/monitoring/summary",
    ):
        r = ui.get(route, headers=bob)
        assert r.status_code == 404 and r.json()["error"]["message"] == "not a route of this app", route
    # what the page and gradio_client use still answers, a cached upload included
    cached = Path(get_upload_folder()) / "n27-cached" / "note.txt"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text("cached", encoding="utf-8")
    try:
        assert ui.get(f"/gradio_api/file={cached}", headers=bob).text == "cached"
    finally:
        cached.unlink()
        cached.parent.rmdir()
    config = ui.get("/config", headers=bob).json()
    assert config["run_history"] is False, "no answer is kept in the browser"
    assert ui.get("/gradio_api/info", headers=bob).status_code == 200
    out = ui.get("/logout", headers=bob, follow_redirects=False)
    assert "storage" in out.headers["Clear-Site-Data"], "signing out clears what the page stored"


def test_n27_an_event_is_streamed_and_cancelled_only_by_whoever_started_it(
    ui: TestClient, office: Container
) -> None:
    storage = office.storage
    assert storage is not None
    bob = {"Authorization": f"Bearer {storage.users.rotate_key('bob').api_key}"}
    carol = {"Authorization": f"Bearer {storage.users.rotate_key('carol').api_key}"}
    config = ui.get("/config", headers=bob).json()
    chat = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "chat")
    body = {
        "data": [PUBLIC_QUESTION, [], 6, {}, None, [], [], None],
        "fn_index": chat,
        "session_hash": "bob-n27-session",
    }
    joined = ui.post("/gradio_api/queue/join", json=body, headers=bob)
    assert joined.status_code == 200, joined.text
    event = joined.json()["event_id"]
    assert ui.get(f"/gradio_api/call/chat/{event}", headers=carol).status_code == 403
    cancel = {"session_hash": "carol-n27-session", "fn_index": chat, "event_id": event}
    assert ui.post("/gradio_api/cancel", json=cancel, headers=carol).status_code == 403
    assert ui.post("/gradio_api/reset", json={"event_id": event}, headers=carol).status_code == 403
    streamed = ui.get(f"/gradio_api/call/chat/{event}", headers=bob)
    assert streamed.status_code == 200 and "8 am" in streamed.text, streamed.text[:500]
    # the curl API of the footer's API page: an event started by /call is its caller's too
    called = ui.post(
        "/gradio_api/call/chat", json={"data": [PUBLIC_QUESTION, [], 6, {}, None, [], [], None]}, headers=bob
    )
    started = called.json()["event_id"]
    assert ui.get(f"/gradio_api/call/chat/{started}", headers=carol).status_code == 403
    assert "8 am" in ui.get(f"/gradio_api/call/chat/{started}", headers=bob).text


def test_s4_a_huge_ui_history_is_refused_before_gradio_reads_it(ui: TestClient, office: Container) -> None:
    ada = {"Authorization": f"Bearer {office.storage.users.rotate_key('ada').api_key}"}  # type: ignore[union-attr]
    empty = [{"role": "user", "content": ""}] * 20_000
    body = {"data": ["hi", empty, 6, {}, None, [], []], "fn_index": 1, "session_hash": "ada-s4"}
    r = ui.post("/gradio_api/queue/join", json=body, headers=ada)
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
    r = ui.post(
        "/gradio_api/queue/join",
        content=json.dumps(body),
        headers={**ada, "Content-Type": "Application/JSON"},
    )
    assert r.status_code == 413, "a Content-Type in capitals does not skip the check"
    huge = json.dumps({**body, "data": ["hi", empty * 15, 6]})  # 300,000 messages: over the body limit
    r = ui.post("/gradio_api/queue/join", content=huge, headers={**ada, "Content-Type": "application/json"})
    assert r.status_code == 413


def test_s5_a_member_cannot_fill_the_ui_upload_cache(ui: TestClient, office: Container) -> None:
    bob = {"Authorization": f"Bearer {office.storage.users.rotate_key('bob').api_key}"}  # type: ignore[union-attr]
    r = ui.post("/gradio_api/upload", files={"files": ("a.txt", b"x" * 1000, "text/plain")}, headers=bob)
    assert r.status_code == 403


# -- N15: a long conversation goes on ------------------------------------------------------------------------
def test_n15_a_long_stored_conversation_keeps_answering(office: Container) -> None:
    from assistant.server.deps import get_chat
    from tests.fakes import FakeChat

    ada = {"Authorization": f"Bearer {office.storage.users.rotate_key('ada').api_key}"}  # type: ignore[union-attr]
    client = api(office)
    client.app.dependency_overrides[get_chat] = lambda: FakeChat()  # type: ignore[attr-defined]
    question = "When does the cafeteria open? " + "x" * 3900
    conversation = None
    for turn in range(16):
        body: dict[str, Any] = {"message": question}
        if conversation:
            body["conversation_id"] = conversation
        r = client.post("/api/chat", json=body, headers=ada)
        assert r.status_code == 200, (turn, r.text)
        conversation = r.json()["conversation_id"]
