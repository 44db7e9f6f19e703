"""People: a name, a password (argon2id) for the browser, API keys (stored as SHA-256) for bots, an admin
flag."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from assistant.errors import ConflictError, InvalidRequestError, NotFoundError
from assistant.storage.credentials import KEY_PREFIX, Passwords, hash_api_key, new_api_key
from assistant.storage.db import Database
from assistant.storage.models import ApiKey, BrowserSession, Conversation, User, UserId, utcnow

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD, MAX_PASSWORD = 8, 1024  # the upper bound keeps one sign-in from costing a megabyte hash
LAST_USED_EVERY = timedelta(minutes=5)  # a key's last use is written at most this often


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    is_admin: bool
    created_at: datetime
    has_password: bool
    keys: int

    @classmethod
    def of(cls, user: User, keys: int) -> UserInfo:
        return cls(user.id, user.name, user.is_admin, user.created_at, user.password_hash is not None, keys)


@dataclass(frozen=True)
class NewKey:
    """A key made for a user: `api_key` is shown once and cannot be recovered."""

    user: UserInfo
    api_key: str


def check_name(name: str, what: str = "user") -> str:
    if not NAME.fullmatch(name):
        raise InvalidRequestError(
            f"invalid {what} name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit",
            param="name",
        )
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequestError(
            f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters", param="password"
        )
    return password


class UserService:
    def __init__(self, db: Database, passwords: Passwords | None = None) -> None:
        self.db = db
        self.passwords = passwords or Passwords()

    # --- managing people

    def add(self, name: str, password: str | None = None, *, admin: bool = False) -> NewKey:
        """A new user with a first API key; without a password the user cannot sign in in a browser. The
        first admin takes over the conversations of the single-user phase (no users, no login) so that they
        are not lost when the app gains accounts."""
        check_name(name)
        hashed = self.passwords.hash(check_password(password)) if password is not None else None
        key = new_api_key()
        with self.db.session() as s:
            if s.scalar(select(User.id).where(User.name == name)) is not None:
                raise ConflictError(f"a user named {name!r} exists", code="user_exists")
            first_admin = admin and not s.scalar(select(func.count(User.id)).where(User.is_admin))
            user_id = s.execute(insert(UserId).values().returning(UserId.id)).scalar_one()
            user = User(id=user_id, name=name, password_hash=hashed, is_admin=admin)
            user.api_keys.append(_key_row(key))
            s.add(user)
            s.flush()
            if first_admin:
                s.execute(
                    update(Conversation)
                    .where(Conversation.owner_id.is_(None), Conversation.owner_key.is_(None))
                    .values(owner_id=user_id)
                )
            return NewKey(UserInfo.of(user, 1), key)

    def list(self) -> list[UserInfo]:
        with self.db.session() as s:
            keys = (
                select(ApiKey.user_id, func.count(ApiKey.id).label("n")).group_by(ApiKey.user_id).subquery()
            )
            rows = s.execute(
                select(User, func.coalesce(keys.c.n, 0))
                .outerjoin(keys, keys.c.user_id == User.id)
                .order_by(User.name)
            )
            return [UserInfo.of(user, n) for user, n in rows]

    def count(self) -> int:
        """How many users there are; with none (and no RAG_API_KEYS) the app is the local, login-free one."""
        with self.db.session() as s:
            return s.scalar(select(func.count(User.id))) or 0

    def get(self, name: str) -> UserInfo | None:
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.name == name))
            return None if user is None else _info(s, user)

    def by_id(self, user_id: int) -> UserInfo | None:
        with self.db.session() as s:
            user = s.get(User, user_id)
            return None if user is None else _info(s, user)

    def remove(self, name: str) -> None:
        """The user goes, and with them their keys, grants, sessions and conversations."""
        with self.db.session() as s:
            user = _required(s, name)
            _end_sessions(s, user.id)
            s.delete(user)

    def set_admin(self, name: str, admin: bool) -> UserInfo:
        with self.db.session() as s:
            user = _required(s, name)
            user.is_admin = admin
            return _info(s, user)

    def set_password(self, name: str, password: str | None) -> None:
        """A new password; None removes it (the user then has API keys only). Either way the user's browser
        sessions end (N3): whoever signed in with the old password is out."""
        hashed = self.passwords.hash(check_password(password)) if password is not None else None
        with self.db.session() as s:
            user = _required(s, name)
            user.password_hash = hashed
            _end_sessions(s, user.id)

    def rotate_key(self, name: str) -> NewKey:
        """Every key the user had stops working, and so does every browser session (one may have been opened
        with a leaked key, N3); the new key is returned, once."""
        key = new_api_key()
        with self.db.session() as s:
            user = _required(s, name)
            s.execute(delete(ApiKey).where(ApiKey.user_id == user.id))
            _end_sessions(s, user.id)
            s.add(_key_row(key, user.id))
            s.flush()
            return NewKey(_info(s, user), key)

    # --- who is asking

    def authenticate_key(self, key: str) -> UserInfo | None:
        """The user a bearer key belongs to, or None. The key is looked up by its hash, so no stored key is
        compared character by character."""
        if not key.strip().startswith(KEY_PREFIX):
            return None
        with self.db.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key)))
            if row is None:
                return None
            now = utcnow()
            if row.last_used_at is None or now - row.last_used_at > LAST_USED_EVERY:
                row.last_used_at = now
            return _info(s, row.user)

    def authenticate_password(self, name: str, password: str) -> UserInfo | None:
        """The user, when the name and password match; None otherwise, in about the same time whether or
        not the name exists. A hash made with older parameters is replaced on success."""
        if len(password) > MAX_PASSWORD:
            return None
        with self.db.session() as s:
            found = s.execute(select(User.id, User.password_hash).where(User.name == name)).first()
        # the slow hash is checked outside any transaction: no connection is held for it
        ok, rehashed = self.passwords.verify(password, found.password_hash if found else None)
        if not ok or found is None:
            return None
        with self.db.session() as s:
            user = s.get(User, found.id)
            if user is None:  # removed meanwhile
                return None
            if rehashed is not None and user.password_hash == found.password_hash:
                user.password_hash = rehashed
            return _info(s, user)


def _key_row(key: str, user_id: int | None = None) -> ApiKey:
    row = ApiKey(key_hash=hash_api_key(key), prefix=key[: len(KEY_PREFIX) + 4])
    if user_id is not None:
        row.user_id = user_id
    return row


def _end_sessions(s: Session, user_id: int) -> None:
    s.execute(delete(BrowserSession).where(BrowserSession.user_id == user_id))


def _required(s: Session, name: str) -> User:
    user = s.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFoundError(f"no user named {name!r}; see `assistant users list`", param="name")
    return user


def _info(s: Session, user: User) -> UserInfo:
    keys = s.scalar(select(func.count(ApiKey.id)).where(ApiKey.user_id == user.id)) or 0
    return UserInfo.of(user, keys)
