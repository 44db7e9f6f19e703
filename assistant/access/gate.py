"""One gate for every door (S1): who a request comes from, and what a member may not do. The HTTP middleware,
the FastAPI dependencies, the login page and the UI all ask this gate, so they cannot disagree.

- Bots send `Authorization: Bearer <key>`: a key of RAG_API_KEYS or a user's key (looked up by its hash).
- People sign in with a key, or a name and password, and get a session cookie (assistant/access/sessions.py).
  A session names the key it was opened with by a fingerprint, never the key: removing a key from
  RAG_API_KEYS ends its sessions.

The gate is open (the local single-user app) while no key is configured and no user exists; the first user
closes it for good (the latch, N12, N13).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.access.principal import Principal
from assistant.access.sessions import SECRET_FILE, cookie_of, load_or_create_secret, seal, unseal
from assistant.access.throttle import SignInGuard
from assistant.settings import Settings
from assistant.storage.credentials import KEY_PREFIX

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from assistant.storage import SessionService, UserService

# What a caller the gate does not know is told, by the middleware and the dependencies alike.
UNAUTHORIZED = "missing or invalid API key: send 'Authorization: Bearer <key>' (browsers: sign in at /login)"


class Gate:
    """Decides who a request comes from: a key of RAG_API_KEYS, or a user of the database (their API key,
    or a session opened with name and password). Disabled (everything open) when no key is configured and
    no user exists: the local single-user app."""

    def __init__(
        self,
        keys: list[str],
        secret: bytes,
        session_seconds: float = 12 * 3600,
        users: UserService | None = None,
        secret_file: Path | None = None,
        sessions: SessionService | None = None,
        sign_in: SignInGuard | None = None,
    ) -> None:
        self.secret = secret
        self.session_seconds = session_seconds
        self.users = users
        self.sessions = sessions
        self._secret_file = secret_file
        # fingerprint -> key; a fingerprint is an HMAC of the key, so a cookie never carries the key itself
        self._keys = {self._fingerprint(key): key.encode() for key in keys}
        # once a user has been seen, the gate stays closed (N13): removing every user does not open the app
        self._users_seen = False
        self.sign_in = sign_in or SignInGuard()

    @classmethod
    def from_settings(
        cls, settings: Settings, users: UserService | None = None, sessions: SessionService | None = None
    ) -> Gate:
        keys = settings.api_key_list
        secret_file = settings.data_dir / SECRET_FILE
        if settings.session_secret is not None:
            secret = settings.session_secret.get_secret_value().encode()
        elif keys:
            secret = load_or_create_secret(secret_file)
        else:
            secret = b""  # made when the first user appears (see `enabled`)
        return cls(
            keys,
            secret,
            settings.session_hours * 3600,
            users,
            secret_file,
            sessions,
            SignInGuard(settings.sign_in_concurrency),
        )

    @property
    def enabled(self) -> bool:
        return bool(self._keys) or self._have_users()

    def _have_users(self) -> bool:
        """Asked on every request until the first user appears (N12: no open window after `users add`),
        then never again (N13: removing every user while serving does not open the app)."""
        if self._users_seen or self.users is None:
            return self._users_seen
        if self.users.count() > 0:
            if not self.secret and self._secret_file is not None:
                self.secret = load_or_create_secret(self._secret_file)
            self._users_seen = True
        return self._users_seen

    # -- the seam -------------------------------------------------------------------------------------------
    @staticmethod
    def bearer(request: HTTPConnection) -> str | None:
        """The key of an `Authorization: Bearer <key>` header; None without one."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def authenticate(self, request: HTTPConnection) -> Principal | None:
        """The principal behind a bearer key or a session cookie; None when neither is valid."""
        token = self.bearer(request)
        if token is not None:
            return self.check_key(token)
        cookie = cookie_of(request)
        if cookie:
            return self.check_session(cookie)
        return None

    def check_key(self, key: str) -> Principal | None:
        given = key.encode()
        found: str | None = None
        # compare against every key, in constant time, so timing tells nothing about which one (or a prefix)
        for fingerprint, known in self._keys.items():
            if hmac.compare_digest(given, known):
                found = fingerprint
        if found:
            return Principal(f"key:{found}", "bearer")
        if self.users is not None and key.startswith(KEY_PREFIX):
            user = self.users.authenticate_key(key)  # looked up by its hash
            if user is not None:
                return Principal.of_user(user, "bearer")
        return None

    def check_password(self, name: str, password: str) -> Principal | None:
        if self.users is None or not name or not password:
            return None
        user = self.users.authenticate_password(name, password)
        return None if user is None else Principal.of_user(user, "session")

    # -- sessions -------------------------------------------------------------------------------------------
    def open_session(self, principal: Principal) -> str:
        """A cookie value for a new server-side session of the principal's user (or key): signed, naming
        a random token whose row in the database is the session (N2, N3: ended there, it is worth nothing)."""
        if self.sessions is None:
            raise ValueError("browser sessions need the database (no SessionService was given)")
        if principal.user_id is not None:
            token = self.sessions.open(user_id=principal.user_id, seconds=self.session_seconds)
        else:
            fingerprint = principal.id.removeprefix("key:")
            if fingerprint not in self._keys:
                raise ValueError("a session is opened for a principal of a configured key")
            token = self.sessions.open(key_tag=fingerprint, seconds=self.session_seconds)
        return seal(self.secret, token, self.session_seconds)

    def session_token(self, value: str) -> str | None:
        """The session token a cookie names, when the cookie is this server's, unaltered and unexpired."""
        return unseal(self.secret, value)

    def check_session(self, value: str) -> Principal | None:
        token = self.session_token(value)
        found = self.sessions.check(token) if token is not None and self.sessions is not None else None
        if found is None:
            return None
        if found.user_id is not None:
            user = self.users.by_id(found.user_id) if self.users is not None else None
            return None if user is None else Principal.of_user(user, "session")
        if found.key_tag not in self._keys:
            return None  # its key was removed from RAG_API_KEYS
        return Principal(f"key:{found.key_tag}", "session")

    def end_session(self, value: str) -> None:
        """Sign-out: the session's row goes, so a copy of the cookie no longer works (N3)."""
        token = self.session_token(value)
        if token is not None and self.sessions is not None:
            self.sessions.end(token)

    def _fingerprint(self, key: str) -> str:
        return hmac.new(self.secret, b"key:" + key.encode(), hashlib.sha256).hexdigest()[:32]


def admin_only(method: str, path: str) -> bool:
    """Requests only an admin may make, refused to members by the middleware before their body is read:
    uploads (API and Gradio), deletes, jobs and the admin API. The routes check again (AdminDep)."""
    path = path.rstrip("/")
    if path == "/gradio_api/upload" or path.startswith(("/api/admin", "/api/jobs")):
        return True
    return method in ("POST", "PUT", "PATCH", "DELETE") and path.startswith("/api/documents")
