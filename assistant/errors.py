"""Errors the adapters turn into readable messages (UI), 4xx/5xx (API) and exit codes (CLI)."""

from __future__ import annotations


class ModelUnavailableError(RuntimeError):
    """The chat model server is down, refused us, or answered with an error."""

    status_code = 502


class ModelTimeoutError(ModelUnavailableError):
    status_code = 504


def model_error(exc: BaseException, where: str) -> ModelUnavailableError | None:
    """Maps a provider exception to a readable error naming the server, or None when it is not one."""
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a core dependency
        return None
    if isinstance(exc, openai.APITimeoutError):
        return ModelTimeoutError(f"the model server at {where} did not answer in time ({exc})")
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailableError(f"cannot reach the model server at {where}: is it running? ({exc})")
    if isinstance(exc, openai.AuthenticationError):
        return ModelUnavailableError(f"the model server at {where} refused the API key ({exc.status_code})")
    if isinstance(exc, openai.APIStatusError):
        detail = exc.message or str(exc)
        return ModelUnavailableError(f"the model server at {where} answered {exc.status_code}: {detail}")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return ModelUnavailableError(f"cannot reach the model server at {where}: {exc}")
    return None
