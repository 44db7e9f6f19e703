"""Request latency per route for /metrics: measured around the whole app (the UI's mount included) and
labelled with the route template the router matched (`/api/jobs/{job_id}`), never the raw path, so the
label set stays small whatever callers send."""

from __future__ import annotations

import time

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.metrics import Metrics


def route_label(scope: Scope) -> str:
    """The template of the route that served the request; `other` when none matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return "other"
    if isinstance(route, Mount):
        return (path or "/") + " (mount)"
    return path


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception that escapes is a 500 to the client

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.record_request(scope.get("method", ""), route_label(scope), status, seconds)
