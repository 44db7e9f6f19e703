"""Who is using the UI: the same gate as the API, asked with the browser's cookie or the client's bearer
(Gradio hands each event the HTTP request it came with). Members see no Documents admin controls, and the
handlers behind those controls refuse them too (Gradio's endpoints can be called without the page)."""

from __future__ import annotations

from typing import Any, cast

import gradio as gr
from starlette.requests import HTTPConnection

from assistant.access import OPEN_PRINCIPAL, Gate, Principal

MEMBER_REFUSAL = "✗ Only an admin may add or delete documents."


class _Credentials:
    """What the gate reads of a request: its headers and cookies."""

    def __init__(self, request: Any) -> None:
        headers = getattr(request, "headers", None) or {}
        self.headers = {str(k).lower(): str(v) for k, v in dict(headers).items()}
        self.cookies = dict(getattr(request, "cookies", None) or {})
        self.url = getattr(request, "url", None)


def principal_of(gate: Gate | None, request: gr.Request | None) -> Principal | None:
    """The caller; the open app's own principal when there is no gate; None when not signed in."""
    if gate is None or not gate.enabled:
        return OPEN_PRINCIPAL
    if request is None:
        return None
    return gate.authenticate(cast(HTTPConnection, _Credentials(request)))


def is_admin(gate: Gate | None, request: gr.Request | None) -> bool:
    principal = principal_of(gate, request)
    return principal is not None and principal.is_admin
