"""Transcript status records: queued on accept, processing while extracted, done or failed."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..adapters import dynamodb
from ..models.common import utc_now
from ..models.transcripts import TranscriptStatus
from .keys import STATUS_SK, TRANSCRIPT_INDEX_PREFIX, transcript_pk, user_pk


class TranscriptStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def _item(self, tenant: str, status: TranscriptStatus) -> dict[str, Any]:
        return dynamodb.item(
            transcript_pk(tenant, status.transcript_id),
            STATUS_SK,
            status,
            1,
            state=status.status,
            gsi1pk=user_pk(tenant, status.user_id),
            gsi1sk=TRANSCRIPT_INDEX_PREFIX + status.transcript_id,
        )

    def create(self, tenant: str, status: TranscriptStatus) -> TranscriptStatus | None:
        """Record a new transcript as queued. Returns the existing record when the id is taken."""
        try:
            dynamodb.table(self._table).put_item(
                Item=self._item(tenant, status), ConditionExpression="attribute_not_exists(pk)"
            )
            return None
        except ClientError as error:
            if not dynamodb.is_conditional_failure(error):
                raise
            return self.get(tenant, status.transcript_id) or status

    def get(self, tenant: str, transcript_id: str) -> TranscriptStatus | None:
        raw = dynamodb.table(self._table).get_item(
            Key={"pk": transcript_pk(tenant, transcript_id), "sk": STATUS_SK}, ConsistentRead=True
        )
        return dynamodb.load(TranscriptStatus, raw["Item"]) if "Item" in raw else None

    def delete(self, tenant: str, transcript_id: str) -> None:
        dynamodb.table(self._table).delete_item(
            Key={"pk": transcript_pk(tenant, transcript_id), "sk": STATUS_SK}
        )

    def mark(self, tenant: str, status: TranscriptStatus) -> None:
        """Save a non-final state (processing, failed) unless the transcript is already done."""
        try:
            dynamodb.table(self._table).put_item(
                Item=self._item(tenant, status),
                ConditionExpression="attribute_not_exists(pk) OR #state <> :done",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":done": "done"},
            )
        except ClientError as error:
            if not dynamodb.is_conditional_failure(error):
                raise

    @staticmethod
    def failed(record: TranscriptStatus, error: Exception) -> TranscriptStatus:
        reason = f"{type(error).__name__}: {error}"[:500]
        return record.model_copy(update={"status": "failed", "error": reason, "completed_at": utc_now()})
