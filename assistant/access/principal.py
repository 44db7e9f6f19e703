"""Who is asking: a key of RAG_API_KEYS, a user of the database, or the open single-user app. Kept apart from
the gate so that the UI, the routes and the scopes can name a caller without knowing how one is recognised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from assistant.storage import UserInfo


@dataclass(frozen=True)
class Principal:
    """Who is asking. `id` is stable and safe to log: `key:<HMAC fingerprint of the key>` for a key of
    RAG_API_KEYS (an admin without an account), `user:<id>` for a user of the database."""

    id: str
    via: Literal["bearer", "session"]
    user_id: int | None = None
    name: str | None = None
    is_admin: bool = True

    @property
    def owner(self) -> int | str | None:
        """Whose conversations these are: the user's id; a key of RAG_API_KEYS by its fingerprint (each key
        its own, N7); None for the open single-user app."""
        if self.user_id is not None:
            return self.user_id
        return self.id if self.id.startswith("key:") else None

    @classmethod
    def of_user(cls, user: UserInfo, via: Literal["bearer", "session"]) -> Principal:
        return cls(f"user:{user.id}", via, user.id, user.name, user.is_admin)


# The open single-user app (no keys, no users) is its own admin with no account.
OPEN_PRINCIPAL = Principal("local", "session")
