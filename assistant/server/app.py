"""The app factory: one process, one port. The API routers, their error handlers and the Gradio UI at `/`."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from assistant.container import Container, build_container
from assistant.offline import offline_environment
from assistant.server import auth
from assistant.server.auth import Gate, GateMiddleware
from assistant.server.errors import MethodNotAllowedMiddleware, install_error_handlers
from assistant.server.guards import (
    BodyLimitMiddleware,
    SameOriginMiddleware,
    SecurityHeadersMiddleware,
    TrustedHostMiddleware,
)
from assistant.server.routers import admin, chat, conversations, documents, health, jobs, openai
from assistant.settings import Settings

log = logging.getLogger(__name__)

ROUTERS = (
    openai.router,
    chat.router,
    conversations.router,
    documents.router,
    jobs.router,
    admin.router,
    health.router,
)
EXAMPLE_QUESTION = "What do the documents say about the Mine Action Centre?"


class AssistantAPI(FastAPI):
    """FastAPI whose OpenAPI schema says what this server does (see `openapi`)."""

    def openapi(self) -> dict[str, Any]:
        if not self.openapi_schema:
            self.openapi_schema = _openapi(self, self.state.container.settings)
        return self.openapi_schema


def create_api(container: Container) -> FastAPI:
    """The API alone (no UI): what the in-process tests drive with TestClient."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if container.storage is not None:
            container.storage.database.migrate()  # users, collections, conversations: schema up to date
        # load the embedding model off the request path, without delaying start-up
        threading.Thread(target=lambda: container.embeddings.dimension, daemon=True).start()
        yield

    app = AssistantAPI(
        title="Grounded assistant",
        description="Answers from your documents with citations. OpenAI-compatible under /v1.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.container = container
    storage = container.storage
    app.state.gate = Gate.from_settings(container.settings, storage.users if storage is not None else None)
    install_error_handlers(app)
    app.include_router(auth.router)
    for router in ROUTERS:
        app.include_router(router)
    secure(app, container.settings)
    return app


def secure(app: FastAPI, settings: Settings) -> None:
    """The guards around everything this app serves, the UI mounted later included (a middleware wraps every
    route and mount). Added innermost first: headers and request id → Host → Origin → the key gate → 405."""
    app.add_middleware(MethodNotAllowedMiddleware, routes=[r for router in ROUTERS for r in router.routes])
    app.add_middleware(GateMiddleware, gate=app.state.gate)
    app.add_middleware(
        BodyLimitMiddleware, api_limit=settings.max_request_kb * 1024, other_limit=32 * 1024 * 1024
    )
    app.add_middleware(SameOriginMiddleware)
    app.add_middleware(TrustedHostMiddleware, allowed=settings.allowed_host_list)
    app.add_middleware(SecurityHeadersMiddleware)


def create_app(container: Container) -> FastAPI:
    """The API with the chat UI mounted at `/`."""
    offline_environment()
    import gradio as gr  # after offline_environment: gradio reads its analytics flag at import

    from assistant.ui import CSS, build_ui, theme

    app = create_api(container)
    settings = container.settings
    return gr.mount_gradio_app(
        app,
        build_ui(container, app.state.gate),
        path="/",
        css=CSS,
        theme=theme(),
        footer_links=["api"],
        max_file_size=int(settings.max_upload_mb * 1_000_000),  # Gradio refuses bigger uploads (S5)
        show_error=False,  # an unexpected error's text stays in the log (S17)
        server_name=settings.host,
        server_port=settings.port,
    )


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """FastAPI's schema, made to say what the server does: validation errors are 400 (documented on each
    route), not FastAPI's default 422; the bearer scheme only when keys or users exist; the set limits."""
    keyed = bool(settings.api_key_list) or app.state.gate.enabled
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    for operation in (op for path in schema["paths"].values() for op in path.values()):
        invalid = operation["responses"].get("422", {})
        if "HTTPValidationError" in str(invalid):
            del operation["responses"]["422"]
        if not keyed:
            operation.pop("security", None)
            operation["responses"].pop("401", None)
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    if not keyed:
        components.pop("securitySchemes", None)
    message = components["schemas"]["ChatRequest"]["properties"]["message"]
    message["maxLength"] = settings.max_message_chars
    completion = components["schemas"]["ChatCompletionRequest"]
    completion["examples"] = [
        {"model": settings.model_id, "messages": [{"role": "user", "content": EXAMPLE_QUESTION}]}
    ]
    components["schemas"]["ChatRequest"]["examples"] = [{"message": EXAMPLE_QUESTION}]
    return schema


def run(settings: Settings, ingest_if_empty: bool = True) -> None:
    import uvicorn

    offline_environment()
    container = build_container(settings)
    if ingest_if_empty and container.store.count() == 0 and settings.docs_dir.exists():
        log.warning("empty store: ingesting %s", settings.docs_dir)
        print(container.ingest.ingest([settings.docs_dir], progress=True).summary(), flush=True)
    app = create_app(container)
    print(
        f"Grounded assistant on http://{settings.host}:{settings.port}/ (API under /v1 and /api, docs /docs)",
        flush=True,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", server_header=False)
