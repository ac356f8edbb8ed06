"""Namespaces of entity memory and learned knowledge.

A request may name a namespace only within its tenant: every key still starts with the tenant,
so no namespace can reach another tenant's data. 'user' resolves to the user's private
namespace and needs a user id.
"""

from __future__ import annotations

from .errors import InvalidInputError

USER = "user"
GLOBAL = "global"
USER_PREFIX = "user:"


class NamespaceError(InvalidInputError, ValueError):
    """The namespace cannot be resolved (e.g. 'user' without a user id)."""

    kind, argument = "missing", "user_id"


def resolve(requested: str | None, configured: str, user_id: str | None) -> str:
    namespace = requested or configured
    if namespace == USER:
        if not user_id:
            raise NamespaceError("the 'user' namespace needs a user_id")
        return f"{USER_PREFIX}{user_id}"
    return namespace


def readable(tenant_namespace: str, user_id: str | None) -> bool:
    """A user's private namespace is readable only with that user's id."""
    if tenant_namespace.startswith(USER_PREFIX):
        return user_id is not None and tenant_namespace == f"{USER_PREFIX}{user_id}"
    return True


def search_scope(configured: str, user_id: str | None, requested: str | None = None) -> list[str]:
    """The namespaces a search or context request reads: the named one, else the configured one
    plus 'global' (shared knowledge is always readable within the tenant)."""
    if requested:
        return [resolve(requested, configured, user_id)]
    scope = [GLOBAL]
    if configured == USER:
        if user_id:
            scope.append(f"{USER_PREFIX}{user_id}")
    elif configured != GLOBAL:
        scope.append(configured)
    return scope
