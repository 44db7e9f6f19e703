"""The sign-in page for people (`/login`, a key or a name and password) and sign-out (`/logout`): they open
and end the browser session the gate checks. Guessing is throttled (N4, assistant/access/throttle.py); the
page is open to all (the middleware's OPEN_PATHS) and never in the OpenAPI schema."""

from __future__ import annotations

import asyncio
import html
import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from assistant.access.gate import Gate
from assistant.access.principal import Principal
from assistant.access.sessions import COOKIE, SECURE_COOKIE, cookie_name
from assistant.access.throttle import SignInBusy
from assistant.server.deps import get_gate

log = logging.getLogger(__name__)

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

# Seconds a refused (429) or turned-away (503) sign-in waits before its answer: an idle await, no CPU, and a
# guessing loop then makes one request a second instead of hundreds (benchmarks/bench_sign_in.py).
REFUSAL_DELAY = 1.0


def _safe_next(target: str | None) -> str:
    """Only a path on this server: no scheme, no host, no `//evil` or `/\\evil` (open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


LOGOUT_PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Sign out</title></head><body>"
    "<form method='post' action='/logout'><p>Sign out of the assistant?</p>"
    "<button type='submit'>Sign out</button></form></body></html>"
)


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
        cookie_name(request.url.scheme == "https"),
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
    cookie goes. A GET works too, so typing /logout or the page's link does it; a GET another page sent (an
    image on another local port is "same-site", so its request carries the cookie) gets a button instead
    (N29)."""
    gate = get_gate(request)
    sent_by = request.headers.get("sec-fetch-site", "none")
    if request.method == "GET" and sent_by not in ("same-origin", "none"):
        return HTMLResponse(LOGOUT_PAGE, headers={"Cache-Control": "no-store"})
    for name in (COOKIE, SECURE_COOKIE):
        value = request.cookies.get(name)
        if value:
            await run_in_threadpool(gate.end_session, value)
    response = RedirectResponse("/login", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'  # N27: what the page kept goes too
    for name in (COOKIE, SECURE_COOKIE):
        response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=name == SECURE_COOKIE)
    return response
