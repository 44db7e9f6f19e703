"""The request guards around the whole app (API and UI), outermost first:

- `SecurityHeadersMiddleware`: a request id on every request (`X-Request-ID`, in 500 bodies and the log, S17)
  and the security headers on every response: a Content-Security-Policy (no remote images or forms, no
  framing by other sites: S10), `nosniff`, `Referrer-Policy`.
- `TrustedHostMiddleware`: only the host names in RAG_ALLOWED_HOSTS (default: the local names and the bind
  host) are answered, so a DNS-rebinding page cannot reach the server under its own name (S15).
- `SameOriginMiddleware`: a state-changing request (POST, PUT, PATCH, DELETE) from a browser must come from
  this origin: `Sec-Fetch-Site` cross-site/same-site or a foreign `Origin` is refused with 403 (S15). Clients
  that send neither (curl, bots, the `openai` client) are not browsers and pass.
- `BodyLimitMiddleware`: a request body over its limit is refused with 413 before the app reads it into
  memory (a JSON body is parsed whole before any field limit applies); uploads have their own per-file limit.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.server.error_shape import error_body

# img-src: no remote image is fetched from an answer or a document (exfiltration); form-action: no form posts
# elsewhere; connect-src: scripts talk to this server only; frame-ancestors: no clickjacking. Scripts and
# styles stay as Gradio needs them (inline), and /docs still loads Swagger UI.
CSP = (
    "img-src 'self' data: blob:; media-src 'self' data: blob:; form-action 'self'; connect-src 'self'; "
    "frame-ancestors 'self'; base-uri 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Where files are uploaded (the API's and Gradio's): the only routes whose multipart bodies may be large.
UPLOAD_PATHS = frozenset({"/api/documents", "/gradio_api/upload"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_of(scope: Scope) -> str:
    state = scope.get("state") or {}
    return str(state.get("request_id", "-"))


def _error(message: str, status: int, code: str) -> JSONResponse:
    return JSONResponse(error_body(message, "invalid_request_error", code=code), status_code=status)


# The API's answers are one caller's (their conversations, answers from their collections).
PRIVATE_PATHS = ("/api/", "/v1/", "/mcp")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id

        private = str(scope.get("path", "")).startswith(PRIVATE_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in out:
                        out[name] = value
                if private and "cache-control" not in out:
                    out["cache-control"] = "no-store"  # one person's answers: no cache keeps them
                out["x-request-id"] = request_id
            await send(message)

        await self.app(scope, receive, send_with_headers)


def split_host(host: str) -> str:
    """The host name of a Host header or netloc, without the port; IPv6 literals keep their brackets off."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class TrustedHostMiddleware:
    """400 for a Host header naming none of `allowed` (`*` allows all; `*.example.com` a domain's hosts)."""

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.any = "*" in allowed
        self.allowed = {split_host(h) for h in allowed if not h.startswith("*")}
        self.suffixes = tuple(h[1:].lower() for h in allowed if h.startswith("*."))

    def allows(self, host_header: str) -> bool:
        host = split_host(host_header)
        return self.any or host in self.allowed or (bool(host) and host.endswith(self.suffixes or ("\0",)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.any:
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if not self.allows(host):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                message = "this server does not answer to that host name (set RAG_ALLOWED_HOSTS)"
                response = _error(message, 400, "invalid_host")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _origin_netloc(origin: str) -> str:
    parts = urlsplit(origin)
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return host if port in (None, default) else f"{host}:{port}"


def _host_netloc(host: str) -> str:
    host = host.strip().lower()
    for default in (":80", ":443"):
        if host.endswith(default):
            return host[: -len(default)]
    return host


class SameOriginMiddleware:
    """403 for a cross-site state-changing request from a browser (CSRF; the default has no keys at all)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") in UNSAFE_METHODS:
            refusal = self.refusal(dict(scope.get("headers") or []))
            if refusal:
                await _error(f"cross-site request refused: {refusal}", 403, "cross_site_request")(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)

    @staticmethod
    def refusal(headers: dict[bytes, bytes]) -> str:
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        if site and site not in ("same-origin", "none"):
            return f"Sec-Fetch-Site is {site}"
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin:
            host = headers.get(b"host", b"").decode("latin-1")
            if origin == "null" or _origin_netloc(origin) != _host_netloc(host):
                return f"the Origin {origin} is not this server"
        return ""


class BodyLimitMiddleware:
    """413 for a body over its limit, before the app reads it into memory or spools it to disk: `upload_limit`
    for a multipart upload to an upload route, `api_limit` for anything else on /api and /v1 (multipart
    included, N5: a form parser reads the whole body before any field check), `other_limit` elsewhere (the
    UI's Gradio calls carry the chat history). A Content-Length is checked first; a chunked body is read up
    to the limit (bounded memory) and handed on whole, since the app would turn an error raised mid-body
    into a 400."""

    def __init__(
        self, app: ASGIApp, api_limit: int, other_limit: int, upload_limit: int | None = None
    ) -> None:
        self.app = app
        self.api_limit = api_limit
        self.other_limit = other_limit
        self.upload_limit = upload_limit if upload_limit is not None else other_limit

    def limit_for(self, path: str, multipart: bool) -> int:
        if multipart and path.rstrip("/") in UPLOAD_PATHS:
            return self.upload_limit
        api = path.startswith(("/api/", "/v1/")) or path.rstrip("/") == "/mcp"
        return self.api_limit if api else self.other_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)  # a repeated header reads as the app reads it: the first one
        multipart = headers.get("content-type", "").lower().startswith("multipart/")
        limit = self.limit_for(str(scope.get("path", "")), multipart)
        too_large = _error(
            f"the request body is larger than this server accepts ({limit // 1024} KB)",
            413,
            "request_too_large",
        )
        length = headers.get("content-length", "")
        if length.isascii() and length.isdigit():  # "²" is a digit to str.isdigit, not to int()
            await (too_large if int(length) > limit else self.app)(scope, receive, send)
            return
        body, more = bytearray(), True  # grown in place: many small chunks must not copy it each time
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > limit:
                await too_large(scope, receive, send)
                return
        await self.app(scope, replaying(bytes(body), receive), send)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app a body already read, whole, then goes on with the real one (for the
    disconnect): for a middleware that had to read the body before the app."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
