"""HTTP API for bots: OpenAI-compatible chat completions plus a native JSON API, over the same services."""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from assistant.budget import approx_tokens
from assistant.components import Components
from assistant.errors import ModelTimeoutError, ModelUnavailableError
from assistant.service import Answer, Done, StreamEvent, TextDelta
from vectorstore.ingest import UnknownDocumentError, UploadError
from vectorstore.store import EmbeddingMismatchError, StoreUnavailableError

log = logging.getLogger(__name__)


class APIError(Exception):
    """Rendered in OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _model_error(exc: ModelUnavailableError) -> APIError:
    if isinstance(exc, ModelTimeoutError):
        return APIError(504, str(exc), "api_error", code="model_timeout")
    return APIError(502, str(exc), "api_error", code="model_unavailable")


# -- request models ---------------------------------------------------------------------------------------
class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") in ("text", None))
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """OpenAI's request; fields we do not use (temperature, tools, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False


class HistoryTurn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class NativeChatRequest(BaseModel):
    message: str = Field(min_length=1)
    history: list[HistoryTurn] = Field(default_factory=list)
    k: int | None = Field(None, ge=1, le=50)


# -- router -----------------------------------------------------------------------------------------------
def build_api(components: Components) -> APIRouter:
    settings = components.settings
    chat, ingest = components.chat, components.ingest
    keys = [k.encode() for k in settings.api_key_list]

    def require_key(request: Request) -> None:
        if not keys:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        given = token.strip().encode() if scheme.lower() == "bearer" else b""
        # compare against every key so timing does not reveal which prefix matched
        ok = False
        for key in keys:
            ok |= hmac.compare_digest(given, key)
        if not ok:
            raise APIError(
                401, "missing or invalid API key: send 'Authorization: Bearer <key>'", code="invalid_api_key"
            )

    def check_question(question: str, history: list[dict[str, str]]) -> None:
        if not question.strip():
            raise APIError(400, "the question is empty", param="messages")
        if len(question) > settings.max_message_chars:
            raise APIError(
                400,
                f"the message is {len(question)} characters; the limit is {settings.max_message_chars}",
                param="messages",
                code="message_too_long",
            )
        turns = sum(1 for m in history if m["role"] == "user")
        if turns > settings.max_history_turns:
            raise APIError(
                400,
                f"the conversation has {turns} earlier turns; the limit is {settings.max_history_turns}",
                param="messages",
                code="history_too_long",
            )

    async def answer(question: str, history: list[dict[str, str]], k: int | None = None) -> Answer:
        try:
            return await run_in_threadpool(chat.answer, question, history, k)
        except ModelUnavailableError as exc:
            raise _model_error(exc) from exc
        except EmbeddingMismatchError as exc:
            raise APIError(409, str(exc), "api_error", code="embedding_mismatch") from exc

    router = APIRouter()
    v1 = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], dependencies=[Depends(require_key)])
    native = APIRouter(prefix="/api", tags=["native"], dependencies=[Depends(require_key)])

    @v1.get("/models")
    async def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": settings.model_id, "object": "model", "created": 0, "owned_by": "grounded-assistant"}
            ],
        }

    @v1.post("/chat/completions", response_model=None)
    async def chat_completions(body: ChatCompletionRequest) -> dict[str, Any] | StreamingResponse:
        if body.model != settings.model_id:
            raise APIError(
                404,
                f"the model '{body.model}' does not exist; use '{settings.model_id}' (see GET /v1/models)",
                param="model",
                code="model_not_found",
            )
        turns = [(m.role, m.text()) for m in body.messages if m.role in ("user", "assistant")]
        if not turns or turns[-1][0] != "user":
            raise APIError(400, "the last message must come from the user", param="messages")
        question = turns[-1][1]
        history = [{"role": role, "content": text} for role, text in turns[:-1]]
        check_question(question, history)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if body.stream:
            return StreamingResponse(
                _sse(chat.stream(question, history), completion_id, created, settings.model_id),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        result = await answer(question, history)
        prompt_tokens = sum(approx_tokens(m.text()) for m in body.messages)
        completion_tokens = approx_tokens(result.text)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": settings.model_id,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "citations": [c.model_dump() for c in result.citations],
            "ungrounded": result.ungrounded,
        }

    @native.post("/chat")
    async def native_chat(body: NativeChatRequest) -> dict[str, Any]:
        history = [t.model_dump() for t in body.history]
        check_question(body.message, history)
        result = await answer(body.message, history, body.k)
        return {
            "answer": result.text,
            "citations": [c.model_dump() for c in result.citations],
            "retrieved": [r.model_dump() for r in result.retrieved],
            "model": result.model,
            "query": result.query,
            "refused": result.refused,
            "ungrounded": result.ungrounded,
            "timings": result.timings,
        }

    @native.get("/documents")
    async def list_documents() -> dict[str, Any]:
        docs = await run_in_threadpool(ingest.list_documents)
        return {"documents": [d.__dict__ for d in docs]}

    @native.post("/documents")
    async def upload_documents(
        files: Annotated[list[UploadFile], File(description="txt, md, html, pdf, docx")],
    ) -> dict[str, Any]:
        limit = int(settings.max_upload_mb * 1_000_000)
        reports = []
        for upload in files:
            data = await upload.read(limit + 1)
            if len(data) > limit:
                raise APIError(
                    413,
                    f"'{upload.filename}' is larger than the {settings.max_upload_mb:g} MB limit",
                    param="files",
                    code="file_too_large",
                )
            try:
                report = await run_in_threadpool(ingest.add_upload, upload.filename or "", data, limit)
            except UploadError as exc:
                status = 415 if "unsupported file type" in str(exc) else 400
                raise APIError(status, str(exc), param="files", code="invalid_file") from exc
            if report.skipped:
                raise APIError(
                    422,
                    f"'{upload.filename}' could not be ingested: {report.skipped[0].reason}",
                    param="files",
                    code="unreadable_file",
                )
            reports.append({"filename": upload.filename, **report.as_dict()})
        return {"ingested": reports}

    @native.delete("/documents/{source:path}")
    async def delete_document(source: str) -> dict[str, Any]:
        try:
            removed = await run_in_threadpool(ingest.delete, source)
        except UnknownDocumentError as exc:
            raise APIError(404, f"no document named '{source}'", param="source", code="not_found") from exc
        return {"deleted": source, "chunks_removed": removed}

    @router.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", tags=["ops"], response_model=None)
    async def readyz() -> dict[str, Any] | JSONResponse:
        problems: dict[str, str] = {}
        try:
            chunks = await run_in_threadpool(components.store.count)
            await run_in_threadpool(components.store.check_embeddings)
        except Exception as exc:
            chunks = -1
            problems["store"] = f"{type(exc).__name__}: {exc}"
        base_url = settings.llm_base_url
        if settings.resolved_llm_provider in ("openai", "openai-compatible") and base_url:
            try:
                async with httpx.AsyncClient(timeout=3.0) as client:
                    response = await client.get(base_url.rstrip("/") + "/models")
                response.raise_for_status()
            except Exception as exc:
                problems["model"] = f"model server at {base_url} is not answering: {exc}"
        body = {
            "status": "ready" if not problems else "not ready",
            "chunks": chunks,
            "model": chat.model_label,
        }
        if problems:
            return JSONResponse({**body, "problems": problems}, status_code=503)
        return body

    router.include_router(v1)
    router.include_router(native)
    return router


def _sse(events: Iterator[StreamEvent], completion_id: str, created: int, model: str) -> AsyncIterator[str]:
    """OpenAI's chat.completion.chunk stream; citations ride on the final chunk; errors as an error event."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    def frames() -> Iterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            for event in events:
                if isinstance(event, TextDelta):
                    yield chunk({"content": event.text})
                elif isinstance(event, Done):
                    yield chunk(
                        {},
                        "stop",
                        citations=[c.model_dump() for c in event.answer.citations],
                        ungrounded=event.answer.ungrounded,
                    )
        except ModelUnavailableError as exc:
            yield f"data: {json.dumps(_model_error(exc).body())}\n\n"
        except Exception as exc:  # the stream has started: an error event is all we can still send
            yield f"data: {json.dumps(APIError(500, f'{type(exc).__name__}: {exc}', 'api_error').body())}\n\n"
        yield "data: [DONE]\n\n"

    return iterate_in_threadpool(frames())


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"invalid request: {where + ': ' if where else ''}{first.get('msg', 'malformed body')}"
        return JSONResponse(APIError(400, message, param=where or None).body(), status_code=400)

    @app.exception_handler(StoreUnavailableError)
    async def store_down(_: Request, exc: StoreUnavailableError) -> JSONResponse:
        return JSONResponse(APIError(503, str(exc), "api_error", code="store_unavailable").body(), 503)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        message = f"internal error: {type(exc).__name__}: {exc}"
        return JSONResponse(APIError(500, message, "api_error").body(), status_code=500)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(APIError(exc.status_code, str(exc.detail)).body(), status_code=exc.status_code)
