"""Collections: named sets of documents. Admins may use every collection; members those granted to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from assistant.errors import ConflictError, NotFoundError
from assistant.storage.db import Database
from assistant.storage.models import Collection, CollectionGrant, User
from assistant.storage.users import UserInfo, check_name

Names = list[str]  # (a module-level alias: inside the class, `list` is the method)


@dataclass(frozen=True)
class CollectionInfo:
    id: int
    name: str
    created_at: datetime
    users: tuple[str, ...]  # the members it is granted to

    @classmethod
    def of(cls, collection: Collection) -> CollectionInfo:
        users = tuple(sorted(grant.user.name for grant in collection.grants))
        return cls(collection.id, collection.name, collection.created_at, users)


class CollectionService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, name: str) -> CollectionInfo:
        check_name(name, "collection")
        with self.db.session() as s:
            if s.scalar(select(Collection.id).where(Collection.name == name)) is not None:
                raise ConflictError(f"a collection named {name!r} exists", code="collection_exists")
            collection = Collection(name=name)
            s.add(collection)
            s.flush()
            return CollectionInfo(collection.id, collection.name, collection.created_at, ())

    def list(self) -> list[CollectionInfo]:
        with self.db.session() as s:
            query = select(Collection).options(_with_users()).order_by(Collection.name)
            return [CollectionInfo.of(c) for c in s.scalars(query)]

    def get(self, name: str) -> CollectionInfo | None:
        with self.db.session() as s:
            found = s.scalar(select(Collection).options(_with_users()).where(Collection.name == name))
            return None if found is None else CollectionInfo.of(found)

    def remove(self, name: str) -> None:
        """The collection and its grants (its documents' chunks are the store's to remove)."""
        with self.db.session() as s:
            s.delete(_collection(s, name))

    def grant(self, name: str, user: str) -> CollectionInfo:
        """`user` may use the collection (granting twice is harmless)."""
        with self.db.session() as s:
            collection, member = _collection(s, name), _user(s, user)
            if s.get(CollectionGrant, (collection.id, member.id)) is None:
                s.add(CollectionGrant(collection=collection, user=member))
                s.flush()
            s.refresh(collection)
            return CollectionInfo.of(collection)

    def revoke(self, name: str, user: str) -> CollectionInfo:
        with self.db.session() as s:
            collection, member = _collection(s, name), _user(s, user)
            grant = s.get(CollectionGrant, (collection.id, member.id))
            if grant is not None:
                s.delete(grant)
                s.flush()
            s.refresh(collection)
            return CollectionInfo.of(collection)

    def names_for(self, user: UserInfo) -> Names:
        """The collections `user` may ask about: every one for an admin, the granted ones for a member."""
        with self.db.session() as s:
            query = select(Collection.name).order_by(Collection.name)
            if not user.is_admin:
                query = query.join(CollectionGrant).where(CollectionGrant.user_id == user.id)
            return list(s.scalars(query))

    def may_use(self, user: UserInfo, name: str) -> bool:
        return name in self.names_for(user)

    def resolve(self, user: UserInfo, requested: Sequence[str] | None = None) -> Names:
        """The collections a question by `user` searches: those requested (each must be one the user may
        use), or every one the user may use. A collection the user may not use is reported as missing
        (404), so its existence is not revealed."""
        allowed = self.names_for(user)
        if not requested:
            return allowed
        unknown = [name for name in requested if name not in allowed]
        if unknown:
            raise NotFoundError(f"no collection named {unknown[0]!r}", param="collection")
        return list(dict.fromkeys(requested))


def _with_users() -> Any:
    return selectinload(Collection.grants).selectinload(CollectionGrant.user)


def _collection(s: Session, name: str) -> Collection:
    found = s.scalar(select(Collection).where(Collection.name == name))
    if found is None:
        raise NotFoundError(f"no collection named {name!r}; see `assistant collections list`", param="name")
    return found


def _user(s: Session, name: str) -> User:
    found = s.scalar(select(User).where(User.name == name))
    if found is None:
        raise NotFoundError(f"no user named {name!r}; see `assistant users list`", param="user")
    return found
