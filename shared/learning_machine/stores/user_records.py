"""A user's records outside their own partitions: session contexts and transcript records.

Both live under their own keys and are found through the by-user index, which projects keys
only; this module is the one place that reads that index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, Key

from ..adapters import dynamodb
from ..models.sessions import SessionContext
from ..models.transcripts import TranscriptStatus
from .keys import (
    SESSION_INDEX_PREFIX,
    SESSION_SK,
    STATUS_SK,
    TRANSCRIPT_INDEX_PREFIX,
    USER_INDEX,
    user_pk,
)


@dataclass
class LinkedKeys:
    """Keys of a user's sessions and transcript records, and the transcripts' ids."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    transcript_ids: list[str] = field(default_factory=list)


@dataclass
class LinkedRecords:
    sessions: list[SessionContext] = field(default_factory=list)
    transcripts: list[TranscriptStatus] = field(default_factory=list)
    found: bool = False  # the index named at least one record (it may have gone since)


class UserRecordStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def _index_keys(self, tenant: str, user: str, prefix: str = "") -> list[dict[str, Any]]:
        condition: ConditionBase = Key("gsi1pk").eq(user_pk(tenant, user))
        if prefix:
            condition &= Key("gsi1sk").begins_with(prefix)
        return dynamodb.query_all(self._table, IndexName=USER_INDEX, KeyConditionExpression=condition)

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        return dynamodb.table(self._table).get_item(Key={"pk": key["pk"], "sk": key["sk"]}).get("Item")

    def sessions(self, tenant: str, user: str) -> list[SessionContext]:
        found = (self._get(key) for key in self._index_keys(tenant, user, SESSION_INDEX_PREFIX))
        return [dynamodb.load(SessionContext, raw) for raw in found if raw is not None]

    def load(self, tenant: str, user: str) -> LinkedRecords:
        keys = self._index_keys(tenant, user)
        records = LinkedRecords(found=bool(keys))
        for key in keys:
            raw = self._get(key)
            if raw and key["sk"] == SESSION_SK:
                records.sessions.append(dynamodb.load(SessionContext, raw))
            elif raw and key["sk"] == STATUS_SK:
                records.transcripts.append(dynamodb.load(TranscriptStatus, raw))
        return records

    def keys(self, tenant: str, user: str) -> LinkedKeys:
        found = self._index_keys(tenant, user)
        return LinkedKeys(
            keys=[{"pk": k["pk"], "sk": k["sk"]} for k in found],
            transcript_ids=[
                str(k["gsi1sk"]).removeprefix(TRANSCRIPT_INDEX_PREFIX) for k in found if k["sk"] == STATUS_SK
            ],
        )

    def delete(self, keys: list[dict[str, Any]]) -> int:
        return dynamodb.delete_keys(self._table, keys)
