"""Request ids: one short random id per request or failure, shown to the user and written to the log, so a
user can quote it and an operator can find the details (S17) without the user seeing them."""

from __future__ import annotations

import uuid

REQUEST_ID_LENGTH = 16


def new_request_id() -> str:
    """16 hex characters (64 random bits): unguessable enough to quote in public, short enough to read out."""
    return uuid.uuid4().hex[:REQUEST_ID_LENGTH]
