"""OpenAI's error shape, `{"error": {"message", "type", "param", "code"}}`, and the response that carries an
AssistantError in it. A module of its own so that the middleware (guards, the gate) and the routes' error
handlers render errors alike without importing each other."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from assistant.errors import AssistantError
from assistant.settings import redact_urls


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`."""

    error: ErrorDetail


def error_body(
    message: str, kind: str = "api_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return ErrorResponse(error=ErrorDetail(message=message, type=kind, param=param, code=code)).model_dump()


def render(exc: AssistantError, headers: dict[str, str] | None = None) -> JSONResponse:
    # S16: a URL in a message (a model server's, a store's) never shows its user:password@ or ?key=
    message = redact_urls(exc.message)
    return JSONResponse(
        error_body(message, exc.kind, exc.param, exc.code), status_code=exc.status, headers=headers
    )
