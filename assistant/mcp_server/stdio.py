"""`assistant mcp`: the MCP server over stdin/stdout, for a desktop agent that starts it as a subprocess.

Who calls: the holder of RAG_MCP_API_KEY when it is set (a key of RAG_API_KEYS: an admin; a user's key: that
user, a member seeing only their collections), checked once at start-up by the same gate as the server's;
else the local admin, as every other CLI command (whoever may run it may read the data dir anyway).
stdout carries the protocol alone: logs go to stderr."""

from __future__ import annotations

from assistant.access.gate import Gate
from assistant.access.principal import OPEN_PRINCIPAL, Principal
from assistant.container import Container
from assistant.errors import AuthenticationError
from assistant.mcp_server.server import build_mcp


def stdio_principal(container: Container) -> Principal:
    """The identity `assistant mcp` acts as; AuthenticationError for a key no one holds."""
    key = container.settings.mcp_api_key
    if key is None:
        return OPEN_PRINCIPAL
    storage = container.storage
    gate = Gate.from_settings(
        container.settings,
        storage.users if storage is not None else None,
        storage.sessions if storage is not None else None,
    )
    principal = gate.check_key(key.get_secret_value().strip())
    if principal is None:
        raise AuthenticationError(
            "RAG_MCP_API_KEY is not a valid key: use one of RAG_API_KEYS or a user's key "
            "(`assistant users add`)"
        )
    return principal


def run_stdio(container: Container) -> None:
    """Serves MCP on stdin/stdout until the agent closes them."""
    principal = stdio_principal(container)
    build_mcp(container, lambda _ctx: principal).run("stdio")
