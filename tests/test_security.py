"""Issue 11, server and UI side: each finding (S1-S6, S9, S10, S15-S17) as a test that failed before the fix.

The storage-side findings (S2's service part, S7, S8, S11-S14) are in test_store_safety.py. In-process tests
drive the app with TestClient; the gate, Gradio's routes and the upload cache need the real process.
"""

from __future__ import annotations

import asyncio
import glob
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from langchain_core.runnables import RunnableLambda

from assistant.access import Gate
from assistant.access.sessions import COOKIE
from assistant.answering.chain import Prepared, Request
from assistant.answering.service import Answer, ChatService, Done, TextDelta
from assistant.answering.support import SentenceSupport
from assistant.container import Container, build_chat, build_container
from assistant.errors import InvalidRequestError, ModelUnavailableError
from assistant.limits import Limits
from assistant.server import create_api
from assistant.server.deps import get_chat, get_ingest
from assistant.settings import Settings
from assistant.storage import Storage
from assistant.ui import chat as ui
from assistant.ui import documents as ui_documents
from assistant.ui import sources as ui_sources
from tests.conftest import LOCKED_KEYS, Server, free_port
from vectorstore.errors import DocumentExistsError
from vectorstore.ingest import IngestReport
from vectorstore.jobs import IngestQueue

KEY = LOCKED_KEYS[2]
QUESTION = "With which country is Russia jointly chairing the Mine Action Centre?"
PLANTED = (
    "Minutes. <form action='https://evil.example/steal'><input type='password' name='pw'></form> "
    "![pixel](https://evil.example/p.png?leak=1) [click](https://evil.example/x) <img src=x onerror=alert(1)>"
)


# -- helpers -------------------------------------------------------------------------------------------------
class FakeChat:
    model_label = "fake"

    def __init__(self, outcome: Answer | Exception | None = None) -> None:
        self.outcome = outcome or Answer(text="Cambodia. [1]", model="fake")

    def answer(self, question: str, history: Any = (), k: int | None = None) -> Answer:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    def stream(self, question: str, history: Any = (), k: int | None = None) -> Iterator[Any]:
        yield TextDelta("Camb")
        if isinstance(self.outcome, Exception):
            raise self.outcome
        yield Done(self.outcome)


class RecordingIngest:
    def __init__(self, outcome: IngestReport | Exception | None = None, gate: threading.Event | None = None):
        self.outcome = outcome or IngestReport(files_seen=1, files_changed=1, chunks_added=1)
        self.gate = gate
        self.calls: list[tuple[str, bool]] = []

    def add_upload(self, name: str, data: bytes, max_bytes: int | None = None, replace: bool = False) -> Any:
        self.calls.append((name, replace))
        if self.gate is not None:
            self.gate.wait(60)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    def list_documents(self) -> list[Any]:
        return []

    def delete(self, source: str) -> int:
        return 1


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Container:
    """Real components over an empty store (nothing is embedded: the model never loads)."""
    return build_container(Settings(data_dir=tmp_path_factory.mktemp("security") / "data"))


def client(
    container: Container,
    chat: Any = None,
    ingest: Any = None,
    base: str = "http://localhost",
    **settings: Any,
) -> TestClient:
    queue = settings.pop("ingest_queue_obj", None) or container.ingest_queue
    changed = container.settings.model_copy(update=settings)
    app = create_api(Container(**{**container.__dict__, "settings": changed, "ingest_queue": queue}))
    if chat is not None:
        app.dependency_overrides[get_chat] = lambda: chat
    if ingest is not None:
        app.dependency_overrides[get_ingest] = lambda: ingest
    return TestClient(app, raise_server_exceptions=False, base_url=base)


def upload(name: str = "a.txt", data: bytes = b"hello") -> dict[str, Any]:
    return {"files": (name, data, "text/plain")}


# -- S1: one gate for every door -----------------------------------------------------------------------------
def test_gate_sessions_are_signed_expire_and_end_with_their_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", api_keys=f"{KEY},other")
    storage = Storage.from_settings(settings)
    gate = Gate.from_settings(settings, storage.users, storage.sessions)
    secret_file = tmp_path / "data" / "session_secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600, "the generated secret is private"
    assert Gate.from_settings(settings).secret == gate.secret, "generated once, then reused"
    principal = gate.check_key(KEY)
    assert principal is not None and KEY not in principal.id and gate.check_key("other-ish") is None
    cookie = gate.open_session(principal)
    assert KEY not in cookie and gate.check_session(cookie) == type(principal)(principal.id, "session")
    payload, signature = cookie.split(".")
    assert gate.check_session(f"{payload}x.{signature}") is None, "tampered"
    assert gate.check_session(payload + ".") is None
    assert Gate([KEY], b"another secret", sessions=storage.sessions).check_session(cookie) is None, (
        "signed with the server's secret"
    )
    assert Gate(["other"], gate.secret, sessions=storage.sessions).check_session(cookie) is None, (
        "its key was removed"
    )
    short = Gate([KEY], gate.secret, session_seconds=-1, sessions=storage.sessions)
    assert short.check_session(short.open_session(principal)) is None, "expired"
    gate.end_session(cookie)
    assert gate.check_session(cookie) is None, "signed out: the same cookie is worth nothing"


def test_login_gives_a_strict_httponly_cookie_and_never_redirects_off_site(container: Container) -> None:
    c = client(container, chat=FakeChat(), api_keys=KEY)
    r = c.get("/api/documents", headers={"Accept": "text/html"})
    assert r.status_code == 401, "API paths answer 401, never a login page"
    r = c.get("/login")
    assert r.status_code == 200 and 'name="key"' in r.text
    r = c.post("/login", data={"key": "wrong", "next": "/"}, follow_redirects=False)
    assert r.status_code == 401 and "not valid" in r.text and COOKIE not in r.cookies
    for target, expected in [("/?x=1", "/?x=1"), ("//evil.example/", "/"), ("https://evil.example", "/")]:
        r = c.post("/login", data={"key": KEY, "next": target}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == expected, target
    header = r.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and "path=/" in header
    session = r.cookies[COOKIE]
    c.cookies.clear()
    assert c.post("/api/chat", json={"message": "q"}).status_code == 401
    c.cookies.set(COOKIE, session)
    assert c.post("/api/chat", json={"message": "q"}).status_code == 200, "the session opens the API too"
    c.cookies.set(COOKIE, session[:-2] + "AA")
    assert c.post("/api/chat", json={"message": "q"}).status_code == 401


def test_every_gradio_route_needs_a_key(locked_server: Server) -> None:
    url = locked_server.url
    routes = [
        ("GET", "/"),
        ("GET", "/config"),
        ("GET", "/gradio_api/info"),
        ("GET", "/gradio_api/file=/etc/hostname"),
        ("POST", "/gradio_api/upload"),
        ("POST", "/gradio_api/queue/join"),
        ("GET", "/gradio_api/queue/data?session_hash=x"),
        ("POST", "/gradio_api/call/chat"),
        ("POST", "/gradio_api/run/predict"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
        ("GET", "/v1/models"),
        ("GET", "/api/documents"),
    ]
    for method, path in routes:
        r = httpx.request(method, url + path, timeout=30)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.json()["error"]["code"] == "invalid_api_key"
        wrong = httpx.request(method, url + path, headers={"Authorization": "Bearer nope"}, timeout=30)
        assert wrong.status_code == 401, (method, path)
    page = httpx.get(url + "/", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2F", (
        "people get the login page"
    )
    assert httpx.get(url + "/healthz").status_code == 200 and httpx.get(url + "/readyz").status_code == 200
    assert httpx.get(url + "/login").status_code == 200
    ok = {"Authorization": f"Bearer {KEY}"}
    assert httpx.get(url + "/config", headers=ok).status_code == 200
    assert httpx.get(url + "/gradio_api/info", headers=ok).status_code == 200


def test_gradio_client_works_with_a_bearer_header_and_not_without(locked_server: Server) -> None:
    from gradio_client import Client

    with pytest.raises(Exception, match=r"(?i)credentials|login|401"):
        Client(locked_server.url + "/", verbose=False)
    ui_client = Client(locked_server.url + "/", headers={"Authorization": f"Bearer {KEY}"}, verbose=False)
    history, _sources, box = ui_client.predict(QUESTION, [], 6, api_name="/chat")
    assert box == "" and "Cambodia" in str(history[-1]["content"])


def test_a_browser_session_opens_the_ui(locked_server: Server) -> None:
    with httpx.Client(base_url=locked_server.url) as browser:
        r = browser.post("/login", data={"key": "key-two", "next": "/"})
        assert r.status_code == 303 and COOKIE in browser.cookies
        assert browser.get("/config").status_code == 200
        assert browser.get("/", headers={"Accept": "text/html"}).status_code == 200


# -- S2: uploads never replace a document silently -----------------------------------------------------------
def test_an_existing_name_is_409_unless_replace_is_asked(container: Container) -> None:
    exists = RecordingIngest(DocumentExistsError("000_seed.txt"))
    r = client(container, ingest=exists).post("/api/documents", files=upload("000_seed.txt"))
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "document_exists" and "already exists" in error["message"]
    assert "replace=true" in error["message"] and exists.calls == [("000_seed.txt", False)]
    fine = RecordingIngest()
    r = client(container, ingest=fine).post("/api/documents?replace=true", files=upload("000_seed.txt"))
    assert r.status_code == 200 and fine.calls == [("000_seed.txt", True)]


def test_the_ui_offers_to_replace_instead_of_failing_silently(tmp_path: Path) -> None:
    file = tmp_path / "000_seed.txt"
    file.write_text("forged")
    exists = RecordingIngest(DocumentExistsError("000_seed.txt"))
    text = ui_documents.ingest_files(exists, [str(file)], 1000)  # type: ignore[arg-type]
    assert "already in the library" in text and ui_documents.REPLACE_LABEL in text
    fine = RecordingIngest()
    ui_documents.ingest_files(fine, [str(file)], 1000, replace=True)  # type: ignore[arg-type]
    assert fine.calls == [("000_seed.txt", True)]


def test_replace_over_http_on_the_real_app(locked_server: Server) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    seeds = [
        d["source"] for d in httpx.get(f"{locked_server.url}/api/documents", headers=auth).json()["documents"]
    ]
    forged = {
        "files": (seeds[0], b"Forged text: the Mine Action Centre is chaired with Atlantis.", "text/plain")
    }
    r = httpx.post(f"{locked_server.url}/api/documents", files=forged, headers=auth, timeout=120)
    assert r.status_code == 409 and r.json()["error"]["code"] == "document_exists"
    chunks = {
        d["source"]: d["chunks"]
        for d in httpx.get(f"{locked_server.url}/api/documents", headers=auth).json()["documents"]
    }
    assert chunks[seeds[0]] > 1, "the seed is untouched"


# -- S3 / S4: limits enforced once, in the service, for every entry point ------------------------------------
def _recording_service(limits: Limits) -> tuple[ChatService, list[Any]]:
    seen: list[Any] = []

    def prepare(request: Request) -> Prepared:
        seen.append(request)
        return Prepared(request, request.question)

    service = ChatService(
        prepare=RunnableLambda(prepare),
        generate=RunnableLambda(lambda _: ""),
        model_label="fake",
        min_relevance=0.3,
        generative=False,
        limits=limits,
    )
    return service, seen


@pytest.mark.parametrize(
    ("question", "history", "code"),
    [
        ("x" * 101, [], "message_too_long"),
        (
            "ok?",
            [{"role": "user", "content": "x" * 5_000_000}, {"role": "assistant", "content": "a"}],
            "history",
        ),
        (
            "ok?",
            [{"role": "user", "content": "q" * 90}, {"role": "assistant", "content": "a" * 90}] * 3,
            "history",
        ),
        ("ok?", [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}] * 5, "history"),
        ("ok?", [{"role": "assistant", "content": ""}] * 100_000, "history"),
    ],
)
def test_the_service_refuses_before_anything_is_embedded(question: str, history: Any, code: str) -> None:
    service, seen = _recording_service(
        Limits(max_message_chars=100, max_turn_chars=200, max_history_chars=400, max_history_turns=4)
    )
    with pytest.raises(InvalidRequestError) as refused:
        list(service.stream(question, history))
    assert refused.value.code.startswith(code) and refused.value.status == 400
    assert seen == [], "nothing reached retrieval"
    assert list(service.stream("ok?", history[:2] if code == "message_too_long" else []))  # within limits


def test_limits_come_from_the_settings_and_cover_the_ui_the_api_and_the_cli(
    container: Container, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from assistant.cli import app as cli

    settings = Settings(data_dir=container.settings.data_dir, max_message_chars=50, max_turn_chars=60)
    chat = build_chat(settings, container.retriever, container.embeddings)
    assert chat.limits == Limits.from_settings(settings)
    # the UI path: the same refusal, as a clear message, nothing retrieved
    history, _sources, _box, _groups = list(ui.answer_turn(chat, "x" * 51, [], 6, {}))[-1]
    assert "the message is 51 characters; the limit is 50" in history[-1]["content"]
    long_turn = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a" * 61}]
    assert chat.limits.trim(long_turn) == [], "the UI's own chat forgets what no longer fits (N15)"
    # the API: 400 before a stream starts
    c = client(container, chat=FakeChat(), max_turn_chars=60, max_history_chars=100)
    r = c.post("/api/chat", json={"message": "ok?", "history": long_turn})
    assert r.status_code == 400 and r.json()["error"]["code"] == "history_too_long"
    body = {
        "model": "grounded-assistant",
        "messages": [{"role": "user", "content": "q" * 59}, {"role": "assistant", "content": "a" * 59}] * 1
        + [{"role": "user", "content": "why?"}],
        "stream": True,
    }
    r = c.post("/v1/chat/completions", json=body)
    assert r.status_code == 400 and "100" in r.json()["error"]["message"]
    # the CLI: the same message, a non-zero exit
    env = {"RAG_DATA_DIR": str(tmp_path / "data"), "RAG_MAX_MESSAGE_CHARS": "50"}
    result = CliRunner().invoke(cli, ["ask", "x" * 51], env=env)
    assert result.exit_code != 0 and "the limit is 50" in result.output


def test_the_ui_queue_and_concurrency_are_bounded(container: Container) -> None:
    from assistant.ui import build_ui

    settings = container.settings.model_copy(update={"ui_queue_size": 7})
    demo = build_ui(Container(**{**container.__dict__, "settings": settings}))
    assert demo._queue.max_size == 7
    limits = {fn.api_name: fn.concurrency_limit for fn in demo.fns.values() if fn.api_name}
    assert limits["chat"] == 4 and limits["upload"] == 4
    assert all(fn.concurrency_limit is not None for fn in demo.fns.values() if fn.queue)


# -- S5: uploads in the UI -----------------------------------------------------------------------------------
def test_gradio_uploads_are_bounded_and_leave_nothing_in_its_cache(
    locked_server: Server, tmp_path: Path
) -> None:
    from gradio.utils import get_upload_folder
    from gradio_client import Client, handle_file

    auth = {"Authorization": f"Bearer {KEY}"}
    big = {"files": ("big.txt", b"x" * 20_000, "text/plain")}
    r = httpx.post(f"{locked_server.url}/gradio_api/upload", files=big, headers=auth, timeout=60)
    assert r.status_code == 413, "Gradio's max_file_size is RAG_MAX_UPLOAD_MB"
    name = f"cachecheck{time.time_ns()}.txt"
    file = tmp_path / name
    file.write_text("The Plimsoll accord on canal tolls was signed in Ghent in 2044.\n")
    ui_client = Client(locked_server.url + "/", headers=auth, verbose=False)
    report, *_ = ui_client.predict([handle_file(str(file))], False, api_name="/upload")
    assert f"✓ **{name}** added" in report
    assert glob.glob(f"{get_upload_folder()}/**/{name}", recursive=True) == [], "the cached copy is deleted"


def test_the_ui_checks_a_file_size_before_reading_it(tmp_path: Path) -> None:
    file = tmp_path / "big.txt"
    file.write_bytes(b"x" * 2000)
    ingest = RecordingIngest()
    text = ui_documents.ingest_files(ingest, [str(file)], 1000)  # type: ignore[arg-type]
    assert "the limit is 0.0 MB" in text and ingest.calls == []


# -- S6: reads stay responsive while uploads embed -----------------------------------------------------------
class _ServerThread:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: Any) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def test_reads_answer_while_uploads_wait_and_a_full_queue_says_so(container: Container) -> None:
    release = threading.Event()
    ingest = RecordingIngest(gate=release)
    queue = IngestQueue(workers=1, capacity=3)
    app = create_api(Container(**{**container.__dict__, "ingest_queue": queue}))
    app.dependency_overrides[get_ingest] = lambda: ingest

    async def scenario(url: str) -> tuple[list[int], float, float, str]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            uploads = [
                asyncio.create_task(http.post("/api/documents", files=upload(f"f{i}.txt"))) for i in range(45)
            ]
            await asyncio.sleep(3)  # every upload has arrived: 1 ingesting, 3 waiting, the rest refused
            started = time.perf_counter()
            ready = await http.get("/readyz")
            listed = await http.get("/api/documents")
            elapsed = time.perf_counter() - started
            assert ready.status_code == 200 and listed.status_code == 200
            refused = [u for u in uploads if u.done()]
            retry_after = (await refused[0]).headers.get("retry-after", "") if refused else ""
            release.set()
            statuses = [(await u).status_code for u in uploads]
            return statuses, elapsed, len(refused), retry_after

    with _ServerThread(app) as url:
        statuses, elapsed, _refused, retry_after = asyncio.run(scenario(url))
    assert elapsed < 5, f"/readyz and GET /api/documents took {elapsed:.1f} s during the uploads"
    assert statuses.count(200) == 4 and statuses.count(503) == 41, statuses
    assert retry_after.isdigit()
    queue.shutdown()


def test_a_full_queue_is_a_clear_503(container: Container) -> None:
    release = threading.Event()
    queue = IngestQueue(workers=1, capacity=0)
    queue.submit("busy", release.wait, 30)
    try:
        r = client(container, ingest=RecordingIngest(), ingest_queue_obj=queue).post(
            "/api/documents", files=upload()
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "ingest_queue_full"
        assert "queue is full" in r.json()["error"]["message"] and r.headers["retry-after"].isdigit()
    finally:
        release.set()


# -- S9 / S10: the UI shows document- and model-derived text as text -----------------------------------------
def test_answers_are_shown_as_text_and_round_trip_as_plain_text() -> None:
    answer = Answer(text=PLANTED + " [1]", model="fake")
    chat = FakeChat(answer)
    history, *_ = list(ui.answer_turn(chat, "What <b>is</b> it?", [], 6, {}))[-1]  # type: ignore[arg-type]
    shown = history[-1]["content"]
    for tag in ("<form", "<input", "<img", "<b>"):
        assert tag not in shown and tag not in history[-2]["content"]
    assert "&lt;form" in shown and "[1]" in shown
    assert ui.history_for_service(history) == [
        {"role": "user", "content": "What <b>is</b> it?"},
        {"role": "assistant", "content": PLANTED + " [1]"},
    ], "follow-ups get the text as the service made it"


def test_the_chatbot_renders_no_markdown_html_or_latex(container: Container) -> None:
    from assistant.ui import build_ui

    demo = build_ui(container)
    chatbot = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "chatbot")
    assert chatbot.render_markdown is False and chatbot.sanitize_html is True
    assert chatbot.latex_delimiters == [] and not chatbot.allow_tags


def test_unsupported_sentences_are_marked_under_the_answer() -> None:
    support = [
        SentenceSupport(text="Cambodia chairs it.", cites=[1], supported=True, overlap=1.0),
        SentenceSupport(
            text="It was founded on <b>Mars</b>.", cites=[1], supported=False, overlap=0.2, missing=["Mars"]
        ),
    ]
    answer = Answer(
        text="Cambodia chairs it. [1] It was founded on <b>Mars</b>. [1]",
        model="fake",
        support=support,
        unsupported=True,
    )
    history, *_ = list(ui.answer_turn(FakeChat(answer), "Who?", [], 6, {}))[-1]  # type: ignore[arg-type]
    shown = history[-1]["content"]
    assert ui.UNSUPPORTED_NOTE in shown and "It was founded on &lt;b&gt;Mars&lt;/b&gt;." in shown
    assert "Cambodia chairs it.\n" not in shown.split(ui.UNSUPPORTED_NOTE)[1], "only the unsupported one"
    assert ui.history_for_service(history)[-1]["content"] == answer.text, "the note is not sent back"


def test_source_cards_show_the_section_and_page() -> None:
    from assistant.answering.citations import Citation

    citation = Citation(
        n=1, source="guide.pdf", start=0, end=5, text="Hello", section="Install > <Linux>", page=3
    )
    card = ui_sources.source_card(0, citation, "Hello [1]", 0.5, True)
    assert "Install &gt; &lt;Linux&gt;" in card and "p. 3" in card
    assert "p. " not in ui_sources.source_card(0, citation.model_copy(update={"page": None}), "", None, True)


def test_every_response_carries_the_content_security_policy(container: Container) -> None:
    c = client(container, chat=FakeChat())
    for r in (c.get("/healthz"), c.post("/api/chat", json={"message": "q"}), c.get("/nope")):
        csp = r.headers["content-security-policy"]
        assert "img-src 'self' data:" in csp and "form-action 'self'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"


# -- S15: host names and cross-site requests -----------------------------------------------------------------
def test_only_allowed_host_names_are_answered(container: Container) -> None:
    assert client(container, base="http://evil.example").get("/healthz").status_code == 400
    assert client(container, base="http://127.0.0.1:7860").get("/healthz").status_code == 200
    assert client(container, base="http://[::1]:7860").get("/healthz").status_code == 200
    named = dict(allowed_hosts="assistant.example.org")
    assert client(container, base="https://assistant.example.org", **named).get("/healthz").status_code == 200
    assert client(container, base="http://localhost", **named).get("/healthz").status_code == 400
    assert client(container, base="http://box.lan:8080", host="box.lan").get("/healthz").status_code == 200


def test_cross_site_state_changes_are_refused(container: Container) -> None:
    ingest = RecordingIngest()
    c = client(container, chat=FakeChat(), ingest=ingest)  # no keys: the default
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:8000"},  # another local app, another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        r = c.post("/api/documents", files=upload(), headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site_request", headers
        assert c.delete("/api/documents/a.txt", headers=headers).status_code == 403
        assert c.post("/gradio_api/queue/join", json={}, headers=headers).status_code == 403
    assert ingest.calls == [], "nothing was ingested"
    same = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert c.post("/api/documents", files=upload(), headers=same).status_code == 200
    assert c.post("/api/documents", files=upload()).status_code == 200, "curl and bots send no Origin"
    assert c.get("/api/documents", headers={"Origin": "https://evil.example"}).status_code == 200


# -- S16: credentials in URLs are never shown ----------------------------------------------------------------
def test_credentials_in_urls_are_stripped_wherever_shown(container: Container, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from assistant.cli import app as cli

    secret_url = f"http://bob:hunter2@127.0.0.1:{free_port()}/v1?api_key=zzz999"
    settings = Settings(
        data_dir=tmp_path / "data", llm_provider="openai-compatible", llm_base_url=secret_url, llm_model="m"
    )
    shown = build_container(settings)
    c = TestClient(create_api(shown), raise_server_exceptions=False, base_url="http://localhost")
    ready = c.get("/readyz")
    assert ready.status_code == 503 and "127.0.0.1" in ready.text
    described = str(settings.describe())
    for text in (ready.text, described, shown.chat.model_label, shown.chat.model_endpoint):
        assert "hunter2" not in text and "zzz999" not in text and "bob" not in text, text
    assert "127.0.0.1" in settings.describe()["llm_base_url"]
    # an error naming the URL, from below: rendered without the credentials
    outage = FakeChat(ModelUnavailableError(f"cannot reach the model server at {secret_url}"))
    r = client(container, chat=outage).post("/api/chat", json={"message": "q"})
    assert r.status_code == 502 and "hunter2" not in r.text and "127.0.0.1" in r.text
    history, *_ = list(ui.answer_turn(outage, "q", [], 6, {}))[-1]  # type: ignore[arg-type]
    assert "hunter2" not in history[-1]["content"]
    result = CliRunner().invoke(
        cli, ["config"], env={"RAG_LLM_BASE_URL": secret_url, "RAG_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 0 and "127.0.0.1" in result.output and "hunter2" not in result.output


# -- S17: no internals in errors -----------------------------------------------------------------------------
def test_500s_are_generic_with_a_request_id(container: Container) -> None:
    boom = FakeChat(RuntimeError(f"sqlite failed at {container.settings.data_dir}/chroma.sqlite3"))
    c = client(container, chat=boom)
    r = c.post("/api/chat", json={"message": "q"})
    assert r.status_code == 500
    message = r.json()["error"]["message"]
    assert "sqlite" not in message and str(container.settings.data_dir) not in message
    assert f"request id {r.headers['x-request-id']}" in message
    body = {"model": "grounded-assistant", "messages": [{"role": "user", "content": "q"}], "stream": True}
    streamed = c.post("/v1/chat/completions", json=body).text
    assert "sqlite" not in streamed and "request id" in streamed


def test_a_name_too_long_for_the_disk_is_400_before_anything_is_written(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    real = build_container(settings)
    c = TestClient(create_api(real), raise_server_exceptions=False, base_url="http://localhost")
    name = "é" * 190 + ".txt"  # 194 characters, 384 bytes: passes a character count, not the file system
    r = c.post("/api/documents", files=upload(name))
    assert r.status_code == 400, r.text
    assert "invalid file name" in r.json()["error"]["message"] and "bytes" in r.json()["error"]["message"]
    assert str(tmp_path) not in r.text
    assert not settings.uploads_dir.exists() or not any(settings.uploads_dir.iterdir())


def test_an_oversized_json_body_is_413_before_it_is_read(locked_server: Server) -> None:
    """A JSON body is parsed whole before any field limit applies: the size is refused first, declared or
    streamed, and the server goes on answering."""
    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    big = b'{"message": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    declared = httpx.post(f"{locked_server.url}/api/chat", content=big, headers=auth, timeout=60)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 64 * 1024):
            yield big[i : i + 64 * 1024]

    streamed = httpx.post(
        f"{locked_server.url}/v1/chat/completions", content=chunks(), headers=auth, timeout=60
    )
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "request_too_large"
    small = httpx.post(
        f"{locked_server.url}/api/chat",
        json={"message": "Who chairs the Mine Action Centre?"},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=120,
    )
    assert small.status_code == 200 and small.json()["answer"]


def test_a_documents_name_and_title_are_printed_as_text_not_terminal_markup(tmp_path: Path) -> None:
    """The CLI prints through rich, which reads "[link=...]" and "[bold]" as markup: a document's title and
    file name are shown as the characters they are."""
    from typer.testing import CliRunner

    from assistant.cli import app as cli

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "[bold]note.md").write_text(
        "# [link=https://evil.example]Click[/link]\n\nTolls are paid in crowns.\n"
    )
    env = {"RAG_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "250"}
    assert CliRunner().invoke(cli, ["ingest", str(docs)], env=env).exit_code == 0
    listed = CliRunner().invoke(cli, ["documents"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "[link=https://evil.example]Click[/link]" in listed.output
    assert "[bold]note.md" in listed.output
    asked = CliRunner().invoke(cli, ["ask", "How are tolls paid?"], env=env)
    assert asked.exit_code == 0 and "[bold]note.md" in asked.output, asked.output


# -- N28: a flood of session names forgets only the flooder's own -------------------------------------------
def test_n28_a_flood_of_ui_session_names_forgets_only_the_flooders_own() -> None:
    """One bound for the whole table let a member push everyone's claims out with 50,000 fresh session
    names, then claim an admin's event as a session and read its answer."""
    from assistant.server.owners import Owners

    owners = Owners(per_principal=100)
    assert owners.claim("admins-session", "ada") and owners.claim("admins-event", "ada")
    for i in range(10_000):
        owners.claim(f"flood-{i}", "carol")
    assert not owners.claim("admins-event", "carol") and owners.owns("admins-event", "ada")
    assert owners.owns("admins-session", "ada")
    assert owners.owns("flood-9999", "carol") and not owners.owns("flood-0", "carol"), "her oldest go"
