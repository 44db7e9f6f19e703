"""Typed dependencies: what a route needs, taken from the container the app was built with.

Tests swap any of them with `app.dependency_overrides[get_chat] = lambda: fake_chat`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.answering.service import ChatService
from assistant.container import Container
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


ContainerDep = Annotated[Container, Depends(get_container)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ChatDep = Annotated[ChatService, Depends(get_chat)]
IngestDep = Annotated[IngestService, Depends(get_ingest)]
StoreDep = Annotated[ChunkStore, Depends(get_store)]
StorageDep = Annotated[Storage | None, Depends(get_storage)]
IngestQueueDep = Annotated[IngestQueue, Depends(get_ingest_queue)]
