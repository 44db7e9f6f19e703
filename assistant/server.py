"""One process, one port: the FastAPI API with the Gradio UI mounted at /."""

from __future__ import annotations

import logging
import threading

from fastapi import FastAPI

from assistant.components import Components, build_components
from assistant.offline import offline_environment
from assistant.settings import Settings

log = logging.getLogger(__name__)


def create_app(components: Components) -> FastAPI:
    offline_environment()
    import gradio as gr  # after offline_environment: gradio reads its analytics flag at import

    from assistant.api import build_api, install_error_handlers
    from assistant.ui import build_ui
    from assistant.ui_assets import CSS

    app = FastAPI(
        title="Grounded assistant",
        description="Answers from your documents with citations. OpenAI-compatible under /v1.",
        version="0.1.0",
    )
    install_error_handlers(app)
    app.include_router(build_api(components))

    @app.on_event("startup")
    def warm_up() -> None:  # load the embedding model off the request path, without delaying start-up
        threading.Thread(target=lambda: components.embeddings.dimension, daemon=True).start()

    # System fonts: the default theme fetches Google Fonts, which an offline machine cannot reach.
    theme = gr.themes.Soft(
        font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )
    return gr.mount_gradio_app(
        app, build_ui(components), path="/", css=CSS, theme=theme, footer_links=["api"]
    )


def run(settings: Settings, ingest_if_empty: bool = True) -> None:
    import uvicorn

    offline_environment()
    components = build_components(settings)
    if ingest_if_empty and components.store.count() == 0 and settings.docs_dir.exists():
        log.warning("empty store: ingesting %s", settings.docs_dir)
        print(components.ingest.ingest([settings.docs_dir], progress=True).summary(), flush=True)
    app = create_app(components)
    print(
        f"Grounded assistant on http://{settings.host}:{settings.port}/ (API under /v1 and /api, docs /docs)",
        flush=True,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
