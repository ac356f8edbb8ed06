"""A durable outbox for knowledge-index writes the index could not take (it was unreachable).

One item per operation under the tenant's outbox partition, in time order; drained in that order
by the next index write of the tenant (or an explicit drain), so a later delete can never be
overtaken by an older upsert replayed after it.

A second partition holds deletes to repeat once an index's visibility delay has passed (see
`Indexer`), sorted by when they are due. A repeat only removes copies written before the first
attempt (`written_before`), so it commutes with every later write and needs no place in the order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from boto3.dynamodb.conditions import Key
from pydantic import AwareDatetime, BaseModel, Field

from ..adapters import dynamodb
from ..adapters.index.base import IndexDocument
from ..core.ids import new_id
from .keys import outbox_pk, repeat_pk

Operation = Literal["upsert", "delete", "delete_namespace"]


class PendingIndexWrite(BaseModel):
    op: Operation
    document: IndexDocument | None = None
    doc_ids: list[str] = Field(default_factory=list)
    namespace: str | None = None
    # A repeated delete: only copies written at or before this moment.
    written_before: AwareDatetime | None = None


class IndexOutbox:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def put(self, tenant: str, writes: list[PendingIndexWrite]) -> None:
        with dynamodb.table(self._table).batch_writer() as batch:
            for write in writes:
                # new_id is time-ordered: the sort key keeps the operations in the order they came.
                batch.put_item(Item=dynamodb.item(outbox_pk(tenant), new_id("o"), write, 1))

    def pending(self, tenant: str, limit: int) -> list[tuple[str, PendingIndexWrite]]:
        page = dynamodb.table(self._table).query(
            KeyConditionExpression=Key("pk").eq(outbox_pk(tenant)), Limit=limit, ConsistentRead=True
        )
        return [(str(raw["sk"]), dynamodb.load(PendingIndexWrite, raw)) for raw in page.get("Items", [])]

    def done(self, tenant: str, sort_key: str) -> None:
        dynamodb.table(self._table).delete_item(Key={"pk": outbox_pk(tenant), "sk": sort_key})

    def put_repeat(self, tenant: str, write: PendingIndexWrite, due: datetime) -> None:
        """Keep a delete to repeat at `due` (or at the first drain after it)."""
        sort_key = f"{_millis(due):015d}#{new_id('r')}"
        dynamodb.table(self._table).put_item(Item=dynamodb.item(repeat_pk(tenant), sort_key, write, 1))

    def due_repeats(self, tenant: str, now: datetime, limit: int) -> list[tuple[str, PendingIndexWrite]]:
        page = dynamodb.table(self._table).query(
            KeyConditionExpression=Key("pk").eq(repeat_pk(tenant)) & Key("sk").lt(f"{_millis(now) + 1:015d}"),
            Limit=limit,
            ConsistentRead=True,
        )
        return [(str(raw["sk"]), dynamodb.load(PendingIndexWrite, raw)) for raw in page.get("Items", [])]

    def repeated(self, tenant: str, sort_key: str) -> None:
        dynamodb.table(self._table).delete_item(Key={"pk": repeat_pk(tenant), "sk": sort_key})


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
