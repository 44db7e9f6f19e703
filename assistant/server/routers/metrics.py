"""GET /metrics: the Prometheus text format, for admins only (an admin's key or session; a member gets 403,
no key 401). The open single-user app (no keys, no users) serves it like everything else. See
docs/metrics.md for the list."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST

from assistant.server.deps import AdminDep, ContainerDep, require_api_key
from assistant.server.errors import error_responses

router = APIRouter(
    tags=["operations"], dependencies=[Depends(require_api_key)], responses=error_responses(401, 500)
)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        **error_responses(403),
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
    },
)
async def metrics(container: ContainerDep, _admin: AdminDep) -> Response:
    return Response(container.metrics.render(), media_type=CONTENT_TYPE_LATEST)
