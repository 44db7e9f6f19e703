"""POST /api/chat: one question with its history, answered with citations and the passages retrieved."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from assistant.schemas import AnswerPayload
from assistant.server.auth import require_api_key
from assistant.server.deps import ChatDep, SettingsDep
from assistant.server.errors import error_responses
from assistant.server.questions import answer, check_question
from assistant.server.schemas import ChatRequest

router = APIRouter(
    prefix="/api",
    tags=["native"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 500),
)


@router.post(
    "/chat",
    response_model=AnswerPayload,
    responses=error_responses(400, 403, 409, 502, 503, 504),
)
async def chat(body: ChatRequest, settings: SettingsDep, chat: ChatDep) -> AnswerPayload:
    history = [turn.model_dump() for turn in body.history]
    check_question(settings, body.message, history, param="message")
    return AnswerPayload.of(await answer(chat, body.message, history, body.k))
