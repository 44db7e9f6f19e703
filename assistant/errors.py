"""One error hierarchy: every error the assistant raises on purpose carries an HTTP status, a stable code
and a message written for the user. The API renders it (OpenAI's error shape), the UI shows the message,
the CLI prints it and exits non-zero. Nothing chooses a status by reading the message text.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of the assistant's errors: `status` (HTTP), `code` (stable, machine-readable) and `message`."""

    status: int = 500
    code: str = "internal_error"
    # OpenAI's error `type`: 4xx are the caller's to fix, 5xx ours or a backend's.
    kind: str = "api_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code  # a finer code for one instance, e.g. message_too_long

    def __str__(self) -> str:
        return self.message


class InvalidRequestError(AssistantError):
    """The request is malformed or breaks a limit (400)."""

    status = 400
    code = "invalid_request"
    kind = "invalid_request_error"


class AuthenticationError(AssistantError):
    status = 401
    code = "invalid_api_key"
    kind = "invalid_request_error"


class ForbiddenError(AssistantError):
    """The caller is known but may not do this, e.g. a member uploading a document (403)."""

    status = 403
    code = "forbidden"
    kind = "invalid_request_error"


class NotFoundError(AssistantError):
    status = 404
    code = "not_found"
    kind = "invalid_request_error"


class ConflictError(AssistantError):
    """The request is fine but the state is not, e.g. an index built with another embedding model (409)."""

    status = 409
    code = "conflict"


class TooManyAttemptsError(AssistantError):
    """A caller sent too many wrong credentials lately (429); `retry_after` seconds until it may again."""

    status = 429
    code = "rate_limit_exceeded"
    kind = "rate_limit_error"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FileTooLargeError(AssistantError):
    status = 413
    code = "file_too_large"
    kind = "invalid_request_error"


class UnsupportedFileTypeError(AssistantError):
    status = 415
    code = "unsupported_file_type"
    kind = "invalid_request_error"


class UnreadableFileError(AssistantError):
    """A supported file type whose content yields no text (422)."""

    status = 422
    code = "unreadable_file"
    kind = "invalid_request_error"


class ServiceUnavailableError(AssistantError):
    """A backend the assistant needs (the store) cannot be reached (503)."""

    status = 503
    code = "service_unavailable"


class ModelUnavailableError(AssistantError):
    """The chat model server is down, refused us, or answered with an error (502)."""

    status = 502
    code = "model_unavailable"


class ModelTimeoutError(ModelUnavailableError):
    """The chat model server did not answer in time (504)."""

    status = 504
    code = "model_timeout"


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
