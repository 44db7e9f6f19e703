"""One gate for every door (S1): when RAG_API_KEYS is set, every route but `/healthz`, `/readyz` and the login
page needs a key, the API and the mounted Gradio UI alike (its page, `/config`, `/gradio_api/*`: uploads,
queue/join, file downloads).

- Bots send `Authorization: Bearer <key>` (the `openai` client, `httpx`, `gradio_client.Client(url,
  headers={"Authorization": "Bearer KEY"})`).
- People sign in with a key on `/login` and get a session cookie: signed (HMAC-SHA256 with a secret from
  RAG_SESSION_SECRET or generated into the data dir, 0600), HttpOnly, SameSite=Strict, Secure over HTTPS,
  expiring after RAG_SESSION_HOURS. A session names the key it was opened with (by a fingerprint, never the
  key): removing a key from RAG_API_KEYS ends its sessions.

Users of the database (issue 12) pass the same gate: their API key as a bearer, or name and password on
`/login`; their Principal carries the user id, name and admin flag, and a user that exists turns the gate
on even without RAG_API_KEYS. `Gate.authenticate(request) -> Principal | None` is the seam;
`GateMiddleware` and the `require_api_key` dependency only ask the gate.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.errors import AuthenticationError, ForbiddenError
from assistant.server.error_shape import error_body, render
from assistant.server.throttle import SignInBusy, SignInGuard
from assistant.settings import Settings
from assistant.storage.credentials import KEY_PREFIX

if TYPE_CHECKING:
    from assistant.storage import SessionService, UserInfo, UserService

log = logging.getLogger(__name__)

COOKIE = "assistant_session"
# Over HTTPS the cookie is `__Host-` prefixed (N9): the browser then takes it only from this exact origin,
# Secure, for path /, so a page on another port or a subdomain cannot plant one.
SECURE_COOKIE = "__Host-assistant_session"
# Paths open without a key: orchestrators' probes and the page where a person signs in.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/login", "/logout"})
SECRET_FILE = "session_secret"


@dataclass(frozen=True)
class Principal:
    """Who is asking. `id` is stable and safe to log: `key:<HMAC fingerprint of the key>` for a key of
    RAG_API_KEYS (an admin without an account), `user:<id>` for a user of the database."""

    id: str
    via: Literal["bearer", "session"]
    user_id: int | None = None
    name: str | None = None
    is_admin: bool = True

    @property
    def owner(self) -> int | str | None:
        """Whose conversations these are: the user's id; a key of RAG_API_KEYS by its fingerprint (each key
        its own, N7); None for the open single-user app."""
        if self.user_id is not None:
            return self.user_id
        return self.id if self.id.startswith("key:") else None

    @classmethod
    def of_user(cls, user: UserInfo, via: Literal["bearer", "session"]) -> Principal:
        return cls(f"user:{user.id}", via, user.id, user.name, user.is_admin)


class Gate:
    """Decides who a request comes from: a key of RAG_API_KEYS, or a user of the database (their API key,
    or a session opened with name and password). Disabled (everything open) when no key is configured and
    no user exists: the local single-user app."""

    def __init__(
        self,
        keys: list[str],
        secret: bytes,
        session_seconds: float = 12 * 3600,
        users: UserService | None = None,
        secret_file: Path | None = None,
        sessions: SessionService | None = None,
        sign_in: SignInGuard | None = None,
    ) -> None:
        self.secret = secret
        self.session_seconds = session_seconds
        self.users = users
        self.sessions = sessions
        self._secret_file = secret_file
        # fingerprint -> key; a fingerprint is an HMAC of the key, so a cookie never carries the key itself
        self._keys = {self._fingerprint(key): key.encode() for key in keys}
        # once a user has been seen, the gate stays closed (N13): removing every user does not open the app
        self._users_seen = False
        self.sign_in = sign_in or SignInGuard()

    @classmethod
    def from_settings(
        cls, settings: Settings, users: UserService | None = None, sessions: SessionService | None = None
    ) -> Gate:
        keys = settings.api_key_list
        secret_file = settings.data_dir / SECRET_FILE
        if settings.session_secret is not None:
            secret = settings.session_secret.get_secret_value().encode()
        elif keys:
            secret = load_or_create_secret(secret_file)
        else:
            secret = b""  # made when the first user appears (see `enabled`)
        return cls(
            keys,
            secret,
            settings.session_hours * 3600,
            users,
            secret_file,
            sessions,
            SignInGuard(settings.sign_in_concurrency),
        )

    @property
    def enabled(self) -> bool:
        return bool(self._keys) or self._have_users()

    def _have_users(self) -> bool:
        """Asked on every request until the first user appears (N12: no open window after `users add`),
        then never again (N13: removing every user while serving does not open the app)."""
        if self._users_seen or self.users is None:
            return self._users_seen
        if self.users.count() > 0:
            if not self.secret and self._secret_file is not None:
                self.secret = load_or_create_secret(self._secret_file)
            self._users_seen = True
        return self._users_seen

    # -- the seam -------------------------------------------------------------------------------------------
    def authenticate(self, request: HTTPConnection) -> Principal | None:
        """The principal behind a bearer key or a session cookie; None when neither is valid."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return self.check_key(token.strip())
        https = getattr(getattr(request, "url", None), "scheme", "http") == "https"
        cookie = request.cookies.get(SECURE_COOKIE) or (None if https else request.cookies.get(COOKIE))
        if cookie:
            return self.check_session(cookie)
        return None

    def check_key(self, key: str) -> Principal | None:
        given = key.encode()
        found: str | None = None
        # compare against every key, in constant time, so timing tells nothing about which one (or a prefix)
        for fingerprint, known in self._keys.items():
            if hmac.compare_digest(given, known):
                found = fingerprint
        if found:
            return Principal(f"key:{found}", "bearer")
        if self.users is not None and key.startswith(KEY_PREFIX):
            user = self.users.authenticate_key(key)  # looked up by its hash
            if user is not None:
                return Principal.of_user(user, "bearer")
        return None

    def check_password(self, name: str, password: str) -> Principal | None:
        if self.users is None or not name or not password:
            return None
        user = self.users.authenticate_password(name, password)
        return None if user is None else Principal.of_user(user, "session")

    # -- sessions -------------------------------------------------------------------------------------------
    def open_session(self, principal: Principal) -> str:
        """A cookie value for a new server-side session of the principal's user (or key): signed, naming
        a random token whose row in the database is the session (N2, N3: ended there, it is worth nothing)."""
        if self.sessions is None:
            raise ValueError("browser sessions need the database (no SessionService was given)")
        if principal.user_id is not None:
            token = self.sessions.open(user_id=principal.user_id, seconds=self.session_seconds)
        else:
            fingerprint = principal.id.removeprefix("key:")
            if fingerprint not in self._keys:
                raise ValueError("a session is opened for a principal of a configured key")
            token = self.sessions.open(key_tag=fingerprint, seconds=self.session_seconds)
        body = json.dumps({"s": token, "exp": int(time.time() + self.session_seconds)}).encode()
        payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{payload}.{self._sign(payload)}"

    def session_token(self, value: str) -> str | None:
        """The session token a cookie names, when the cookie is this server's, unaltered and unexpired."""
        payload, _, signature = value.partition(".")
        if not self.secret or not payload:
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            expires, token = float(data["exp"]), str(data["s"])
        except (ValueError, KeyError, TypeError):
            return None
        return token if expires >= time.time() else None

    def check_session(self, value: str) -> Principal | None:
        token = self.session_token(value)
        found = self.sessions.check(token) if token is not None and self.sessions is not None else None
        if found is None:
            return None
        if found.user_id is not None:
            user = self.users.by_id(found.user_id) if self.users is not None else None
            return None if user is None else Principal.of_user(user, "session")
        if found.key_tag not in self._keys:
            return None  # its key was removed from RAG_API_KEYS
        return Principal(f"key:{found.key_tag}", "session")

    def end_session(self, value: str) -> None:
        """Sign-out: the session's row goes, so a copy of the cookie no longer works (N3)."""
        token = self.session_token(value)
        if token is not None and self.sessions is not None:
            self.sessions.end(token)

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self.secret, b"session:" + payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _fingerprint(self, key: str) -> str:
        return hmac.new(self.secret, b"key:" + key.encode(), hashlib.sha256).hexdigest()[:32]


def load_or_create_secret(path: Path) -> bytes:
    """The session secret kept in the data dir: created once (random, mode 0600), then read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_bytes().strip()


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


def admin_only(method: str, path: str) -> bool:
    """Requests only an admin may make, refused to members by the middleware before their body is read:
    uploads (API and Gradio), deletes, jobs and the admin API. The routes check again (AdminDep)."""
    path = path.rstrip("/")
    if path == "/gradio_api/upload" or path.startswith(("/api/admin", "/api/jobs")):
        return True
    return method in ("POST", "PUT", "PATCH", "DELETE") and path.startswith("/api/documents")


async def _forbidden(scope: Scope, receive: Receive, send: Send) -> None:
    refusal = ForbiddenError("only an admin may manage documents, jobs, users and collections")
    await render(refusal)(scope, receive, send)


UNAUTHORIZED = "missing or invalid API key: send 'Authorization: Bearer <key>' (browsers: sign in at /login)"


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


OPEN_PRINCIPAL = Principal("local", "session")
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
