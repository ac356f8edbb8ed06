"""Reads of a user's profile and memories (one partition, one query) and memory history.

Memory writes go through a ChangeSet; what curation and undo write to the history partition is
prepared here, so the key layout stays in `stores/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from typing import Any

from boto3.dynamodb.conditions import Key
from pydantic import TypeAdapter

from ..adapters import dynamodb
from ..models.memories import Memory
from ..models.memory_history import MemoryVersion
from ..models.profile import UserProfile
from .keys import MEMORY_PREFIX, PROFILE_SK, history_pk, history_sk, memory_sk, user_pk

_Stored = tuple[str, bytes | None]  # a memory's JSON document and its vector bytes, as read


@dataclass
class UserState:
    """Everything held about one user's profile store, as read in one query."""

    profile: UserProfile
    memories: list[Memory] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return self.profile.version > 0 or bool(self.memories)

    def memory(self, memory_id: str) -> Memory | None:
        """By id; an id curation merged away resolves to the memory it was merged into, so an
        extraction planned before the merge updates the survivor instead of losing its update."""
        found = next((m for m in self.memories if m.memory_id == memory_id), None)
        return found or next(
            (m for m in self.memories if any(item.item_id == memory_id for item in m.merged)), None
        )


@cache
def _memory_list() -> TypeAdapter[list[Memory]]:
    """Built on first read, not at import (the cold start)."""
    return TypeAdapter(list[Memory])


def with_vector(memory: Memory, data: bytes | None) -> Memory:
    return memory.with_packed_embedding(data)


def _parse(docs: list[str], stored: list[_Stored]) -> list[Memory]:
    """One validation of all the documents as a JSON array: about half the time of one call each."""
    memories = _memory_list().validate_json("[" + ",".join(docs) + "]") if docs else []
    return [with_vector(m, vector) for m, (_, vector) in zip(memories, stored, strict=True)]


# Users whose parsed memories a container keeps for `read` (warm Lambda): the most recently read.
USERS_PARSED_PER_CONTAINER = 32


class UserMemoryStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name
        # user partition -> its memories as last read, by their stored bytes (see `read`).
        self._parsed: dict[str, dict[_Stored, Memory]] = {}

    def load(self, tenant: str, user: str, consistent: bool = False) -> UserState:
        """One query; `consistent` for a retry after a conflict, which must see the winner's write.
        Every memory is parsed anew: the caller may change what it gets."""
        profile, stored = self._query(tenant, user, consistent)
        return UserState(profile=profile, memories=_parse([doc for doc, _ in stored], stored))

    def read(self, tenant: str, user: str) -> UserState:
        """`load` for callers that never change what they get (get-context, search).

        Still one query, so the answer is always what is stored now; but a memory whose stored
        bytes are the same as at this user's last read in this container is not parsed again: the
        same object is handed out (get-context reads every memory of a user on each request, and
        parsing 500 was a third of its own time). Only the users read most recently are kept."""
        pk = user_pk(tenant, user)
        profile, stored = self._query(tenant, user, consistent=False)
        known = self._parsed.pop(pk, {})
        missing = [entry for entry in stored if entry not in known]
        parsed = dict(zip(missing, _parse([doc for doc, _ in missing], missing), strict=True))
        memories = [known[entry] if entry in known else parsed[entry] for entry in stored]
        self._parsed[pk] = dict(zip(stored, memories, strict=True))
        while len(self._parsed) > USERS_PARSED_PER_CONTAINER:
            self._parsed.pop(next(iter(self._parsed)))  # the least recently read user
        return UserState(profile=profile, memories=memories)

    def forget_reads(self) -> None:
        """Drop what `read` kept, as in a new container (benchmarks time a user's first read)."""
        self._parsed.clear()

    def _query(self, tenant: str, user: str, consistent: bool) -> tuple[UserProfile, list[_Stored]]:
        """The partition's profile and its memories' documents and vectors, in key order."""
        profile = UserProfile(user_id=user)
        stored: list[_Stored] = []
        for sk, doc, vector in dynamodb.query_docs(self._table, user_pk(tenant, user), consistent):
            if sk == PROFILE_SK:
                profile = UserProfile.model_validate_json(doc)
            elif sk.startswith(MEMORY_PREFIX):
                stored.append((doc, vector))
        return profile, stored

    def get_memory(self, tenant: str, user: str, memory_id: str) -> Memory | None:
        raw = dynamodb.table(self._table).get_item(
            Key={"pk": user_pk(tenant, user), "sk": memory_sk(memory_id)}
        )
        if "Item" not in raw:
            return None
        # The resource answers a binary attribute as boto3's `Binary` (its bytes in `.value`).
        stored: Any = raw["Item"].get(dynamodb.VECTOR_ATTRIBUTE)
        vector = bytes(stored.value) if stored is not None else None
        return with_vector(dynamodb.load(Memory, raw["Item"]), vector)

    def history(self, tenant: str, user: str, memory_id: str) -> list[MemoryVersion]:
        """Every version, oldest first; a version is valid until the next one starts."""
        items = dynamodb.query_all(
            self._table,
            KeyConditionExpression=Key("pk").eq(history_pk(tenant, user))
            & Key("sk").begins_with(f"{memory_id}#"),
        )
        versions = [dynamodb.load(MemoryVersion, raw) for raw in items]
        for older, newer in pairwise(versions):
            older.valid_to = newer.valid_from
        return versions

    def all_versions(self, tenant: str, user: str) -> list[MemoryVersion]:
        """Every version of every memory of the user, grouped by memory, oldest first."""
        items = dynamodb.query_all(self._table, KeyConditionExpression=Key("pk").eq(history_pk(tenant, user)))
        return [dynamodb.load(MemoryVersion, raw) for raw in items]

    def history_puts(self, tenant: str, user: str, versions: list[MemoryVersion]) -> list[dict[str, Any]]:
        """Transaction items that write these versions back (undo of a history prune)."""
        pk = history_pk(tenant, user)
        return [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": dynamodb.item(pk, history_sk(v.memory_id, v.version), v, v.version),
                }
            }
            for v in versions
        ]

    def history_deletes(self, tenant: str, user: str, versions: list[MemoryVersion]) -> list[dict[str, Any]]:
        """Transaction items that delete these versions (history retention)."""
        pk = history_pk(tenant, user)
        return [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": {"pk": pk, "sk": history_sk(v.memory_id, v.version)},
                }
            }
            for v in versions
        ]

    def vector_sets(self, tenant: str, user: str, memories: list[Memory]) -> list[dict[str, Any]]:
        """Transaction items that store each memory's vector beside it, if the memory is still at
        the version it was read at (vectors written by curation for memories that lack one)."""
        pk = user_pk(tenant, user)
        sets = []
        for memory in memories:
            packed = memory.packed_embedding()
            assert packed is not None, memory.memory_id
            key = {"pk": pk, "sk": memory_sk(memory.memory_id)}
            vector = dynamodb.VECTOR_ATTRIBUTE
            sets.append(dynamodb.guarded_set(self._table, key, memory.version, vector, packed))
        return sets

    def partition_keys(self, tenant: str, user: str) -> list[dict[str, Any]]:
        """Keys of every item in the user's profile and history partitions (to forget the user)."""
        keys: list[dict[str, Any]] = []
        for pk in (user_pk(tenant, user), history_pk(tenant, user)):
            found = dynamodb.query_all(
                self._table, KeyConditionExpression=Key("pk").eq(pk), ProjectionExpression="pk, sk"
            )
            keys += [{"pk": item["pk"], "sk": item["sk"]} for item in found]
        return keys
