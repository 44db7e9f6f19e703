"""The HTTP side of the gate (S1): the middleware around every door, the FastAPI dependencies and the login
page. Who a request comes from is decided by `assistant.access.gate.Gate`; this module only asks it.
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.access.gate import UNAUTHORIZED, Gate, admin_only
from assistant.access.principal import OPEN_PRINCIPAL, Principal
from assistant.access.sessions import COOKIE, SECURE_COOKIE
from assistant.access.throttle import SignInBusy
from assistant.errors import AuthenticationError, ForbiddenError
from assistant.server.error_shape import error_body, render

log = logging.getLogger(__name__)

# Paths open without a key: orchestrators' probes and the page where a person signs in.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/login", "/logout"})


# -- the middleware -----------------------------------------------------------------------------------------
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
        principal = self.gate.authenticate(HTTPConnection(scope))
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


async def _forbidden(scope: Scope, receive: Receive, send: Send) -> None:
    refusal = ForbiddenError("only an admin may manage documents, jobs, users and collections")
    await render(refusal)(scope, receive, send)


# -- the dependency (documents the bearer scheme in /openapi.json; the middleware already let the call in) --
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="One of RAG_API_KEYS or a user's key (`assistant users add`); needed only when keys or users "
    "exist.",
)


def get_gate(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


def require_api_key(
    request: Request,
    gate: Annotated[Gate, Depends(get_gate)],
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | None:
    if not gate.enabled:
        return None
    principal = request.scope.get("state", {}).get("principal") or gate.authenticate(request)
    if principal is None:
        raise AuthenticationError(UNAUTHORIZED)
    return principal


def current_principal(principal: Annotated[Principal | None, Depends(require_api_key)]) -> Principal:
    """Who asks; the open single-user app (no keys, no users) is its own admin with no account."""
    return principal or OPEN_PRINCIPAL


def require_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """403 for a member: documents and collections are managed by admins."""
    if not principal.is_admin:
        raise ForbiddenError("only an admin may manage documents and collections")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]


# -- the login page -----------------------------------------------------------------------------------------
router = APIRouter(include_in_schema=False)

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Grounded assistant</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f8fafc;
  display: flex; min-height: 100vh; align-items: center; justify-content: center; margin: 0; }}
form {{ background: #fff; border: 1px solid #e2e8f0; border-radius: 10px; padding: 24px;
  width: min(360px, 90vw); }}
h1 {{ font-size: 1.2rem; margin: 0 0 12px; }}
label {{ display: block; font-size: 0.9rem; margin-bottom: 4px; }}
input[type=password], input[type=text] {{ width: 100%; box-sizing: border-box; padding: 8px;
  font-size: 1rem; margin-bottom: 8px; border: 1px solid #cbd5e1; border-radius: 6px; }}
button {{ margin-top: 12px; width: 100%; padding: 8px; font-size: 1rem; border: 0; border-radius: 6px;
  background: #4f46e5; color: #fff; cursor: pointer; }}
.error {{ color: #b91c1c; font-size: 0.9rem; }}
</style></head>
<body><form method="post" action="/login">
<h1>Grounded assistant</h1>
{error}
<label for="name">Name (empty to sign in with an access key)</label>
<input id="name" name="name" type="text" autocomplete="username" value="{name}"{name_focus}>
<label for="key">Password or access key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required{key_focus}>
<input type="hidden" name="next" value="{next}">
<button type="submit" id="sign-in">Sign in</button>
</form></body></html>
"""


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if request.url.scheme == "https" else COOKIE


def _safe_next(target: str | None) -> str:
    """Only a path on this server: no scheme, no host, no `//evil` or `/\\evil` (open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def _login_page(next_: str, error: str = "", status: int = 200, name: str = "") -> HTMLResponse:
    """The sign-in form; after a failure the name stays filled in and the password box has the focus."""
    message = f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else ""
    body = LOGIN_PAGE.format(
        error=message,
        next=html.escape(_safe_next(next_), quote=True),
        name=html.escape(name, quote=True),
        name_focus="" if name else " autofocus",
        key_focus=" autofocus" if name else "",
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    gate = get_gate(request)
    if not gate.enabled or gate.authenticate(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(next)


# Seconds a refused (429) or turned-away (503) sign-in waits before its answer: an idle await, no CPU, and a
# guessing loop then makes one request a second instead of hundreds (benchmarks/bench_sign_in.py).
REFUSAL_DELAY = 1.0


@router.post("/login")
async def login(request: Request) -> Response:
    gate = get_gate(request)
    form = await request.form(max_files=0, max_fields=5, max_part_size=4096)
    next_ = str(form.get("next") or "/")
    if not gate.enabled:
        return RedirectResponse(_safe_next(next_), status_code=303)
    name, secret = str(form.get("name") or "").strip(), str(form.get("key") or "")
    host = request.client.host if request.client else "?"  # the peer: proxies are trusted only by setting
    admission = gate.sign_in.admit(name, host)
    if admission.wait:
        await asyncio.sleep(REFUSAL_DELAY)  # a refused guesser waits too: its loop cannot flood the server
        page = _login_page(next_, "Too many sign-in attempts: try again in a few minutes.", 429, name)
        page.headers["Retry-After"] = str(int(admission.wait) + 1)
        return page
    if admission.delay:
        await asyncio.sleep(admission.delay)  # repeated failures for this name, from anywhere: slower
    try:
        principal = await run_in_threadpool(gate.sign_in.check, lambda: _check(gate, name, secret))
    except SignInBusy:
        await asyncio.sleep(REFUSAL_DELAY)
        page = _login_page(next_, "The server is busy with other sign-ins: try again in a moment.", 503, name)
        page.headers["Retry-After"] = "2"
        return page
    if principal is None:
        gate.sign_in.failed(name, host)
        await asyncio.sleep(0.5)  # slows guessing; keys should be long and random anyway
        log.warning("failed sign-in from %s", host)
        return _login_page(next_, "That name and password, or that key, is not valid.", 401, name)
    gate.sign_in.succeeded(name, host)
    response = RedirectResponse(_safe_next(next_), status_code=303)
    response.set_cookie(
        cookie_name(request),
        await run_in_threadpool(gate.open_session, principal),
        max_age=int(gate.session_seconds),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def _check(gate: Gate, name: str, secret: str) -> Principal | None:
    """A name and password, or (no name) an access key: the principal, or None."""
    return gate.check_password(name, secret) if name else gate.check_key(secret.strip())


@router.get("/logout")
@router.post("/logout")
async def logout(request: Request) -> Response:
    """Signs out: the session ends on the server (a copy of the cookie is worth nothing, N3), then the
    cookie goes. A GET works too, so typing /logout does it (SameSite=Strict: another site cannot)."""
    gate = get_gate(request)
    for name in (COOKIE, SECURE_COOKIE):
        value = request.cookies.get(name)
        if value:
            await run_in_threadpool(gate.end_session, value)
    response = RedirectResponse("/login", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Clear-Site-Data"] = '"cookies"'
    for name in (COOKIE, SECURE_COOKIE):
        response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=name == SECURE_COOKIE)
    return response
