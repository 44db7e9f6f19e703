"""/api/feedback (issue 23): 👍 / 👎 on a stored answer, by the owner of its conversation; members list their
own, admins everyone's (`/api/admin/feedback`). Another caller's answer is answered as missing (404)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from assistant.errors import ForbiddenError, NotFoundError, ServiceUnavailableError
from assistant.server.deps import PrincipalDep, StorageDep, require_api_key
from assistant.server.errors import error_responses
from assistant.server.schemas import FeedbackCreate, FeedbackList, FeedbackOut
from assistant.storage import FeedbackRecord, Storage

router = APIRouter(
    prefix="/api",
    tags=["feedback"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 500),
)

Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many, the newest first.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Skip this many.")]


def _database(storage: Storage | None) -> Storage:
    if storage is None:
        raise ServiceUnavailableError(
            "this server keeps no conversations: there is no stored answer to rate",
            code="storage_unavailable",
        )
    return storage


def _out(record: FeedbackRecord) -> FeedbackOut:
    return FeedbackOut.model_validate(asdict(record))


@router.post(
    "/feedback", response_model=FeedbackOut, status_code=201, responses=error_responses(400, 403, 404, 503)
)
async def give_feedback(body: FeedbackCreate, storage: StorageDep, principal: PrincipalDep) -> FeedbackOut:
    """Rates one of the caller's stored answers; a second rating of the same answer replaces the first."""
    feedback = _database(storage).feedback
    rated = await run_in_threadpool(
        lambda: feedback.rate(
            body.message_id,
            principal.owner,
            body.rating,
            wrong_source=body.wrong_source,
            comment=body.comment,
        )
    )
    if rated is None:
        raise NotFoundError(f"no answer {body.message_id} of yours", param="message_id")
    return _out(rated)


@router.get("/feedback", response_model=FeedbackList, responses=error_responses(400))
async def my_feedback(
    storage: StorageDep, principal: PrincipalDep, limit: Limit = 100, offset: Offset = 0
) -> FeedbackList:
    """The caller's own feedback, the newest first."""
    if storage is None:
        return FeedbackList(feedback=[])
    found = await run_in_threadpool(
        lambda: storage.feedback.list(principal.owner, limit=limit, offset=offset)
    )
    return FeedbackList(feedback=[_out(f) for f in found])


@router.get("/admin/feedback", response_model=FeedbackList, responses=error_responses(400, 403))
async def all_feedback(
    storage: StorageDep, principal: PrincipalDep, limit: Limit = 100, offset: Offset = 0
) -> FeedbackList:
    """Everyone's feedback (admins only), the newest first, with who gave it."""
    if not principal.is_admin:
        raise ForbiddenError("only an admin may list everyone's feedback; GET /api/feedback lists yours")
    if storage is None:
        return FeedbackList(feedback=[])
    found = await run_in_threadpool(lambda: storage.feedback.list_all(limit=limit, offset=offset))
    return FeedbackList(feedback=[_out(f) for f in found])
