"""Errors on the wire: OpenAI's error shape for every API error, one mapping from exception class to status,
and the `responses=` each route declares, so the OpenAPI schema documents every status a route can return.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.error_map import FOREIGN_ERRORS, as_assistant_error
from assistant.errors import AssistantError, InvalidRequestError
from assistant.server.error_shape import ErrorResponse, error_body, render
from assistant.server.guards import request_id_of
from vectorstore.errors import QueueFullError
from vectorstore.loaders import SUPPORTED_SUFFIXES

log = logging.getLogger(__name__)

__all__ = ["FOREIGN_ERRORS", "as_assistant_error", "error_responses", "install_error_handlers"]


# What each status means on this API, for the OpenAPI schema.
STATUS_DESCRIPTIONS = {
    400: "Invalid request: malformed JSON, a missing or wrong field, or a limit exceeded",
    401: "Missing or invalid API key (only when RAG_API_KEYS is set or users exist)",
    404: "Not found: an unknown model id, document, collection, or a conversation that is not the caller's",
    405: "Method not allowed",
    403: "A cross-site request from a browser (Origin / Sec-Fetch-Site), refused; or an action for admins "
    "(document upload/delete) by a member",
    409: "Conflict: a document of that name exists (pass replace=true to replace it), or the index was "
    "built with another embedding model (run `assistant ingest --reindex`)",
    413: "The file is larger than RAG_MAX_UPLOAD_MB",
    415: f"Unsupported file type (supported: {', '.join(SUPPORTED_SUFFIXES)})",
    422: "A supported file type that contains no readable text",
    500: "Unexpected internal error",
    502: "The chat model server is down or answered with an error",
    503: "The store is unreachable or busy, or the ingestion queue is full (see Retry-After)",
    504: "The chat model server did not answer in time",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with its description and the error model."""
    return {
        status: {"model": ErrorResponse, "description": STATUS_DESCRIPTIONS[status]} for status in statuses
    }


def internal_error(request_id: str) -> AssistantError:
    """What a caller learns of an unexpected error: that it happened, and the id to find it in the log."""
    return AssistantError(f"internal error (request id {request_id}); the details are in the server log")


async def _assistant_error(request: Request, exc: Exception) -> JSONResponse:
    mapped = as_assistant_error(exc)
    if mapped is None:
        return await _unexpected(request, exc)
    retry = {"Retry-After": str(exc.retry_after)} if isinstance(exc, QueueFullError) else None
    return render(mapped, retry)


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    """400, as OpenAI answers (its clients raise BadRequestError); the schema documents 400, not 422."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"invalid request: {where + ': ' if where else ''}{first.get('msg', 'malformed body')}"
    return render(InvalidRequestError(message, param=where or None))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = "invalid_request_error" if exc.status_code < 500 else "api_error"
    return JSONResponse(error_body(str(exc.detail), kind), status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = request_id_of(request.scope)
    log.error("unhandled error (request id %s)", request_id, exc_info=exc)
    return render(internal_error(request_id), {"X-Request-ID": request_id})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AssistantError, _assistant_error)
    for foreign, _ours, _code in FOREIGN_ERRORS:
        app.add_exception_handler(foreign, _assistant_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


class MethodNotAllowedMiddleware:
    """405 with an `Allow` header for a known API path asked with another method.

    Without it the request would fall through to the UI mounted at `/`, which answers 404.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = [route for route in routes if getattr(route, "methods", None)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = self._allowed_methods(scope)
            if allowed is not None:
                response = JSONResponse(
                    error_body(
                        f"method {scope['method']} is not allowed here; use {', '.join(allowed)}",
                        "invalid_request_error",
                        code="method_not_allowed",
                    ),
                    status_code=405,
                    headers={"Allow": ", ".join(allowed)},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _allowed_methods(self, scope: Scope) -> list[str] | None:
        """None when a route takes the request (or none knows the path); else the methods the path takes."""
        allowed: set[str] = set()
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return None
            if match == Match.PARTIAL:
                allowed |= set(getattr(route, "methods", ()))
        return sorted(allowed) if allowed else None
