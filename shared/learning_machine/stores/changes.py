"""One atomic change to a user's memory: the single write path for extraction, API and tools.

A `ChangeSet` collects conditional writes (each guarded by the version it was computed from)
and commits them as one DynamoDB transaction. A concurrent writer makes the transaction fail
as a whole; the caller reloads and re-applies (`commit_with_retry`), so no update is lost.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ..adapters import dynamodb
from ..models.memories import Memory
from ..models.memory_history import Change, MemoryVersion
from ..models.profile import UserProfile
from ..models.provenance import Provenance
from ..models.sessions import SessionContext
from ..models.transcripts import AppliedOperation, TokenUsage, TranscriptStatus
from .keys import (
    PROFILE_SK,
    SESSION_INDEX_PREFIX,
    SESSION_SK,
    STATUS_SK,
    TRANSCRIPT_INDEX_PREFIX,
    history_pk,
    history_sk,
    memory_sk,
    session_pk,
    transcript_pk,
    usage_pk,
    user_pk,
)
from .registry import Registry
from .usage import day_update


class WriteConflictError(Exception):
    """Another writer changed the same items; reload and re-apply."""


class AlreadyAppliedError(Exception):
    """The transcript this change belongs to was already applied (a duplicate delivery)."""


class MemoryVectors:
    """Embeddings of memory texts for the change sets of one write (kept across its retries, so a
    retry embeds nothing again): `known` may be filled beforehand (extraction embeds a transcript's
    memory texts in its one embedding call), the rest is embedded in one call at commit."""

    def __init__(
        self,
        embed: Callable[[Sequence[str]], Sequence[Sequence[float]]] | None,
        known: dict[str, list[float]] | None = None,
    ) -> None:
        self._embed = embed
        self.known = dict(known or {})

    def fill(self, memories: Sequence[Memory]) -> None:
        missing = list(dict.fromkeys(m.content for m in memories if m.content not in self.known))
        if missing and self._embed is not None:
            self.known.update(zip(missing, (list(v) for v in self._embed(missing)), strict=True))
        for memory in memories:
            memory.vector = self.known.get(memory.content)


class ChangeSet:
    def __init__(self, table_name: str, tenant: str, user: str, vectors: MemoryVectors | None = None) -> None:
        self.table = table_name
        self.tenant = tenant
        self.user = user
        self.vectors = vectors
        # Memory items written without a vector (new or changed text): embedded at commit.
        self._unembedded: list[tuple[dict[str, Any], Memory]] = []
        self.items: list[dict[str, Any]] = []
        self.applied: list[AppliedOperation] = []
        self._status_index: int | None = None

    def __len__(self) -> int:
        return len(self.items)

    # -- memories -------------------------------------------------------------------------
    def add_memory(self, memory: Memory) -> None:
        self._put_memory(memory, new=True)
        self._record_version(memory, "created", None)
        self.applied.append(AppliedOperation(store="memories", action="add", target=memory.memory_id))

    def update_memory(
        self,
        current: Memory,
        updated: Memory,
        change: Change = "updated",
        reason: str | None = None,
        by: Provenance | None = None,
    ) -> None:
        """`by`: who made a change that keeps the value (a merge, an undo); default: the value's source."""
        if updated.content != current.content:
            updated = updated.without_embedding()
        self._put_memory(updated, expected=current.version)
        self._record_version(updated, change, current.content, reason=reason, by=by)
        self.applied.append(AppliedOperation(store="memories", action="update", target=updated.memory_id))

    def confirm_memory(self, current: Memory, at: datetime) -> None:
        """The transcript restated it: count the confirmation (its value and history do not change)."""
        confirmed = current.model_copy(
            update={
                "confirmations": current.confirmations + 1,
                "last_confirmed_at": at,
                "version": current.version + 1,
            }
        )
        self._put_memory(confirmed, expected=current.version)
        self.applied.append(AppliedOperation(store="memories", action="confirm", target=current.memory_id))

    def delete_memory(
        self,
        current: Memory,
        provenance: Provenance,
        change: Change = "deleted",
        merged_into: str | None = None,
        reason: str | None = None,
    ) -> None:
        key = {"pk": user_pk(self.tenant, self.user), "sk": memory_sk(current.memory_id)}
        self.items.append(dynamodb.guarded_delete(self.table, key, current.version))
        tombstone = current.model_copy(update={"version": current.version + 1, "provenance": provenance})
        self._record_version(tombstone, change, None, merged_into=merged_into, reason=reason)
        self.applied.append(AppliedOperation(store="memories", action="delete", target=current.memory_id))

    def restore_memory(self, memory: Memory, reason: str, by: Provenance) -> None:
        """Put a removed memory back (undo of a curation change); fails if it exists again."""
        self._put_memory(memory, new=True)
        self._record_version(memory, "restored", None, reason=reason, by=by)
        self.applied.append(AppliedOperation(store="memories", action="add", target=memory.memory_id))

    def _put_memory(self, memory: Memory, *, new: bool = False, expected: int | None = None) -> None:
        """The memory item, its vector beside the JSON document (read back by the same query)."""
        packed = memory.packed_embedding()
        extra = {dynamodb.VECTOR_ATTRIBUTE: packed} if packed else {}
        self._put(
            user_pk(self.tenant, self.user),
            memory_sk(memory.memory_id),
            memory,
            memory.version,
            new=new,
            expected=expected,
            **extra,
        )
        if not packed:
            self._unembedded.append((self.items[-1], memory.model_copy()))

    def _embed_memories(self) -> None:
        """One embedding call for the memory texts this change writes that have no vector yet."""
        if self.vectors is None or not self._unembedded:
            return
        memories = [memory for _, memory in self._unembedded]
        self.vectors.fill(memories)
        for (entry, _), memory in zip(self._unembedded, memories, strict=True):
            packed = memory.packed_embedding()
            if packed:
                entry["Put"]["Item"][dynamodb.VECTOR_ATTRIBUTE] = packed
        self._unembedded = []

    def _record_version(
        self,
        memory: Memory,
        change: Change,
        superseded: str | None,
        merged_into: str | None = None,
        reason: str | None = None,
        by: Provenance | None = None,
    ) -> None:
        removed = change in ("deleted", "pruned") or merged_into is not None
        version = MemoryVersion(
            memory_id=memory.memory_id,
            version=memory.version,
            change=change,
            layer=memory.layer,
            category=memory.category,
            content=memory.content,
            polarity=memory.polarity,
            valid_from=memory.provenance.recorded_at if removed else memory.valid_from,
            superseded_value=superseded,
            provenance=by or memory.provenance,
            merged_into=merged_into,
            reason=reason,
        )
        self._put(
            history_pk(self.tenant, self.user),
            history_sk(memory.memory_id, memory.version),
            version,
            memory.version,
            new=True,
        )

    def register_user(self) -> None:
        """The user's entry in the tenant's registry (curation walks users from it), written with
        their first data: no request of its own, and no conflict with other users' writes."""
        item = Registry(self.table).user_item(self.tenant, self.user)
        self.items.append({"Put": {"TableName": self.table, "Item": item}})

    def attach(self, item: dict[str, Any]) -> None:
        """Any other transaction item that must commit with these changes (a curation record)."""
        self.items.append(item)

    # -- profile and session ---------------------------------------------------------------
    def put_profile(self, current: UserProfile, updated: UserProfile, changed: dict[str, str]) -> None:
        self._put(
            user_pk(self.tenant, self.user), PROFILE_SK, updated, updated.version, expected=current.version
        )
        for name, action in changed.items():
            self.applied.append(AppliedOperation(store="user_profile", action=action, target=name))

    def put_session(self, current: SessionContext | None, updated: SessionContext) -> None:
        self._put(
            session_pk(self.tenant, updated.session_id),
            SESSION_SK,
            updated,
            updated.version,
            expected=current.version if current else 0,
            gsi1pk=user_pk(self.tenant, self.user),
            gsi1sk=SESSION_INDEX_PREFIX + updated.session_id,
        )
        self.applied.append(
            AppliedOperation(store="session_context", action="replace", target=updated.session_id)
        )

    # -- transcript bookkeeping ----------------------------------------------------------
    def complete_transcript(self, status: TranscriptStatus) -> None:
        """Mark the transcript done in the same transaction: a second delivery cannot apply twice."""
        self._status_index = len(self.items)
        self.items.append(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": dynamodb.item(
                        transcript_pk(self.tenant, status.transcript_id),
                        STATUS_SK,
                        status,
                        1,
                        state=status.status,
                        gsi1pk=user_pk(self.tenant, self.user),
                        gsi1sk=TRANSCRIPT_INDEX_PREFIX + status.transcript_id,
                    ),
                    "ConditionExpression": "attribute_not_exists(pk) OR #state <> :done",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": {":done": "done"},
                }
            }
        )

    def add_usage(
        self, usage: TokenUsage | None, model_calls: int, now: datetime, embedding_tokens: int = 0
    ) -> None:
        """Count the learned transcript on its day, and its model tokens on the day and the month
        (the month's tokens are what the tokens-per-month quota is checked against)."""
        tokens = usage or TokenUsage()
        day = day_update(
            self.table,
            self.tenant,
            now.date(),
            {
                "transcripts_learned": 1,
                "model_calls": model_calls,
                "prompt_tokens": tokens.prompt_tokens,
                "completion_tokens": tokens.completion_tokens,
                "embedding_tokens": embedding_tokens,
            },
        )
        if day is not None:
            self.items.append(day)
        if usage is None:
            return
        month = now.strftime("%Y-%m")
        self.items.append(
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": usage_pk(self.tenant), "sk": month},
                    "UpdateExpression": "ADD prompt_tokens :p, completion_tokens :c, transcripts :one",
                    "ExpressionAttributeValues": {
                        ":p": usage.prompt_tokens,
                        ":c": usage.completion_tokens,
                        ":one": 1,
                    },
                }
            }
        )

    # -- commit ---------------------------------------------------------------------------
    def commit(self) -> None:
        if not self.items:
            return
        self._embed_memories()
        try:
            dynamodb.transact_write(self.items)
        except ClientError as error:
            if not dynamodb.is_conditional_failure(error):
                raise
            reasons = error.response.get("CancellationReasons", [])
            index = self._status_index
            if (
                index is not None
                and index < len(reasons)
                and reasons[index].get("Code") == "ConditionalCheckFailed"
            ):
                raise AlreadyAppliedError(self.user) from error
            raise WriteConflictError(self.user) from error

    def _put(
        self,
        pk: str,
        sk: str,
        doc: Any,
        version: int,
        *,
        new: bool = False,
        expected: int | None = None,
        **extra: Any,
    ) -> None:
        item = dynamodb.item(pk, sk, doc, version, **extra)
        if new or expected is not None:
            self.items.append(dynamodb.guarded_put(self.table, item, 0 if new else (expected or 0)))
        else:
            self.items.append({"Put": {"TableName": self.table, "Item": item}})


def transact(items: list[dict[str, Any]], owner: str) -> None:
    """Write items prepared by the stores in one transaction (WriteConflictError if one moved)."""
    try:
        dynamodb.transact_write(items)
    except ClientError as error:
        if dynamodb.is_conditional_failure(error):
            raise WriteConflictError(owner) from error
        raise


def commit_with_retry(
    build: Callable[[], ChangeSet], attempts: int, on_retry: Callable[[int], None]
) -> ChangeSet:
    """Build a change set from fresh state and commit it; on a conflict, rebuild and retry.

    Backoff is exponential with full jitter, so concurrent writers spread out.
    """
    for attempt in range(1, attempts + 1):
        changes = build()
        try:
            changes.commit()
            return changes
        except WriteConflictError:
            if attempt == attempts:
                raise
            on_retry(attempt)
            time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
    raise AssertionError("unreachable")
