"""OpenAI-compatible API under /v1: any OpenAI client can ask the assistant, streamed or not."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from assistant.access.scopes import collection_of_model, scope_for, usable_collections
from assistant.answering.budget import approx_tokens
from assistant.answering.service import Done, StreamEvent, TextDelta
from assistant.errors import InvalidRequestError, NotFoundError
from assistant.server.deps import ChatDep, PrincipalDep, SettingsDep, StorageDep, require_api_key
from assistant.server.errors import as_assistant_error, error_body, error_responses, internal_error
from assistant.server.guards import request_id_of
from assistant.server.questions import answer, check_question
from assistant.server.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ModelCard,
    ModelList,
    Usage,
)
from assistant.settings import redact_urls

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/v1",
    tags=["OpenAI-compatible"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 500),
)

# One server-sent event: `data` is a JSON chat.completion.chunk, an error object, or `[DONE]` at the end.
SSE_EVENT = {
    "type": "object",
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}, "id": {"type": "string"}},
    "required": ["data"],
}
STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The completion; with `stream: true`, server-sent `chat.completion.chunk` events",
        "content": {"text/event-stream": {"schema": SSE_EVENT}},
    }
}


@router.get("/models", response_model=ModelList)
async def list_models(settings: SettingsDep, storage: StorageDep, principal: PrincipalDep) -> ModelList:
    """The assistant over every collection the caller may use, and one model per collection."""
    names = await run_in_threadpool(usable_collections, storage, principal)
    return ModelList(
        data=[ModelCard(id=settings.model_id), *(ModelCard(id=f"{settings.model_id}/{n}") for n in names)]
    )


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={**STREAM_RESPONSE, **error_responses(400, 403, 404, 409, 502, 503, 504)},
)
async def chat_completions(
    body: ChatCompletionRequest,
    settings: SettingsDep,
    chat: ChatDep,
    request: Request,
    storage: StorageDep,
    principal: PrincipalDep,
) -> ChatCompletion | StreamingResponse:
    collection = collection_of_model(body.model, settings.model_id)  # 404 for an unknown model
    try:
        scope = await run_in_threadpool(scope_for, storage, principal, collection)
    except NotFoundError as exc:  # a collection the caller may not use is a model that does not exist
        raise NotFoundError(
            f"the model '{body.model}' does not exist (see GET /v1/models)",
            param="model",
            code="model_not_found",
        ) from exc
    turns = [(m.role, m.text()) for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise InvalidRequestError("the last message must come from the user", param="messages")
    question = turns[-1][1]
    history = [{"role": role, "content": text} for role, text in turns[:-1]]
    check_question(settings, question, history, param="messages")
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if body.stream:
        return StreamingResponse(
            _sse(
                chat.stream(question, history, scope=scope) if scope else chat.stream(question, history),
                completion_id,
                created,
                body.model,
                request_id_of(request.scope),
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    result = await answer(chat, question, history, scope=scope)
    prompt_tokens = sum(approx_tokens(m.text()) for m in body.messages)
    completion_tokens = approx_tokens(result.text)
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=body.model,
        choices=[Choice(message=AssistantMessage(content=result.text))],
        usage=Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        ),
        citations=result.citations,
        ungrounded=result.ungrounded,
    )


def _sse(
    events: Iterator[StreamEvent], completion_id: str, created: int, model: str, request_id: str = "-"
) -> AsyncIterator[str]:
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
                    citations = [c.model_dump(mode="json") for c in event.answer.citations]
                    yield chunk({}, "stop", citations=citations, ungrounded=event.answer.ungrounded)
        except Exception as exc:  # the stream has started: an error event is all we can still send
            error = as_assistant_error(exc)
            if error is None:  # S17: the details go to the log, the caller gets the request id
                log.error("streamed answer failed (request id %s)", request_id, exc_info=exc)
                error = internal_error(request_id)
            body = error_body(redact_urls(error.message), error.kind, error.param, error.code)
            yield f"data: {json.dumps(body)}\n\n"
        yield "data: [DONE]\n\n"

    return iterate_in_threadpool(frames())
