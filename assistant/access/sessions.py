"""The browser side of a session: the cookie that names it, signed so that it cannot be forged or altered.
The session itself is a row of the database (assistant/storage/sessions.py); a cookie only names its token,
so ending the row ends the cookie (N2, N3).

The cookie is `base64(json{s: token, exp}).HMAC-SHA256`, with a secret from RAG_SESSION_SECRET or generated
once into the data dir (0600)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

COOKIE = "assistant_session"
# Over HTTPS the cookie is `__Host-` prefixed (N9): the browser then takes it only from this exact origin,
# Secure, for path /, so a page on another port or a subdomain cannot plant one.
SECURE_COOKIE = "__Host-assistant_session"
SECRET_FILE = "session_secret"


def cookie_name(https: bool) -> str:
    """The cookie a new session is set in."""
    return SECURE_COOKIE if https else COOKIE


def cookie_of(request: HTTPConnection) -> str | None:
    """The session cookie a request carries; over HTTPS only the `__Host-` one counts."""
    https = getattr(getattr(request, "url", None), "scheme", "http") == "https"
    return request.cookies.get(SECURE_COOKIE) or (None if https else request.cookies.get(COOKIE))


def seal(secret: bytes, token: str, seconds: float) -> str:
    """A cookie value naming a session token, valid for `seconds` from now."""
    body = json.dumps({"s": token, "exp": int(time.time() + seconds)}).encode()
    payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
    return f"{payload}.{_sign(secret, payload)}"


def unseal(secret: bytes, value: str) -> str | None:
    """The session token a cookie names, when the cookie is this server's, unaltered and unexpired."""
    payload, _, signature = value.partition(".")
    if not secret or not payload:
        return None
    if not hmac.compare_digest(signature.encode(), _sign(secret, payload).encode()):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        expires, token = float(data["exp"]), str(data["s"])
    except (ValueError, KeyError, TypeError):
        return None
    return token if expires >= time.time() else None


def _sign(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, b"session:" + payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


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
