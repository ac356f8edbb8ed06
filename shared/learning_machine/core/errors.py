"""What can go wrong, as the domain says it: each error names its kind and the input at fault.

The API turns a kind into an HTTP status in one place (`api/errors.py`); nothing here speaks
HTTP. `argument` names the input at fault by its parameter name, dotted for a nested one
("fields.timezone", "arguments.memory_id"); "" means the request as a whole, None names none.
Errors keep their builtin base where code catches them as such (LookupError, ValueError).
"""

from __future__ import annotations


class DomainError(Exception):
    argument: str | None = None
    kind: str = "error"  # the `type` a client reads in the error detail


class NotFoundError(DomainError):
    """The item the request names is not there (or not visible to this tenant: the same answer)."""

    kind = "not_found"
    what = "item"  # the API answers "<what> not found"


class ConflictError(DomainError):
    """The request contradicts the current state; reading again and retrying may succeed."""

    kind = "conflict"


class InvalidInputError(DomainError):
    """A value the request schema allows but the domain refuses."""

    kind = "value_error"


class TooLargeError(DomainError):
    kind = "too_large"
    argument = ""


class UnavailableError(DomainError):
    """A backend is down or overloaded; nothing was changed, a retry later may succeed."""

    what = "a backend"
