"""The API in-process (FastAPI's TestClient), components swapped by dependency overrides: the error mapping,
validation, auth and the OpenAPI schema, in seconds. The real-process tests are in test_api.py."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.answering.service import Answer
from assistant.container import Container, build_container
from assistant.errors import ModelTimeoutError, ModelUnavailableError
from assistant.server import create_api
from assistant.server.deps import get_chat, get_ingest
from assistant.settings import Settings
from tests.fakes import CAMBODIA, FakeChat
from vectorstore.errors import (
    DataDirBusyError,
    EmbeddingMismatchError,
    StoreUnavailableError,
    UnknownDocumentError,
    UploadError,
)
from vectorstore.ingest import IngestReport, SkippedFile

QUESTION = {"message": "With whom?"}


class FakeIngest:
    def __init__(self, outcome: IngestReport | Exception | None = None) -> None:
        self.outcome = outcome or IngestReport(files_seen=1, files_changed=1, chunks_added=2)

    def _result(self) -> Any:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    def add_upload(self, name: str, data: bytes, max_bytes: int, replace: bool = False) -> IngestReport:
        self.replace = replace
        return self._result()

    def delete(self, source: str) -> int:
        self._result()
        return 3

    def list_documents(self) -> list[Any]:
        self._result()
        return []


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Container:
    """Real components over an empty store (nothing is embedded: the model never loads)."""
    return build_container(Settings(data_dir=tmp_path_factory.mktemp("inprocess") / "data"))


def api(container: Container, chat: Any = None, ingest: Any = None, **settings: Any) -> TestClient:
    if settings:
        container = Container(
            **{**container.__dict__, "settings": container.settings.model_copy(update=settings)}
        )
    app: FastAPI = create_api(container)
    app.dependency_overrides[get_chat] = lambda: chat or FakeChat()
    app.dependency_overrides[get_ingest] = lambda: ingest or FakeIngest()
    # a host name the server answers to (RAG_ALLOWED_HOSTS' default); TestClient's own is "testserver"
    return TestClient(app, raise_server_exceptions=False, base_url="http://localhost")


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


# -- validation: 400 in OpenAI's shape, as documented ------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/chat", {}),
        ("/api/chat", {"message": ""}),
        ("/api/chat", {"message": "   "}),
        ("/api/chat", {"message": "hi", "k": 0}),
        ("/api/chat", {"message": "hi", "history": [{"role": "system", "content": "x"}]}),
        ("/v1/chat/completions", {"model": "grounded-assistant", "messages": []}),
        ("/v1/chat/completions", {"model": "grounded-assistant", "messages": [{"role": "assistant"}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        (
            "/v1/chat/completions",
            {"model": "grounded-assistant", "messages": [{"role": "user"}], "stream": 0},
        ),
        ("/api/chat", {"message": "hi", "k": "3"}),
    ],
)
def test_invalid_requests_are_400(container: Container, path: str, body: dict[str, Any]) -> None:
    r = api(container).post(path, json=body)
    assert r.status_code == 400, r.text
    assert error_of(r)["type"] == "invalid_request_error"


def test_malformed_json_and_limits(container: Container) -> None:
    client = api(container, max_message_chars=10, max_history_turns=1)
    r = client.post("/api/chat", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = client.post("/api/chat", json={"message": "x" * 11})
    assert r.status_code == 400 and error_of(r)["code"] == "message_too_long"
    history = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}] * 2
    r = client.post("/api/chat", json={"message": "hi", "history": history})
    assert r.status_code == 400 and error_of(r)["code"] == "history_too_long"
    r = client.post(
        "/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "q"}]}
    )
    assert r.status_code == 404 and error_of(r)["code"] == "model_not_found"


# -- errors from below, mapped by class ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (ModelUnavailableError("cannot reach the model server at http://x"), 502, "model_unavailable"),
        (ModelTimeoutError("the model server at http://x did not answer in time"), 504, "model_timeout"),
        (
            EmbeddingMismatchError("built with another model: run assistant ingest --reindex"),
            409,
            "embedding_mismatch",
        ),
        (StoreUnavailableError("the Chroma store is unreachable"), 503, "store_unavailable"),
        (DataDirBusyError("another process holds the data dir"), 503, "store_busy"),
        (RuntimeError("boom"), 500, "internal_error"),
    ],
)
def test_answer_errors_map_to_statuses(container: Container, exc: Exception, status: int, code: str) -> None:
    for path, body in [
        ("/api/chat", QUESTION),
        (
            "/v1/chat/completions",
            {"model": "grounded-assistant", "messages": [{"role": "user", "content": "q"}]},
        ),
    ]:
        r = api(container, chat=FakeChat(exc)).post(path, json=body)
        assert r.status_code == status, r.text
        error = error_of(r)
        if status == 500:  # an unexpected error: its text stays in the log, the caller gets a request id
            assert str(exc) not in error["message"]
            assert f"request id {r.headers['x-request-id']}" in error["message"]
        else:
            assert error["code"] == code and str(exc) in error["message"]


def test_a_stream_that_fails_ends_with_an_error_event(container: Container) -> None:
    body = {"model": "grounded-assistant", "messages": [{"role": "user", "content": "q"}], "stream": True}
    r = api(container, chat=FakeChat(ModelTimeoutError("too slow"))).post("/v1/chat/completions", json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in r.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and '"code": "model_timeout"' in events[-2]


def test_document_errors(container: Container) -> None:
    client = api(container, ingest=FakeIngest(UnknownDocumentError("gone.txt")))
    r = client.delete("/api/documents/gone.txt")
    assert r.status_code == 404 and error_of(r)["message"] == "no document named 'gone.txt'"
    client = api(container, max_upload_mb=0.001)
    r = client.post("/api/documents", files={"files": ("big.txt", b"x" * 2000, "text/plain")})
    assert r.status_code == 413 and error_of(r)["code"] == "file_too_large"
    r = client.post("/api/documents", files={"files": ("run.exe", b"MZ", "application/octet-stream")})
    assert r.status_code == 415 and error_of(r)["code"] == "unsupported_file_type"
    bad_name = FakeIngest(UploadError("invalid file name '../x.txt'"))
    r = api(container, ingest=bad_name).post(
        "/api/documents", files={"files": ("../x.txt", b"x", "text/plain")}
    )
    assert r.status_code == 400 and error_of(r)["code"] == "invalid_file"
    unreadable = FakeIngest(IngestReport(skipped=[SkippedFile("scan.pdf", "no text could be extracted")]))
    r = api(container, ingest=unreadable).post(
        "/api/documents", files={"files": ("scan.pdf", b"%PDF", "application/pdf")}
    )
    assert r.status_code == 422 and "could not be ingested" in error_of(r)["message"]
    r = client.post("/api/documents", files={"files": ("ok.txt", b"fine", "text/plain")})
    assert (
        r.status_code == 200
        and r.json()["ingested"][0] | {"filename": "ok.txt", "chunks_added": 2} == r.json()["ingested"][0]
    )
    r = client.post("/api/documents")
    assert r.status_code == 400


# -- shapes, auth, methods ----------------------------------------------------------------------------------
def test_the_answer_shape_is_the_service_answer_with_text_named_answer(container: Container) -> None:
    r = api(container).post("/api/chat", json=QUESTION)
    assert r.status_code == 200
    # plus the stored conversation the exchange went to (issue 12) and the stored answer's id (issue 23)
    assert set(r.json()) == ({*Answer.model_fields} - {"text"}) | {"answer", "conversation_id", "message_id"}
    assert r.json()["conversation_id"]
    assert r.json()["answer"] == CAMBODIA.text and r.json()["citations"][0]["source"] == "a.txt"


def test_api_keys(container: Container) -> None:
    client = api(container, api_keys="key-one,key-two")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "key-one"}):
        r = client.get("/v1/models", headers=headers)
        assert r.status_code == 401 and error_of(r)["code"] == "invalid_api_key"
        assert client.post("/api/chat", json=QUESTION, headers=headers).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer key-two"}).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 401, "the schema is behind the gate too"
    schema = client.get("/openapi.json", headers={"Authorization": "Bearer key-one"}).json()
    assert "apiKey" in schema["components"]["securitySchemes"]
    assert "401" in schema["paths"]["/api/chat"]["post"]["responses"]


def test_unknown_methods_on_api_paths_are_405_with_allow(container: Container) -> None:
    client = api(container)
    for method, path, allow in [
        ("TRACE", "/v1/models", "GET"),
        ("PUT", "/api/chat", "POST"),
        ("PATCH", "/api/documents", "GET, POST"),
        ("GET", "/api/documents/a.txt", "DELETE"),
    ]:
        r = client.request(method, path)
        assert r.status_code == 405 and r.headers["allow"] == allow, (method, path)
        assert error_of(r)["code"] == "method_not_allowed"


def test_openapi_documents_every_status_and_400_not_422(container: Container) -> None:
    schema = api(container).get("/openapi.json").json()
    paths = schema["paths"]
    statuses = {f"{m.upper()} {p}": set(op["responses"]) for p, ops in paths.items() for m, op in ops.items()}
    assert statuses == {
        "GET /v1/models": {"200", "500"},
        "POST /v1/chat/completions": {"200", "400", "403", "404", "409", "500", "502", "503", "504"},
        "POST /api/chat": {"200", "400", "403", "404", "409", "500", "502", "503", "504"},
        "GET /api/conversations": {"200", "500"},
        "GET /api/conversations/{conversation_id}": {"200", "404", "500"},
        "PATCH /api/conversations/{conversation_id}": {"200", "400", "403", "404", "500"},
        "DELETE /api/conversations/{conversation_id}": {"200", "403", "404", "500"},
        "POST /api/feedback": {"201", "400", "403", "404", "500", "503"},
        "GET /api/feedback": {"200", "400", "500"},
        "GET /api/admin/feedback": {"200", "400", "403", "500"},
        "GET /api/documents": {"200", "500", "503"},
        "POST /api/documents": {"200", "202", "400", "403", "409", "413", "415", "422", "500", "503"},
        "DELETE /api/documents/{source}": {"200", "403", "404", "500", "503"},
        "GET /api/jobs": {"200", "403", "500"},
        "GET /api/jobs/{job_id}": {"200", "403", "404", "500"},
        "DELETE /api/jobs/{job_id}": {"200", "403", "404", "500"},
        "GET /healthz": {"200"},
        "GET /readyz": {"200", "503"},
        "GET /metrics": {"200", "403", "500"},
        "GET /api/admin/users": {"200", "403", "500", "503"},
        "POST /api/admin/users": {"201", "400", "403", "409", "500", "503"},
        "DELETE /api/admin/users/{name}": {"200", "400", "403", "404", "409", "500", "503"},
        "POST /api/admin/users/{name}/key": {"200", "400", "403", "404", "500", "503"},
        "PUT /api/admin/users/{name}/password": {"200", "400", "403", "404", "500", "503"},
        "GET /api/admin/collections": {"200", "403", "500", "503"},
        "POST /api/admin/collections": {"201", "400", "403", "409", "500", "503"},
        "PUT /api/admin/collections/{name}/members/{user}": {"200", "400", "403", "404", "500", "503"},
        "DELETE /api/admin/collections/{name}/members/{user}": {"200", "400", "403", "404", "500", "503"},
    }
    assert "securitySchemes" not in schema["components"], "no key configured: no auth documented"
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["ChatRequest"]["properties"]["message"]["maxLength"] == 4000
    stream = paths["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert {"application/json", "text/event-stream"} <= set(stream)
