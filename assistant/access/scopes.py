"""What a question may search: the collections a caller may use and the documents asked about, as the Chroma
metadata filter (`where`) that dense retrieval and the BM25 hits both keep to. Every door (the API, the
OpenAI-compatible routes, the UI) computes its scope here, so none can search more than another (N1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from assistant.access.principal import Principal
from assistant.errors import ForbiddenError, InvalidRequestError, NotFoundError
from assistant.storage import Storage, UserInfo
from vectorstore.ingest import DEFAULT_COLLECTION, DocumentInfo, IngestService

Where = dict[str, Any]

# N17: 40,000 names in `sources` reached the store's filter and came back a 500. A question about more
# documents than this is one about a collection; a name longer than this is no document's. Checked here, so
# the API's schema, MCP's tools and any other door refuse the same list the same way.
MAX_SOURCES = 1000
MAX_NAME_CHARS = 1024


def as_names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(dict.fromkeys(value))


def _member(storage: Storage | None, principal: Principal) -> UserInfo | None:
    """The member the collection service judges; None for admins (they may use any collection)."""
    if principal.is_admin or principal.user_id is None or storage is None:
        return None
    user = storage.users.by_id(principal.user_id)
    if user is None:  # removed since the request was let in
        raise ForbiddenError("this account no longer exists")
    return None if user.is_admin else user


def usable_collections(storage: Storage | None, principal: Principal) -> list[str]:
    """The collections the caller may ask about by name (`/v1/models`): every one of the database for an
    admin, the granted ones for a member. (An admin may also name the unregistered `default`.)"""
    if storage is None:
        return [DEFAULT_COLLECTION]
    member = _member(storage, principal)
    if member is not None:
        return storage.collections.names_for(member)
    return [c.name for c in storage.collections.list()]


def visible_documents(
    ingest: IngestService, storage: Storage | None, principal: Principal
) -> list[DocumentInfo]:
    """The documents the caller may see: all for an admin; for a member those of the collections granted to
    them, without the server's file paths (N8)."""
    documents = ingest.list_documents()
    if principal.is_admin:
        return documents
    allowed = set(usable_collections(storage, principal))
    return [replace(d, path="") for d in documents if d.collection in allowed]


def allowed_collections(
    storage: Storage | None, principal: Principal, requested: Sequence[str]
) -> list[str] | None:
    """The collections a question searches: None (no filter) for an admin asking about everything; else the
    requested ones, each one the caller may use (404 otherwise, so another's collection stays unseen)."""
    member = _member(storage, principal)
    if member is None or storage is None:
        return list(requested) or None
    names = storage.collections.resolve(member, requested or None)
    if not names:
        raise ForbiddenError("no collection has been granted to you yet; ask an admin", param="collection")
    return names


def where_of(collections: Sequence[str] | None, sources: Sequence[str] | None) -> Where | None:
    """The Chroma filter for some collections and/or documents; None when nothing is restricted."""
    clauses: list[Where] = []
    if collections:
        clauses.append({"collection": {"$in": list(collections)}})
    if sources:
        clauses.append({"source": {"$in": list(sources)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def scope_for(
    storage: Storage | None,
    principal: Principal,
    collection: str | Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> Where | None:
    collections, documents = as_names(collection), as_names(sources)
    _check_names(collections, "collection")
    _check_names(documents, "sources")
    return where_of(allowed_collections(storage, principal, collections), documents)


def _check_names(names: Sequence[str], param: str) -> None:
    if len(names) > MAX_SOURCES:
        raise InvalidRequestError(f"{param}: at most {MAX_SOURCES} names, not {len(names)}", param=param)
    if any(not isinstance(n, str) or not 0 < len(n) <= MAX_NAME_CHARS for n in names):
        raise InvalidRequestError(
            f"{param}: each name must be a string of 1 to {MAX_NAME_CHARS} characters", param=param
        )


def collection_of_model(model: str, model_id: str) -> str | None:
    """`grounded-assistant/NAME` → NAME; the plain id → None; anything else: 404."""
    if model == model_id:
        return None
    prefix = f"{model_id}/"
    if model.startswith(prefix) and len(model) > len(prefix):
        return model[len(prefix) :]
    raise NotFoundError(
        f"the model '{model}' does not exist; use '{model_id}' or '{model_id}/<collection>' "
        "(see GET /v1/models)",
        param="model",
        code="model_not_found",
    )
