"""Passwords (argon2id, via pwdlib) and API keys (random tokens, stored as their SHA-256)."""

from __future__ import annotations

import hashlib
import secrets

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

KEY_PREFIX = "ga_"  # grounded assistant: recognisable in logs and by secret scanners


def new_api_key() -> str:
    """A key with 256 random bits; shown once, never stored."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """SHA-256 is enough for a 256-bit random key (no dictionary to try), and lets a key be looked up."""
    return hashlib.sha256(key.strip().encode()).hexdigest()


class Passwords:
    """Hashes and checks passwords; `PasswordHash.recommended()` (argon2id) unless another is given."""

    def __init__(self, hasher: PasswordHash | None = None) -> None:
        # argon2id with pwdlib's recommended costs, in one lane: a check then takes one core, not all of them,
        # so sign-ins cannot starve the answers (N4). A hash with more lanes is redone at the next sign-in.
        self.hasher = hasher or PasswordHash((Argon2Hasher(parallelism=1),))
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """(matches, a new hash to store when the parameters changed). With no stored hash it still spends
        the time of a check, so the answer's timing does not tell whether the user exists."""
        if stored is None:
            if self._dummy is None:
                self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
            self.hasher.verify(password, self._dummy)
            return False, None
        try:
            return self.hasher.verify_and_update(password, stored)
        except UnknownHashError:
            return False, None
