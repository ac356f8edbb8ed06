"""Learned knowledge in DynamoDB: insights per namespace (active, pending proposals, rejected)."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key

from ..adapters import dynamodb
from ..models.knowledge import Insight
from .changes import WriteConflictError
from .keys import insight_pk
from .registry import Registry


class KnowledgeStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def get(self, tenant: str, namespace: str, insight_id: str) -> Insight | None:
        raw = dynamodb.table(self._table).get_item(
            Key={"pk": insight_pk(tenant, namespace), "sk": insight_id}
        )
        return dynamodb.load(Insight, raw["Item"]) if "Item" in raw else None

    def in_namespace(self, tenant: str, namespace: str, status: str | None = None) -> list[Insight]:
        items = dynamodb.query_all(
            self._table, KeyConditionExpression=Key("pk").eq(insight_pk(tenant, namespace))
        )
        insights = [dynamodb.load(Insight, raw) for raw in items]
        return [i for i in insights if status is None or i.status == status]

    def page(self, tenant: str, namespace: str, after: str, limit: int) -> list[Insight]:
        """Up to `limit` insights whose id follows `after` ("": the first), in id order: one query."""
        items = dynamodb.query_page(self._table, insight_pk(tenant, namespace), after, limit)
        return [dynamodb.load(Insight, raw) for raw in items]

    def save(self, tenant: str, insight: Insight, expected_version: int) -> None:
        put = self.insight_put(tenant, insight, expected_version)["Put"]
        if expected_version == 0:
            Registry(self._table).add_namespace(tenant, insight.namespace)
        if not dynamodb.put_if_version(self._table, put["Item"], expected_version):
            raise WriteConflictError(insight.insight_id)

    def insight_put(self, tenant: str, insight: Insight, expected_version: int) -> dict[str, Any]:
        """The insight as a transaction item, guarded by the version it was computed from."""
        item = dynamodb.item(
            insight_pk(tenant, insight.namespace),
            insight.insight_id,
            insight,
            insight.version,
            state=insight.status,
        )
        return dynamodb.guarded_put(self._table, item, expected_version)

    def insight_delete(self, tenant: str, insight: Insight) -> dict[str, Any]:
        key = {"pk": insight_pk(tenant, insight.namespace), "sk": insight.insight_id}
        return dynamodb.guarded_delete(self._table, key, insight.version)

    def delete(self, tenant: str, namespace: str, insight_id: str) -> None:
        dynamodb.delete_keys(self._table, [{"pk": insight_pk(tenant, namespace), "sk": insight_id}])
