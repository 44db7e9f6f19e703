"""/healthz (the process is up) and /readyz (the store and the model server answer); open without a key."""

from __future__ import annotations

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from assistant.server.deps import ChatDep, SettingsDep, StoreDep
from assistant.server.schemas import Health, Readiness

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
async def readyz(settings: SettingsDep, store: StoreDep, chat: ChatDep) -> Readiness | JSONResponse:
    problems: dict[str, str] = {}
    try:
        chunks = await run_in_threadpool(store.count)
        await run_in_threadpool(store.check_embeddings)
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
    if problems:
        body = Readiness(status="not ready", chunks=chunks, model=chat.model_label, problems=problems)
        return JSONResponse(body.model_dump(exclude_none=True), status_code=503)
    return Readiness(status="ready", chunks=chunks, model=chat.model_label)
