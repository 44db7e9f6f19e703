"""POST /api/chat: one question, answered with citations and the passages retrieved, and kept in a stored
conversation (continued with `conversation_id`: the history is loaded server-side)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from assistant.access.scopes import scope_for
from assistant.errors import NotFoundError
from assistant.limits import Limits
from assistant.server.deps import (
    ChatDep,
    PrincipalDep,
    SettingsDep,
    StorageDep,
    StoreDep,
    require_api_key,
)
from assistant.server.errors import error_responses
from assistant.server.questions import answer, check_question
from assistant.server.schemas import ChatRequest, ChatResponse
from assistant.traces import answer_trace

router = APIRouter(
    prefix="/api",
    tags=["native"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 500),
)


def conversation_missing(conversation_id: str) -> NotFoundError:
    return NotFoundError(f"no conversation {conversation_id!r}", param="conversation_id")


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses=error_responses(400, 403, 404, 409, 502, 503, 504),
)
async def chat(
    body: ChatRequest,
    settings: SettingsDep,
    chat: ChatDep,
    storage: StorageDep,
    store: StoreDep,
    principal: PrincipalDep,
) -> ChatResponse:
    owner, conversation_id = principal.owner, body.conversation_id
    history = [turn.model_dump() for turn in body.history]
    if conversation_id is not None:
        if storage is None:
            raise conversation_missing(conversation_id)
        stored = await run_in_threadpool(
            storage.conversations.history_for,
            conversation_id,
            owner,
            max_messages=2 * settings.max_history_turns,
        )
        if stored is None:  # missing, or someone else's: the same 404
            raise conversation_missing(conversation_id)
        history = Limits.from_settings(settings).trim(stored)  # N15: a long conversation forgets its oldest
    check_question(settings, body.message, history, param="message")
    scope = await run_in_threadpool(scope_for, storage, principal, body.collection, body.sources)
    result = await answer(chat, body.message, history, body.k, scope)
    message_id = None
    if storage is not None:
        if conversation_id is None:
            conversation_id = (await run_in_threadpool(storage.conversations.create, owner)).id
        trace = await run_in_threadpool(
            lambda: answer_trace(settings, store, body.message, result, k=body.k, scope=scope)
        )
        kept = await run_in_threadpool(
            lambda: storage.conversations.add_exchange(
                conversation_id,
                owner,
                body.message,
                result.text,
                citations=[c.model_dump(mode="json") for c in result.citations],
                timings=result.timings,
                meta={"model": result.model, "refused": result.refused, "ungrounded": result.ungrounded},
                trace=trace,
            )
        )
        message_id = None if kept is None else kept[1].id
    return ChatResponse.model_validate(
        {**result.model_dump(), "conversation_id": conversation_id, "message_id": message_id}
    )
