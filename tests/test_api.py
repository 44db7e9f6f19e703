"""The HTTP API on a real server process, driven by the real `openai`, `httpx` and `gradio_client` clients."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
import pytest

from assistant.server.app import SHUTDOWN_GRACE_SECONDS
from tests.conftest import Server, serving_copy

QUESTION = "With which country is Russia jointly chairing the Mine Action Centre?"


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=120)


def test_models_lists_the_assistant(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["grounded-assistant"]


def test_openai_client_non_streamed_and_streamed_give_the_same_cited_answer(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="grounded-assistant", messages=[{"role": "user", "content": QUESTION}]
    )
    text = completion.choices[0].message.content
    assert "Cambodia" in text and "[" in text
    citations = completion.model_extra["citations"]
    assert citations and {"n", "source", "start", "end", "text"} <= set(citations[0])
    assert any("Cambodia" in c["text"] for c in citations)

    chunks = list(
        client.chat.completions.create(
            model="grounded-assistant", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"] == citations


def test_earlier_messages_are_the_history(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="grounded-assistant",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {
                "role": "user",
                "content": "What happened during Lavrov's meeting in Vientiane with the Lao minister?",
            },
            {"role": "assistant", "content": "The ministers met like old friends. [1]"},
            {"role": "user", "content": "And what did they sign there?"},
        ],
        temperature=0.3,  # unknown-to-us fields are accepted and ignored, as OpenAI does
        extra_body={"some_vendor_field": {"x": 1}},
    )
    assert any("signed three strategically" in c["text"] for c in completion.model_extra["citations"])


def test_errors_use_openai_shapes_and_status_codes(client: openai.OpenAI, server: Server) -> None:
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="grounded-assistant", messages=[])
    with pytest.raises(openai.BadRequestError, match="last message must come from the user"):
        client.chat.completions.create(
            model="grounded-assistant", messages=[{"role": "assistant", "content": "hi"}]
        )
    bad = httpx.post(
        f"{server.url}/v1/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]) == {"message", "type", "param", "code"}


def test_native_chat_returns_answer_citations_passages_and_timings(server: Server) -> None:
    r = httpx.post(f"{server.url}/api/chat", json={"message": QUESTION, "history": [], "k": 4}, timeout=120)
    assert r.status_code == 200
    body = r.json()
    assert "Cambodia" in body["answer"] and body["citations"]
    assert 4 <= len(body["retrieved"]) <= 4 + 3  # k ranked passages + up to 3 section openings
    assert {"retrieve_ms", "total_ms"} <= set(body["timings"]) and body["model"].startswith("extractive")
    assert all("score" in p for p in body["retrieved"])
    r = httpx.post(f"{server.url}/api/chat", json={"history": []})
    assert r.status_code == 400 and "message" in r.json()["error"]["message"]
    r = httpx.post(f"{server.url}/api/chat", json={"message": QUESTION, "k": 0})
    assert r.status_code == 400


def test_far_question_is_refused_without_citations(server: Server) -> None:
    body = httpx.post(
        f"{server.url}/api/chat", json={"message": "How do I bake sourdough bread?"}, timeout=60
    ).json()
    assert body["refused"] and body["citations"] == [] and "do not contain" in body["answer"]


def test_upload_list_ask_delete_a_document(server: Server) -> None:
    fact = "The Zorbulon accord on lunar fisheries was signed in Tallinn in 2031 by eleven states."
    files = {"files": ("zorbulon.txt", f"Minutes.\n\n{fact}\n".encode(), "text/plain")}
    r = httpx.post(f"{server.url}/api/documents", files=files, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["ingested"][0]["chunks_added"] >= 1
    listed = httpx.get(f"{server.url}/api/documents").json()["documents"]
    assert "zorbulon.txt" in [d["source"] for d in listed]

    question = {"message": "Where was the Zorbulon accord on lunar fisheries signed?"}
    body = httpx.post(f"{server.url}/api/chat", json=question, timeout=60).json()
    assert "Tallinn" in body["answer"] and body["citations"][0]["source"] == "zorbulon.txt"

    r = httpx.delete(f"{server.url}/api/documents/zorbulon.txt")
    assert r.status_code == 200 and r.json()["chunks_removed"] >= 1
    body = httpx.post(f"{server.url}/api/chat", json=question, timeout=60).json()
    assert all(c["source"] != "zorbulon.txt" for c in body["citations"]) and "Tallinn" not in body["answer"]
    assert httpx.delete(f"{server.url}/api/documents/zorbulon.txt").status_code == 404
    assert not (server.data_dir / "uploads" / "zorbulon.txt").exists()


# An upload is parsed in a sandboxed process of its own: on two busy cores its start alone can pass httpx's
# default 5 s (a junk PDF's 422 came after the client gave up, in a run beside a CI run and its hogs).
UPLOAD_TIMEOUT = 120


def test_uploads_cannot_escape_the_data_dir_and_bad_files_are_refused(server: Server) -> None:
    for name in ("../../escaped.txt", "/etc/passwd.txt", "..\\..\\escaped.txt", ".hidden.txt"):
        r = httpx.post(
            f"{server.url}/api/documents",
            files={"files": (name, b"text", "text/plain")},
            timeout=UPLOAD_TIMEOUT,
        )
        assert r.status_code == 400, name
        assert "invalid file name" in r.json()["error"]["message"]
    assert not (server.data_dir.parent / "escaped.txt").exists()
    assert not (server.data_dir.parent.parent / "escaped.txt").exists()
    r = httpx.post(
        f"{server.url}/api/documents",
        files={"files": ("run.exe", b"MZ", "application/octet-stream")},
        timeout=UPLOAD_TIMEOUT,
    )
    assert r.status_code == 415 and "unsupported file type" in r.json()["error"]["message"]
    r = httpx.post(
        f"{server.url}/api/documents",
        files={"files": ("scan.pdf", b"%PDF-1.4 junk", "application/pdf")},
        timeout=UPLOAD_TIMEOUT,
    )
    assert r.status_code == 422 and "could not be ingested" in r.json()["error"]["message"]
    names = [d["source"] for d in httpx.get(f"{server.url}/api/documents").json()["documents"]]
    assert "scan.pdf" not in names and "run.exe" not in names


def test_health_readiness_and_docs(server: Server) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready" and ready["chunks"] > 0
    assert httpx.get(f"{server.url}/docs").status_code == 200
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert {"/v1/chat/completions", "/v1/models", "/api/chat", "/api/documents"} <= set(paths)


def test_gradio_client_drives_the_ui_chat_endpoint(server: Server) -> None:
    from gradio_client import Client

    ui = Client(server.url + "/", verbose=False)
    history, _sources, box = ui.predict(QUESTION, [], 6, api_name="/chat")
    assert box == ""
    assert history[-1]["role"] == "assistant"
    content = history[-1]["content"]
    text = content if isinstance(content, str) else str(content)
    assert "Cambodia" in text and "[" in text


# -- auth and limits ------------------------------------------------------------------------------------
def test_api_keys_are_required_when_configured(locked_server: Server) -> None:
    url = locked_server.url
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "key-one"}):
        r = httpx.get(f"{url}/v1/models", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(f"{url}/api/documents", headers=headers).status_code == 401
    assert httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer key-two"}).status_code == 200
    assert httpx.get(f"{url}/healthz").status_code == 200, "health stays open for orchestrators"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{url}/v1", api_key="nope", max_retries=0).models.list()
    good = openai.OpenAI(base_url=f"{url}/v1", api_key="key-one", max_retries=0, timeout=120)
    reply = good.chat.completions.create(
        model="grounded-assistant", messages=[{"role": "user", "content": QUESTION}]
    )
    assert "Cambodia" in reply.choices[0].message.content


def test_limits_give_clear_4xx_errors(locked_server: Server) -> None:
    url, auth = locked_server.url, {"Authorization": "Bearer key-one"}
    r = httpx.post(f"{url}/api/chat", json={"message": "x" * 201}, headers=auth)
    assert r.status_code == 400 and "limit is 200" in r.json()["error"]["message"]
    history = [{"role": r, "content": "hi"} for _ in range(3) for r in ("user", "assistant")]
    r = httpx.post(f"{url}/api/chat", json={"message": "Hello?", "history": history}, headers=auth)
    assert r.status_code == 400 and "3 earlier turns" in r.json()["error"]["message"]
    big = {"files": ("big.txt", b"word " * 1000, "text/plain")}
    r = httpx.post(f"{url}/api/documents", files=big, headers=auth)
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
    assert "big.txt" not in [
        d["source"] for d in httpx.get(f"{url}/api/documents", headers=auth).json()["documents"]
    ]


@pytest.mark.slow  # a server process of its own, stopped on purpose
def test_the_server_stops_on_sigterm_while_a_ui_session_is_open(seeded_dir: Path, tmp_path: Path) -> None:
    """An open UI session keeps an event stream that never ends by itself; SIGTERM still stops the server
    after the grace period for answers in flight, instead of waiting for that stream forever."""
    from gradio_client import Client

    with serving_copy(seeded_dir, tmp_path) as srv:
        report, *_ = Client(srv.url + "/", verbose=False).predict([], False, api_name="/upload")
        assert "Choose one or more files" in report
        asked = time.monotonic()
        srv.process.terminate()
        srv.process.wait(timeout=SHUTDOWN_GRACE_SECONDS + 10)
        assert time.monotonic() - asked < SHUTDOWN_GRACE_SECONDS + 10
