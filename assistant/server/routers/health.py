"""/healthz (the process is up) and /readyz (the store and the model server answer); open without a key."""

from __future__ import annotations

import logging

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from assistant.server.deps import ChatDep, SettingsDep, StoreDep
from assistant.server.errors import as_assistant_error
from assistant.server.guards import request_id_of
from assistant.server.schemas import Health, Readiness
from assistant.settings import redact_url, redact_urls

log = logging.getLogger(__name__)

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={503: {"model": Readiness, "description": "Not ready: `problems` says what is not answering"}},
)
async def readyz(
    request: Request, settings: SettingsDep, store: StoreDep, chat: ChatDep
) -> Readiness | JSONResponse:
    # Open without a key: says what is wrong, never a credential (S16) or a server path (S17).
    problems: dict[str, str] = {}
    try:
        chunks = await run_in_threadpool(store.count)
        await run_in_threadpool(store.check_embeddings)
    except Exception as exc:
        chunks = -1
        known, request_id = as_assistant_error(exc), request_id_of(request.scope)
        if known is None:
            log.error("readiness: the store failed (request id %s)", request_id, exc_info=exc)
        problems["store"] = (
            redact_urls(known.message)
            if known
            else f"{type(exc).__name__} (request id {request_id}; details in the log)"
        )
    base_url = settings.llm_base_url
    if settings.resolved_llm_provider in ("openai", "openai-compatible") and base_url:
        try:
            async with httpx.AsyncClient(timeout=3.0) as client:
                response = await client.get(base_url.rstrip("/") + "/models")
            response.raise_for_status()
        except Exception as exc:
            problems["model"] = redact_urls(
                f"model server at {redact_url(base_url)} is not answering: {type(exc).__name__}: {exc}"
            )
    if problems:
        body = Readiness(status="not ready", chunks=chunks, model=chat.model_label, problems=problems)
        return JSONResponse(body.model_dump(exclude_none=True), status_code=503)
    return Readiness(status="ready", chunks=chunks, model=chat.model_label)
