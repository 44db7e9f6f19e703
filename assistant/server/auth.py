"""The API-key gate for `/v1` and `/api`: `Authorization: Bearer <key>` when RAG_API_KEYS is set."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assistant.errors import AuthenticationError
from assistant.server.deps import SettingsDep

# auto_error=False: a missing or malformed header is ours to answer, in OpenAI's error shape.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="One of RAG_API_KEYS; needed only when that setting is set.",
)


def require_api_key(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    keys = [key.encode() for key in settings.api_key_list]
    if not keys:
        return
    given = credentials.credentials.strip().encode() if credentials is not None else b""
    # compare against every key so timing does not reveal which one (or which prefix) matched
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given, key)
    if not ok:
        raise AuthenticationError("missing or invalid API key: send 'Authorization: Bearer <key>'")
