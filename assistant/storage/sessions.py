"""Browser sessions kept in the database (N2, N3), so that one can be ended: a cookie is worth nothing once
its row is gone. A row goes on sign-out, when the user's password changes or their keys are rotated, when
the user is removed (ON DELETE CASCADE), and when it expires.

A session is named by a random 256-bit token; only its SHA-256 is stored, so reading the database does not
give a live session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select

from assistant.storage.db import Database
from assistant.storage.models import BrowserSession, utcnow


@dataclass(frozen=True)
class SessionInfo:
    """Whom a live session belongs to: a user of the database, or a key of RAG_API_KEYS (by its tag)."""

    user_id: int | None
    key_tag: str | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def open(self, *, user_id: int | None = None, key_tag: str | None = None, seconds: float) -> str:
        """A new session's token (shown once, in the cookie); expired sessions are swept on the way."""
        if (user_id is None) == (key_tag is None):
            raise ValueError("a session belongs to a user or to a key")
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.db.session() as s:
            s.execute(delete(BrowserSession).where(BrowserSession.expires_at < now))
            s.add(
                BrowserSession(
                    token_hash=_hash(token),
                    user_id=user_id,
                    key_tag=key_tag,
                    created_at=now,
                    expires_at=now + timedelta(seconds=seconds),
                )
            )
        return token

    def check(self, token: str) -> SessionInfo | None:
        """Whom the session belongs to; None when it never was, has ended or has expired."""
        with self.db.session() as s:
            row = s.scalar(
                select(BrowserSession).where(
                    BrowserSession.token_hash == _hash(token), BrowserSession.expires_at > utcnow()
                )
            )
            return None if row is None else SessionInfo(row.user_id, row.key_tag)

    def end(self, token: str) -> None:
        with self.db.session() as s:
            s.execute(delete(BrowserSession).where(BrowserSession.token_hash == _hash(token)))

    def end_all(self, user_id: int) -> int:
        """Ends every session of a user; how many there were."""
        with self.db.session() as s:
            result = s.execute(delete(BrowserSession).where(BrowserSession.user_id == user_id))
            return int(getattr(result, "rowcount", 0) or 0)
