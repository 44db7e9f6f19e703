"""/api/admin: users and collections over HTTP, what the CLI's `users`, `keys` and `collections` commands do,
for admins only (a member gets 403). A new API key is in the answer that makes it, once; no password hash or
stored key hash is ever returned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.concurrency import run_in_threadpool

from assistant.access.principal import Principal
from assistant.errors import ConflictError, ForbiddenError, NotFoundError, ServiceUnavailableError
from assistant.server.admin_schemas import (
    NAME_PATTERN,
    NAME_RULE,
    CollectionCreate,
    CollectionList,
    CollectionOut,
    NewUserKey,
    PasswordChange,
    UserCreate,
    UserDeleted,
    UserList,
    UserOut,
)
from assistant.server.deps import PrincipalDep, StorageDep, require_api_key
from assistant.server.errors import ErrorResponse, error_responses
from assistant.storage import Storage
from assistant.storage.users import check_name

T = TypeVar("T")


def require_admin(principal: PrincipalDep) -> Principal:
    """403 for a member: only admins manage people and collections."""
    if not principal.is_admin:
        raise ForbiddenError("only an admin may manage users and collections")
    return principal


def database(storage: StorageDep) -> Storage:
    """The user database; 503 when this server was built without one (users live nowhere else)."""
    if storage is None:
        raise ServiceUnavailableError(
            "this server has no user database: users and collections cannot be managed here",
            code="storage_unavailable",
        )
    return storage


AdminOnly = Annotated[Principal, Depends(require_admin)]
Database = Annotated[Storage, Depends(database)]
UserName = Annotated[
    str, Path(description=f"A user's name ({NAME_RULE}).", json_schema_extra={"pattern": NAME_PATTERN})
]
CollectionName = Annotated[
    str, Path(description=f"A collection's name ({NAME_RULE}).", json_schema_extra={"pattern": NAME_PATTERN})
]


def _described(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse, "description": description}}


router = APIRouter(
    prefix="/api/admin",
    tags=["admin"],
    dependencies=[Depends(require_api_key), Depends(require_admin)],
    responses={
        **error_responses(401, 500),
        **_described(403, "A member: only admins manage users and collections"),
        **_described(503, "This server has no user database, or it is unreachable"),
    },
)


async def _run(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """The storage call off the event loop. A row made meanwhile by another request (the same name) is a
    409, as when the storage saw it first; a database that cannot be reached is a 503, not a 500."""
    try:
        return await run_in_threadpool(call, *args, **kwargs)
    except IntegrityError as exc:
        raise ConflictError("another request made the same change at the same time; try again") from exc
    except OperationalError as exc:
        raise ServiceUnavailableError(
            "the user database cannot be reached", code="storage_unavailable"
        ) from exc


# -- users ---------------------------------------------------------------------------------------------------
@router.get("/users", response_model=UserList)
async def list_users(storage: Database) -> UserList:
    return UserList(users=[UserOut.of(user) for user in await _run(storage.users.list)])


@router.post("/users", status_code=201, response_model=NewUserKey, responses=error_responses(400, 409))
async def add_user(body: UserCreate, storage: Database) -> NewUserKey:
    """A new user and their first API key (shown once)."""
    check_name(body.name)
    return NewUserKey.of(await _run(storage.users.add, body.name, body.password, admin=body.admin))


@router.delete("/users/{name}", response_model=UserDeleted, responses=error_responses(400, 404, 409))
async def remove_user(name: UserName, storage: Database, principal: AdminOnly) -> UserDeleted:
    """The user goes, with their keys, grants and conversations; an admin cannot remove their own account
    here (it would lock them out mid-request; another admin or the CLI can)."""
    check_name(name)
    if principal.user_id is not None and principal.name == name:
        raise ConflictError("you cannot remove your own account", param="name", code="own_account")
    await _run(storage.users.remove, name)
    return UserDeleted(deleted=name)


@router.post("/users/{name}/key", response_model=NewUserKey, responses=error_responses(400, 404))
async def rotate_key(name: UserName, storage: Database) -> NewUserKey:
    """Every key the user had stops working; the new one is returned, once."""
    check_name(name)
    return NewUserKey.of(await _run(storage.users.rotate_key, name))


@router.put("/users/{name}/password", response_model=UserOut, responses=error_responses(400, 404))
async def set_password(name: UserName, body: PasswordChange, storage: Database) -> UserOut:
    """A new password for /login; null removes it (the user keeps their API keys)."""
    check_name(name)
    await _run(storage.users.set_password, name, body.password)
    user = await _run(storage.users.get, name)
    if user is None:  # removed meanwhile
        raise NotFoundError(f"no user named {name!r}", param="name")
    return UserOut.of(user)


# -- collections ---------------------------------------------------------------------------------------------
@router.get("/collections", response_model=CollectionList)
async def list_collections(storage: Database) -> CollectionList:
    return CollectionList(collections=[CollectionOut.of(c) for c in await _run(storage.collections.list)])


@router.post(
    "/collections", status_code=201, response_model=CollectionOut, responses=error_responses(400, 409)
)
async def add_collection(body: CollectionCreate, storage: Database) -> CollectionOut:
    """A collection to upload into (`collection` of POST /api/documents) and grant to members."""
    check_name(body.name, "collection")
    return CollectionOut.of(await _run(storage.collections.add, body.name))


@router.put(
    "/collections/{name}/members/{user}", response_model=CollectionOut, responses=error_responses(400, 404)
)
async def grant(name: CollectionName, user: UserName, storage: Database) -> CollectionOut:
    """`user` may ask about the collection and list its documents (granting twice is harmless)."""
    check_name(name, "collection")
    check_name(user)
    return CollectionOut.of(await _run(storage.collections.grant, name, user))


@router.delete(
    "/collections/{name}/members/{user}", response_model=CollectionOut, responses=error_responses(400, 404)
)
async def revoke(name: CollectionName, user: UserName, storage: Database) -> CollectionOut:
    """`user` may no longer use the collection (revoking what was not granted is harmless)."""
    check_name(name, "collection")
    check_name(user)
    return CollectionOut.of(await _run(storage.collections.revoke, name, user))
