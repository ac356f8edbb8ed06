"""Namespace of a request, resolved within the caller's tenant from the store's config."""

from __future__ import annotations

from http import HTTPStatus

from ..core.namespaces import NamespaceError, resolve
from .errors import ApiError


def namespace_for(requested: str | None, configured: str, user_id: str | None, loc: list[str | int]) -> str:
    try:
        return resolve(requested, configured, user_id)
    except NamespaceError as error:
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, str(error), loc, "missing") from error
