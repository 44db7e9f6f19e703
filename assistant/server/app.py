"""The app factory: one process, one port. The API routers, their error handlers and the Gradio UI at `/`."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from assistant.access.gate import Gate
from assistant.container import Container, build_container
from assistant.datadir import private_umask
from assistant.mcp_server.http import MCP_PATH, mcp_endpoint
from assistant.offline import offline_environment
from assistant.server.docs_pages import add_docs_pages
from assistant.server.errors import MethodNotAllowedMiddleware, install_error_handlers
from assistant.server.gradio_guard import GradioEventGuard
from assistant.server.guards import (
    BodyLimitMiddleware,
    SameOriginMiddleware,
    SecurityHeadersMiddleware,
    TrustedHostMiddleware,
)
from assistant.server.ingest_jobs import stored_upload_work
from assistant.server.middleware import GateMiddleware
from assistant.server.routers import (
    admin,
    chat,
    conversations,
    documents,
    feedback,
    health,
    jobs,
    login,
    metrics,
    openai,
)
from assistant.server.timing import RequestMetricsMiddleware
from assistant.settings import Settings
from assistant.worker import WorkerPool

log = logging.getLogger(__name__)

ROUTERS = (
    openai.router,
    chat.router,
    conversations.router,
    feedback.router,
    documents.router,
    jobs.router,
    admin.router,
    health.router,
    metrics.router,
)
# A UI event carries the question and the chat shown (at most RAG_MAX_HISTORY_CHARS, HTML-escaped, in JSON)
UI_EVENT_LIMIT = 4 * 1024 * 1024
UPLOAD_OVERHEAD = 1024 * 1024  # multipart headers and form fields around the files
EXAMPLE_QUESTION = "What do the documents say about the Mine Action Centre?"


class AssistantAPI(FastAPI):
    """FastAPI whose OpenAPI schema says what this server does (see `openapi`)."""

    def openapi(self) -> dict[str, Any]:
        if not self.openapi_schema:
            self.openapi_schema = _openapi(self, self.state.container.settings)
        return self.openapi_schema


def create_api(container: Container) -> FastAPI:
    """The API alone (no UI): what the in-process tests drive with TestClient."""

    storage = container.storage
    gate = Gate.from_settings(
        container.settings,
        storage.users if storage is not None else None,
        storage.sessions if storage is not None else None,
    )
    mcp = mcp_endpoint(container, gate)  # MCP at /mcp: the same gate, services and scopes as /api

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        storage, settings = container.storage, container.settings
        if storage is not None:
            storage.database.migrate()  # users, collections, conversations: schema up to date
        # load the embedding model off the request path, without delaying start-up
        threading.Thread(target=lambda: container.embeddings.dimension, daemon=True).start()
        workers = None
        if storage is not None and settings.ingest_in_process:  # the single-machine default: no worker to run
            work = stored_upload_work(container.ingest)
            workers = WorkerPool(storage.jobs, work, settings.ingest_workers).start()
        async with mcp.running():
            yield
        if workers is not None:  # a running job goes back to the queue, resumed by the next worker
            await run_in_threadpool(workers.stop, True, 30.0)

    app = AssistantAPI(
        title="Grounded assistant",
        description="Answers from your documents with citations. OpenAI-compatible under /v1.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # add_docs_pages: the same pages with their files served from here
        redoc_url=None,
    )
    add_docs_pages(app)
    app.state.container = container
    app.state.gate = gate
    install_error_handlers(app)
    app.include_router(login.router)
    for router in ROUTERS:
        app.include_router(router)
    app.router.routes.append(Route(MCP_PATH, endpoint=mcp))
    secure(app, container.settings)
    return app


def secure(app: FastAPI, settings: Settings) -> None:
    """The guards around everything this app serves, the UI mounted later included (a middleware wraps every
    route and mount). Added innermost first; a request meets them outermost first: CORS → latency (/metrics) →
    headers and request id → Host → Origin → the key gate → body limits → Gradio's events → 405."""
    app.add_middleware(MethodNotAllowedMiddleware, routes=[r for router in ROUTERS for r in router.routes])
    # S4, N16: Gradio's events looked at before Gradio does; a conversation's lists hold at most this many
    app.add_middleware(GradioEventGuard, max_items=max(1000, 2 * settings.max_history_turns + 4))
    app.add_middleware(
        BodyLimitMiddleware,
        api_limit=settings.max_request_kb * 1024,
        other_limit=UI_EVENT_LIMIT,
        upload_limit=int(settings.max_upload_mb * 1_000_000 * settings.max_upload_files) + UPLOAD_OVERHEAD,
    )
    # the gate before the body limit: a member's upload is refused before a byte of it is read (N5)
    app.add_middleware(GateMiddleware, gate=app.state.gate)
    app.add_middleware(SameOriginMiddleware)
    app.add_middleware(TrustedHostMiddleware, allowed=settings.allowed_host_list)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.container.metrics)  # latency per route
    # N14: no cross-origin reads. A CORS policy of the app's own (no origin allowed) also stops Gradio from
    # adding its own, which let a page on another local port read /config with the user's cookie.
    app.add_middleware(CORSMiddleware, allow_origins=[])


def create_app(container: Container) -> FastAPI:
    """The API with the chat UI mounted at `/`."""
    offline_environment()
    import gradio as gr  # after offline_environment: gradio reads its analytics flag at import

    from assistant.ui import CSS, build_ui, theme

    app = create_api(container)
    settings = container.settings
    blocks = build_ui(container, app.state.gate)
    mounted = gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        css=CSS,
        theme=theme(),
        footer_links=["api"],
        run_history=False,  # N27: Gradio keeps each answer in the browser's storage for the next person
        max_file_size=int(settings.max_upload_mb * 1_000_000),  # Gradio refuses bigger uploads (S5)
        show_error=False,  # an unexpected error's text stays in the log (S17)
        server_name=settings.host,
        server_port=settings.port,
    )
    # N23: Gradio checks where a file an event names lies (only its upload folder) only in a launched app
    # (processing_utils._check_allowed); mounted, it never is. Said so, its own check runs too.
    blocks.has_launched = True
    return mounted


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
        elif "401" in operation["responses"]:  # N24: an address that sent too many wrong keys waits
            wrong_keys = {"description": "Too many wrong API keys from this address lately"}
            operation["responses"]["429"] = {**operation["responses"]["401"], **wrong_keys}
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


SHUTDOWN_GRACE_SECONDS = 5


def run(settings: Settings, ingest_if_empty: bool = True) -> None:
    import uvicorn

    offline_environment()
    private_umask()  # N11: the data dir's files are the owner's alone
    container = build_container(settings)
    if ingest_if_empty and container.store.count() == 0 and settings.docs_dir.exists():
        log.warning("empty store: ingesting %s", settings.docs_dir)
        print(container.ingest.ingest([settings.docs_dir], progress=True).summary(), flush=True)
    app = create_app(container)
    print(
        f"Grounded assistant on http://{settings.host}:{settings.port}/ (API under /v1 and /api, docs /docs)",
        flush=True,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        server_header=False,
        # N4: X-Forwarded-For is believed only from the proxies named in RAG_TRUSTED_PROXIES (none by default:
        # uvicorn's own default trusts 127.0.0.1, so any local process could pick its address)
        proxy_headers=bool(settings.trusted_proxy_list),
        forwarded_allow_ips=",".join(settings.trusted_proxy_list) or None,
        # On SIGTERM or Ctrl-C, requests in flight get this long to finish. Without a bound uvicorn waits for
        # every connection to close, and an open UI page (Gradio's event stream, a gradio_client session)
        # never closes its own: the server did not exit at all.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
