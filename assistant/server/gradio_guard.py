"""Guards for the UI's Gradio events, in front of Gradio (inside the key gate, which names the caller):

- S4: an event's JSON is looked at before Gradio validates it: a list with more items than a conversation may
  hold (`max_items`) is refused with 413 at the cost of a JSON parse, not of Gradio's per-message processing
  (300,000 empty chat messages took 86 s of CPU and 1.5 GB there).
- N16: a Gradio session (its `session_hash`: the event stream, heartbeat, cancel) belongs to the principal
  that first used it; another principal naming it gets 403, so nobody else reads its event stream. Who holds
  what is `owners.py`: bounded per principal, so no flood forgets anyone else's claims (N28).
- N23: an event may name a file (a dict with a `path` or `url`, anywhere in its data) only inside Gradio's
  upload folder, where Gradio's upload route put it. Gradio copies a file an event names into its cache and
  serves the copy; mounted (not launched), it skips its own check of where that file is, so a chat history
  naming `/etc/passwd` or the data dir's database came back as a link to a copy of it.
- N25: a chat message's parts are text, as this UI sends them. Gradio's chatbot also takes "component"
  parts (built from the client's constructor arguments: HTML with script, a button whose icon is a server
  file), kept in the session's state before the handler runs; Gradio's deep links (`/gradio_api/deep_link`,
  a page's `?deep_link=`) replayed that state in whoever opened the link: a member's script ran in an
  admin's browser. This UI shares no state by link: both are refused.

- N27: only the Gradio routes this UI uses are served (`gradio_routes.py`), and an event belongs to whoever
  started it: the event id Gradio hands out for a join or a call is the caller's, and only the caller may
  stream it (`GET /gradio_api/call/{api}/{id}` streams the session of a known event, whoever asks), cancel it
  or reset it.

All read what Gradio reads, not what a well-behaved browser sends: every `session_hash` of a query string
(Gradio takes the last, so checking the first let a repeated one through), and every POST body that is
not a multipart form, whatever its Content-Type says (FastAPI reads `Application/JSON` and
`application/x+json` as JSON, Gradio's component server any type but one starting "multipart/form-data"),
the type read as Starlette reads a repeated header: the first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.server.error_shape import error_body
from assistant.server.gradio_routes import PREFIX, served
from assistant.server.guards import replaying
from assistant.server.owners import Owners

# paths that name a session in their next segment
SESSION_SEGMENTS = ("/gradio_api/heartbeat/",)
# GET /gradio_api/call/{api}/{id} streams the event its last segment names
CALL_PREFIX = "/gradio_api/call/"
COMPONENT_SERVER = "/gradio_api/component_server"  # no component of this UI has server functions
# routes whose answer hands out an event id ({"event_id": ...}): the caller's from then on
STARTING = ("/gradio_api/queue/join", CALL_PREFIX)
# routes whose body names an event (`event_id`) to act on: only its owner's
ACTING = ("/gradio_api/cancel", "/gradio_api/reset")
Refusal = tuple[int, str, str]  # status, message, error code
OTHERS_SESSION: Refusal = (403, "that UI session belongs to someone else", "forbidden")
OTHERS_EVENT: Refusal = (403, "that event belongs to someone else", "forbidden")


def _longest_list(value: Any, depth: int = 0) -> int:
    """The most items of any list inside a parsed JSON value (nesting bounded: JSON parsing already is)."""
    if depth > 32:
        return 0
    if isinstance(value, list):
        inner = max((_longest_list(v, depth + 1) for v in value), default=0)
        return max(len(value), inner)
    if isinstance(value, dict):
        return max((_longest_list(v, depth + 1) for v in value.values()), default=0)
    return 0


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    """Every dict inside a parsed JSON value, at any depth (walked without recursion: the body's nesting is
    the client's choice)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _foreign(data: Any, uploads: Callable[[], str]) -> str | None:
    """Why an event's data is refused (N23, N25): a part of a chat message that is not text, or a file
    (a dict with a `path`, or a `url`) outside Gradio's upload folder; None when it is neither."""
    folder = None  # read once, when the first file is named
    for item in _dicts(data):
        if "component" in item or "constructor_args" in item or item.get("type", "text") != "text":
            return "a chat message's parts may only be text"
        if "path" in item or "url" in item:
            folder = folder or uploads()
            if not _uploaded(item.get("path", item.get("url")), folder):
                return "an event may name only files uploaded to this server"
    return None


def _uploaded(path: Any, folder: str) -> bool:
    """Whether `path` names a file inside Gradio's upload folder (symbolic links and `..` resolved)."""
    if not isinstance(path, str) or not path or "\x00" in path:
        return False
    real = os.path.realpath(path)
    return os.path.commonpath([real, folder]) == folder


def _route_refusal(path: str, query: bytes) -> Refusal | None:
    """A route of Gradio's this app does not serve (N27), or a deep link (N25)."""
    if _deep_link(query):
        return (404, "this app shares no state by link", "not_found")
    if not served(path):
        return (404, "not a route of this app", "not_found")
    return None


def _deep_link(query: bytes) -> bool:
    """A page asked to replay a Gradio deep link (N25); the route saving one is not served (N27)."""
    return "deep_link" in parse_qs(query.decode("latin-1"), keep_blank_values=True)


def _sessions_named(path: str, query: bytes) -> list[str]:
    """Every session the request names: in its path and each `session_hash` of its query."""
    named = parse_qs(query.decode("latin-1"), keep_blank_values=True).get("session_hash", [])
    for prefix in SESSION_SEGMENTS:
        if path.startswith(prefix):
            named.append(path[len(prefix) :].split("/", 1)[0])
    return named  # a blank one too: Starlette reads "?session_hash=" as the session ""


def _may_be_json(headers: Headers) -> bool:
    """Whether a Gradio route could read this body as JSON: anything but a multipart form, as Gradio's
    component server tells one (the first Content-Type, starting with "multipart/form-data" in that case)."""
    return not headers.get("content-type", "").startswith("multipart/form-data")


class GradioEventGuard:
    def __init__(self, app: ASGIApp, max_items: int, owners: Owners | None = None) -> None:
        self.app = app
        self.max_items = max_items
        self.owners = owners or Owners()

    @staticmethod
    def uploads() -> str:
        """Gradio's upload folder, the only place an event may name a file in. Read when an event names
        one: a `/gradio_api/` request means Gradio is mounted, so imported (after the offline settings)."""
        from gradio.utils import get_upload_folder

        return os.path.realpath(get_upload_folder())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        refusal = _route_refusal(path, query)
        if refusal is None and path.startswith(PREFIX):
            principal = getattr((scope.get("state") or {}).get("principal"), "id", "open")
            method = str(scope.get("method", ""))
            refusal = self._naming_refusal(method, path, query, principal)
            if refusal is None and method == "POST":
                await self._post(scope, receive, send, path, principal)
                return
        if refusal is not None:
            await _refuse(scope, receive, send, *refusal)
            return
        await self.app(scope, receive, send)

    def _naming_refusal(self, method: str, path: str, query: bytes, principal: str) -> Refusal | None:
        """The sessions and the event a request names in its address must be the caller's (N16, N27)."""
        streamed = method == "GET" and path.startswith(CALL_PREFIX) and path.rstrip("/").count("/") > 3
        if streamed and not self.owners.owns(path.rstrip("/").rsplit("/", 1)[-1], principal):  # {api}/{id}
            return OTHERS_EVENT
        sessions = set(_sessions_named(path, query))
        if len(sessions) > 1:  # the UI names one; many in one request would flush others' claims out
            return (400, "a request may name one UI session", "invalid_request")
        if not all(self.owners.claim(session, principal) for session in sessions):
            return OTHERS_SESSION
        return None

    async def _post(self, scope: Scope, receive: Receive, send: Send, path: str, principal: str) -> None:
        """A POST: its body read as Gradio may read it, checked, then passed on (a body Gradio reads as a
        form is passed on unread, but to the component server, which reads its fields as an event)."""
        if not _may_be_json(Headers(scope=scope)):
            if path.rstrip("/") == COMPONENT_SERVER:
                await _refuse(
                    scope, receive, send, 415, "the component server takes JSON", "unsupported_media"
                )
                return
            await self.app(scope, receive, send)
            return
        body = await _read(receive)  # bounded by BodyLimitMiddleware, outside this one
        refusal = self._event_refusal(path, body, principal)
        if refusal is not None:
            await _refuse(scope, receive, send, *refusal)
        elif path.startswith(STARTING):
            await self.app(_plain(scope), replaying(body, receive), self._claiming(send, principal))
        else:
            await self.app(scope, replaying(body, receive), send)

    def _event_refusal(self, path: str, body: bytes, principal: str) -> Refusal | None:
        """What is wrong with an event's JSON body (S4, N16, N23, N25, N27); None when nothing is."""
        try:
            event = json.loads(body or b"null")
        except RecursionError:  # nested past what Python's parser reads: Gradio could not read it either
            return (400, "an event nested too deeply", "invalid_request")
        except ValueError:
            return None
        if not isinstance(event, dict):
            return None
        hashed = event.get("session_hash")
        if isinstance(hashed, str) and not self.owners.claim(hashed, principal):
            return OTHERS_SESSION
        longest = _longest_list(event.get("data"))
        if longest > self.max_items:
            return (
                413,
                f"an event holds a list of {longest} items; the limit is {self.max_items}",
                "history_too_long",
            )
        refused = _foreign(event.get("data"), self.uploads)
        if refused:
            return (400, refused, "invalid_request")
        named = event.get("event_id")
        if path.rstrip("/") in ACTING and named is not None and not self.owners.owns(str(named), principal):
            return OTHERS_EVENT
        return None

    def _claiming(self, send: Send, principal: str) -> Send:
        """`send`, first making the event id of the answer ({"event_id": ...}) the principal's."""
        chunks: list[bytes] = []

        async def claiming(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    try:
                        answer = json.loads(b"".join(chunks))
                    except ValueError:
                        answer = None
                    if isinstance(answer, dict) and isinstance(answer.get("event_id"), str):
                        self.owners.claim(answer["event_id"], principal)
            await send(message)

        return claiming


def _plain(scope: Scope) -> Scope:
    """The request without Accept-Encoding: its answer (an event id) is read, so it must not be compressed."""
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"]
    return {**scope, "headers": headers}


async def _read(receive: Receive) -> bytes:
    body, more = bytearray(), True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        more = bool(message.get("more_body"))
    return bytes(body)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str, code: str) -> None:
    response = JSONResponse(error_body(message, "invalid_request_error", code=code), status_code=status)
    await response(scope, receive, send)
