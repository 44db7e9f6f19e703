"""Typed dependencies: what a route needs, taken from the container the app was built with, and who is asking
(the gate the app was built with; the middleware has already let the request in).

Tests swap any of them with `app.dependency_overrides[get_chat] = lambda: fake_chat`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assistant.access.gate import UNAUTHORIZED, Gate
from assistant.access.principal import OPEN_PRINCIPAL, Principal
from assistant.answering.service import ChatService
from assistant.container import Container
from assistant.errors import AuthenticationError, ForbiddenError
from assistant.settings import Settings
from assistant.storage import Storage
from vectorstore.ingest import IngestService
from vectorstore.jobs import IngestQueue
from vectorstore.store import ChunkStore


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def get_settings(container: Annotated[Container, Depends(get_container)]) -> Settings:
    return container.settings


def get_chat(container: Annotated[Container, Depends(get_container)]) -> ChatService:
    return container.chat


def get_ingest(container: Annotated[Container, Depends(get_container)]) -> IngestService:
    return container.ingest


def get_ingest_queue(container: Annotated[Container, Depends(get_container)]) -> IngestQueue:
    return container.ingest_queue


def get_storage(container: Annotated[Container, Depends(get_container)]) -> Storage | None:
    return container.storage


def get_store(container: Annotated[Container, Depends(get_container)]) -> ChunkStore:
    return container.store


# -- who is asking (`bearer` documents the scheme in /openapi.json) ------------------------------------------
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


ContainerDep = Annotated[Container, Depends(get_container)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ChatDep = Annotated[ChatService, Depends(get_chat)]
IngestDep = Annotated[IngestService, Depends(get_ingest)]
StoreDep = Annotated[ChunkStore, Depends(get_store)]
StorageDep = Annotated[Storage | None, Depends(get_storage)]
IngestQueueDep = Annotated[IngestQueue, Depends(get_ingest_queue)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
