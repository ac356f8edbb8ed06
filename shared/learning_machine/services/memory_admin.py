"""Human and agent edits of a user's memory: profile fields and memories.

Every write goes through the same ChangeSet as extraction (versioned, with history), retried
on a concurrent writer, so an edit and a running extraction never lose each other's update; how a
memory or profile field is written (ids, the next version, validation) is memory_rules'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..adapters.embeddings.base import Embedder
from ..core.errors import NotFoundError
from ..core.memory_rules import Origin, apply_profile_changes, coerce_field, new_memory_id, revise
from ..models.common import utc_now
from ..models.config import TenantConfig
from ..models.memories import Memory
from ..models.memory_edits import MemoryCreate, MemoryPatch
from ..models.profile import UserProfile
from ..models.provenance import Source
from ..stores.changes import ChangeSet, MemoryVectors, commit_with_retry
from ..stores.user_memory import UserMemoryStore


class UnknownMemoryError(NotFoundError, LookupError):
    what, argument = "memory", "memory_id"


@dataclass
class MemoryAdmin:
    table: str
    users: UserMemoryStore
    write_retries: int = 6
    # Built on first use; None: memories are written without vectors (found by keywords only).
    embedder: Callable[[], Embedder] | None = None

    def _commit(self, tenant: str, user: str, build: Any) -> ChangeSet:
        # One embedding call per edit for the texts it writes, kept across conflict retries.
        vectors = MemoryVectors(self._embed if self.embedder else None)

        def attempt() -> ChangeSet:
            changes = ChangeSet(self.table, tenant, user, vectors)
            build(changes)
            changes.register_user()
            return changes

        return commit_with_retry(attempt, self.write_retries, lambda _: None)

    def _embed(self, texts: Any) -> list[list[float]]:
        assert self.embedder is not None
        return self.embedder().embed(texts)

    def patch_profile(
        self, tenant: str, user: str, fields: dict[str, Any], config: TenantConfig
    ) -> UserProfile:
        """Validate every field first (FieldValueError names the first bad one), then write."""
        values: dict[str, tuple[Any, int | None]] = {
            name: (coerce_field(config, name, value), None) for name, value in fields.items()
        }
        result: list[UserProfile] = []

        def build(changes: ChangeSet) -> None:
            result.clear()
            profile = self.users.load(tenant, user, consistent=True).profile
            updated = apply_profile_changes(changes, profile, values, Origin(source="api", at=utc_now()))
            result.append(updated or profile)

        self._commit(tenant, user, build)
        return result[0]

    def create_memory(self, tenant: str, user: str, body: MemoryCreate, source: Source = "api") -> Memory:
        memory = Memory(
            memory_id=new_memory_id(),
            user_id=user,
            layer=body.layer,
            category=body.category,
            content=body.content,
            polarity=body.polarity,
            provenance=Origin(source=source).provenance(),
        )
        self._commit(tenant, user, lambda changes: changes.add_memory(memory))
        return memory

    def update_memory(
        self, tenant: str, user: str, memory_id: str, patch: MemoryPatch, source: Source = "api"
    ) -> Memory:
        result: list[Memory] = []

        def build(changes: ChangeSet) -> None:
            current = self.users.get_memory(tenant, user, memory_id)
            if current is None:
                raise UnknownMemoryError(memory_id)
            updated = revise(
                current,
                Origin(source=source, at=utc_now()).provenance(),
                **patch.model_dump(exclude_none=True),
            )
            result[:] = [updated]
            changes.update_memory(current, updated)

        self._commit(tenant, user, build)
        return result[0]

    def delete_memory(self, tenant: str, user: str, memory_id: str, source: Source = "api") -> None:
        def build(changes: ChangeSet) -> None:
            current = self.users.get_memory(tenant, user, memory_id)
            if current is None:
                raise UnknownMemoryError(memory_id)
            changes.delete_memory(current, Origin(source=source, at=utc_now()).provenance())

        self._commit(tenant, user, build)


__all__ = ["MemoryAdmin", "UnknownMemoryError"]
