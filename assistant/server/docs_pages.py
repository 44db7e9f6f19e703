"""/docs and /redoc served whole from this server: Swagger UI's and ReDoc's files come from the
`fastapi-offline` package, not from a CDN (FastAPI's default pages fetch them from jsdelivr and the favicon
from fastapi.tiangolo.com, so offline they were blank pages that also phoned home)."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/api-docs-assets"
REDOC_JS = "redoc.standalone.js"
# ReDoc's sidebar footer draws Redocly's logo from their CDN: the copy served here draws an empty image
REMOTE_LOGO = 'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'
NO_LOGO = 'src:"data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27/%3E"'


def add_docs_pages(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, their scripts, styles and icon from ASSETS_URL."""
    redoc_js = (ASSETS / REDOC_JS).read_text(encoding="utf-8").replace(REMOTE_LOGO, NO_LOGO)

    @app.get(f"{ASSETS_URL}/{REDOC_JS}", include_in_schema=False)  # before the mount, which would serve it
    async def redoc_script() -> Response:
        return Response(redoc_js, media_type="text/javascript")

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="api-docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} · API",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} · API",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
