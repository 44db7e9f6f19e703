"""The gate as ASGI middleware (S1): it wraps the whole app, the API routers and the mounted Gradio UI alike
(its page, `/config`, `/gradio_api/*`: uploads, queue/join, file downloads), so there is one door. Nothing
but OPEN_PATHS passes without a principal; a member's admin-only request is refused before its body is read
(N5). Who the caller is, the gate in assistant/access decides."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.access.gate import UNAUTHORIZED, Gate, admin_only
from assistant.errors import ForbiddenError, TooManyAttemptsError
from assistant.server.error_shape import error_body, render

# Paths open without a key: orchestrators' probes and the page where a person signs in.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/login", "/logout"})


def _wants_html(scope: Scope) -> bool:
    headers = dict(scope.get("headers") or [])
    accept = headers.get(b"accept", b"").decode("latin-1")
    path: str = scope.get("path", "")
    api = path.startswith(("/api/", "/v1/", "/gradio_api/")) or path in ("/api", "/v1")
    return scope.get("method") in ("GET", "HEAD") and "text/html" in accept and not api


class GateMiddleware:
    """Wraps the whole app (API routers and the mounted Gradio app): nothing but OPEN_PATHS passes without
    a principal. The principal is left in `request.state.principal` for the routes."""

    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.gate.enabled:
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        guessing = self.gate.sign_in.keys
        host = f"host:{connection.client.host if connection.client else '?'}"  # the peer, as /login reads it
        keyed = self.gate.bearer(connection) is not None
        if keyed and (wait := guessing.wait(host)):
            await _too_many_guesses(scope, receive, send, wait)
            return
        principal = self.gate.authenticate(connection)
        if principal is None and keyed:
            guessing.failed(host)
        if principal is not None:
            if not principal.is_admin and admin_only(scope.get("method", ""), scope.get("path", "")):
                await _forbidden(scope, receive, send)  # N5: before the body is read or spooled
                return
            scope.setdefault("state", {})["principal"] = principal
            await self.app(scope, receive, send)
            return
        if scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response: Response
        if _wants_html(scope):
            query = scope.get("query_string", b"").decode("latin-1")
            target = scope.get("path", "/") + (f"?{query}" if query else "")
            response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        else:
            response = JSONResponse(
                error_body(UNAUTHORIZED, "invalid_request_error", code="invalid_api_key"),
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        await response(scope, receive, send)


async def _too_many_guesses(scope: Scope, receive: Receive, send: Send, wait: float) -> None:
    """N24: this address sent too many wrong keys lately; no key from it is checked until the oldest ages
    out."""
    refusal = TooManyAttemptsError(
        "too many wrong API keys from this address: try again later", int(wait) + 1
    )
    await render(refusal, {"Retry-After": str(refusal.retry_after)})(scope, receive, send)


async def _forbidden(scope: Scope, receive: Receive, send: Send) -> None:
    refusal = ForbiddenError("only an admin may manage documents, jobs, users and collections")
    await render(refusal)(scope, receive, send)
