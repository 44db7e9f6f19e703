"""MCP over streamable HTTP at `/mcp`, on the API's own server and behind its own guards: the gate's
middleware has let the request in (a Bearer key or a session, else 401) and left the principal in the
request's state, which the tools read. Stateless JSON responses: every POST carries its own credentials, so no
MCP session outlives the key that opened it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi.responses import JSONResponse
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from assistant.access.gate import UNAUTHORIZED, Gate
from assistant.access.principal import OPEN_PRINCIPAL, Principal
from assistant.container import Container
from assistant.errors import AuthenticationError
from assistant.mcp_server.server import build_mcp
from assistant.server.error_shape import error_body

MCP_PATH = "/mcp"
# The app's own guards (TrustedHostMiddleware: RAG_ALLOWED_HOSTS, SameOriginMiddleware) judge Host and Origin
# for every route, /mcp included; the SDK's copy of that check would refuse a host the settings allow.
APP_GUARDED = TransportSecuritySettings(enable_dns_rebinding_protection=False)


def request_principal(gate: Gate, ctx: Context) -> Principal:
    """Whom the gate's middleware let in for this POST; the open single-user app is its own admin."""
    request = ctx.request_context.request
    state = getattr(request, "scope", {}).get("state", {})
    principal: Principal | None = state.get("principal")
    if principal is not None:
        return principal
    if gate.enabled:  # never reached past the middleware; refused rather than assumed
        raise AuthenticationError(UNAUTHORIZED)
    return OPEN_PRINCIPAL


class McpEndpoint:
    """The ASGI endpoint at /mcp. Each run of the app's lifespan gets a fresh session manager (the SDK's runs
    once), so an app started twice (the tests' clients) serves MCP both times."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server
        self._manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self.server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            transport_security=APP_GUARDED,
        )
        manager = self.server.session_manager
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._manager is None:
            body = error_body("the MCP endpoint is not running (the app was not started)", "api_error")
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        await self._manager.handle_request(scope, receive, send)


def mcp_endpoint(container: Container, gate: Gate) -> McpEndpoint:
    return McpEndpoint(build_mcp(container, lambda ctx: request_principal(gate, ctx)))
