"""Records Powertools' idempotency layer keeps per transcript (its own table and key format)."""

from __future__ import annotations

from ..adapters import dynamodb


class IdempotencyRecords:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def delete(self, record_ids: list[str]) -> int:
        """Forget the records of these keys (see `idempotency.record_keys`), so a forgotten user's
        transcripts leave nothing behind and could be sent again."""
        return dynamodb.delete_keys(self._table, [{"id": record_id} for record_id in record_ids])
