"""A durable outbox for knowledge-index writes the index could not take (it was unreachable).

One item per operation under the tenant's outbox partition, in time order; drained in that order
by the next index write of the tenant (or an explicit drain), so a later delete can never be
overtaken by an older upsert replayed after it.
"""

from __future__ import annotations

from typing import Literal

from boto3.dynamodb.conditions import Key
from pydantic import BaseModel, Field

from ..adapters import dynamodb
from ..adapters.index.base import IndexDocument
from ..ids import new_id
from .keys import outbox_pk

Operation = Literal["upsert", "delete", "delete_namespace"]


class PendingIndexWrite(BaseModel):
    op: Operation
    document: IndexDocument | None = None
    doc_ids: list[str] = Field(default_factory=list)
    namespace: str | None = None


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
