"""/api/conversations: the caller's stored conversations: list, read, rename, delete. Another user's
conversation is answered as missing (404), never as forbidden."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from assistant.errors import InvalidRequestError, NotFoundError
from assistant.server.deps import PrincipalDep, StorageDep, require_api_key
from assistant.server.errors import error_responses
from assistant.server.schemas import (
    ConversationDeleted,
    ConversationDetail,
    ConversationList,
    ConversationMessage,
    ConversationRename,
    ConversationSummary,
)
from assistant.storage import Storage

router = APIRouter(
    prefix="/api/conversations",
    tags=["conversations"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 500),
)


def _missing(conversation_id: str) -> NotFoundError:
    return NotFoundError(f"no conversation {conversation_id!r}", param="conversation_id")


def _storage(storage: Storage | None, conversation_id: str) -> Storage:
    if storage is None:
        raise _missing(conversation_id)
    return storage


@router.get("", response_model=ConversationList)
async def list_conversations(storage: StorageDep, principal: PrincipalDep) -> ConversationList:
    if storage is None:
        return ConversationList(conversations=[])
    found = await run_in_threadpool(storage.conversations.list, principal.owner)
    return ConversationList(
        conversations=[
            ConversationSummary(
                id=c.id, title=c.title, created_at=c.created_at, updated_at=c.updated_at, messages=c.messages
            )
            for c in found
        ]
    )


@router.get("/{conversation_id}", response_model=ConversationDetail, responses=error_responses(404))
async def get_conversation(
    conversation_id: str, storage: StorageDep, principal: PrincipalDep
) -> ConversationDetail:
    found = await run_in_threadpool(
        _storage(storage, conversation_id).conversations.get, conversation_id, principal.owner
    )
    if found is None:
        raise _missing(conversation_id)
    return ConversationDetail(
        id=found.id,
        title=found.title,
        created_at=found.created_at,
        updated_at=found.updated_at,
        messages=[
            ConversationMessage(
                role="assistant" if m.role == "assistant" else "user",
                content=m.content,
                citations=m.citations,
                timings=m.timings,
                created_at=m.created_at,
            )
            for m in found.messages
        ],
    )


@router.patch(
    "/{conversation_id}", response_model=ConversationSummary, responses=error_responses(400, 403, 404)
)
async def rename_conversation(
    conversation_id: str, body: ConversationRename, storage: StorageDep, principal: PrincipalDep
) -> ConversationSummary:
    if not body.title.strip():
        raise InvalidRequestError("a title needs at least one visible character", param="title")
    renamed = await run_in_threadpool(
        _storage(storage, conversation_id).conversations.rename, conversation_id, principal.owner, body.title
    )
    if renamed is None:
        raise _missing(conversation_id)
    return ConversationSummary(
        id=renamed.id,
        title=renamed.title,
        created_at=renamed.created_at,
        updated_at=renamed.updated_at,
        messages=renamed.messages,
    )


@router.delete("/{conversation_id}", response_model=ConversationDeleted, responses=error_responses(403, 404))
async def delete_conversation(
    conversation_id: str, storage: StorageDep, principal: PrincipalDep
) -> ConversationDeleted:
    deleted = await run_in_threadpool(
        _storage(storage, conversation_id).conversations.delete, conversation_id, principal.owner
    )
    if not deleted:
        raise _missing(conversation_id)
    return ConversationDeleted(deleted=conversation_id)
