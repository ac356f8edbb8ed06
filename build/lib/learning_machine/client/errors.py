"""What the client raises: one exception per kind of answer, all `LearningMachineError`."""

from __future__ import annotations

from typing import Any


class LearningMachineError(Exception):
    """An answer that is not a success, or no answer at all (`status` is None then).

    `field_errors` is the API's `detail` list: `{"loc": [...], "type": ..., "msg": ...}` per field
    at fault, e.g. `loc == ["body", "messages", 0, "role"]`.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        field_errors: list[dict[str, Any]] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"HTTP {status}: {message}" if status is not None else message)
        self.status = status
        self.message = message
        self.field_errors = field_errors or []
        self.body = body

    @property
    def fields(self) -> list[str]:
        """The locations at fault, dotted: `body.messages.0.role`."""
        return [".".join(str(part) for part in error.get("loc", [])) for error in self.field_errors]


class AuthenticationError(LearningMachineError):
    """401 / 403: the API key is missing, unknown or revoked."""


class InvalidRequestError(LearningMachineError):
    """400 / 413 / 422: the request names the field at fault in `field_errors`."""


class NotFoundError(LearningMachineError):
    """404: unknown id (another tenant's data looks the same)."""


class ConflictError(LearningMachineError):
    """409: e.g. a configuration changed meanwhile, a proposal already reviewed, a name taken."""


class RateLimitedError(LearningMachineError):
    """429, after the client's retries."""


class ServerError(LearningMachineError):
    """5xx, after the client's retries."""


class TransportError(LearningMachineError):
    """The service could not be reached (connection refused, timeout), after the client's retries."""


_BY_STATUS: dict[int, type[LearningMachineError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitedError,
}


def error_for(status: int, body: Any) -> LearningMachineError:
    """The exception for an error answer; `body` is its decoded JSON, or its text."""
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else LearningMachineError)
    if isinstance(body, dict):
        detail = body.get("detail")
        field_errors = [d for d in detail if isinstance(d, dict)] if isinstance(detail, list) else []
        message = str(body.get("message") or body)
        return kind(message, status=status, field_errors=field_errors, body=body)
    return kind(str(body) or "no body", status=status, body=body)
