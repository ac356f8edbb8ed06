"""Entity memory in DynamoDB: entities per namespace, a name/alias index, edges under both ends.

Names are unique per namespace, case-insensitively and through aliases: an entity and the name
items pointing at it are written in one transaction, each name conditional on being free or
already ours, so two writers can never create "Acme" twice.
"""

from __future__ import annotations

import re
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from ..adapters import dynamodb
from ..core.errors import ConflictError
from ..models.entities import Entity, Relationship
from .changes import WriteConflictError
from .keys import edge_pk, entity_name_pk, entity_pk
from .registry import Registry


def normalize_name(name: str) -> str:
    """'ACME  Corp.' and 'acme corp' are the same name."""
    return " ".join(re.findall(r"[a-z0-9]+", name.lower()))


class NameTakenError(ConflictError):
    argument = "aliases"

    def __init__(self, name: str, entity_id: str) -> None:
        super().__init__(f"the name {name!r} belongs to another entity")
        self.name = name
        self.entity_id = entity_id


class EntityStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def in_namespace(self, tenant: str, namespace: str) -> list[Entity]:
        items = dynamodb.query_all(
            self._table, KeyConditionExpression=Key("pk").eq(entity_pk(tenant, namespace))
        )
        return [dynamodb.load(Entity, raw) for raw in items]

    def page(self, tenant: str, namespace: str, after: str, limit: int) -> list[Entity]:
        """Up to `limit` entities whose id follows `after` ("": the first), in id order: one query."""
        items = dynamodb.query_page(self._table, entity_pk(tenant, namespace), after, limit)
        return [dynamodb.load(Entity, raw) for raw in items]

    def get(self, tenant: str, namespace: str, entity_id: str) -> Entity | None:
        raw = dynamodb.table(self._table).get_item(Key={"pk": entity_pk(tenant, namespace), "sk": entity_id})
        return dynamodb.load(Entity, raw["Item"]) if "Item" in raw else None

    def find(self, tenant: str, namespace: str, name: str) -> Entity | None:
        """By name, alias (any case) or id."""
        raw = dynamodb.table(self._table).get_item(
            Key={"pk": entity_name_pk(tenant, namespace), "sk": normalize_name(name) or name}
        )
        if "Item" in raw:
            return self.get(tenant, namespace, str(raw["Item"]["entity_id"]))
        return self.get(tenant, namespace, name)

    def save(self, tenant: str, entity: Entity, expected_version: int) -> None:
        """Write the entity (new when expected_version is 0) and claim all of its names."""
        items = [self.entity_put(tenant, entity, expected_version), *self.name_puts(tenant, entity)]
        if expected_version == 0:
            Registry(self._table).add_namespace(tenant, entity.namespace)
        try:
            dynamodb.client().transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as error:
            if not dynamodb.is_conditional_failure(error):
                raise
            reasons = error.response.get("CancellationReasons", [])
            for index, reason in enumerate(reasons[1:], start=1):
                if reason.get("Code") == "ConditionalCheckFailed":
                    name = items[index]["Put"]["Item"]["sk"]
                    owner = self.find(tenant, entity.namespace, name)
                    raise NameTakenError(name, owner.entity_id if owner else "") from error
            raise WriteConflictError(entity.entity_id) from error

    def entity_put(self, tenant: str, entity: Entity, expected_version: int) -> dict[str, Any]:
        """The entity as a transaction item, guarded by the version it was computed from."""
        item = dynamodb.item(entity_pk(tenant, entity.namespace), entity.entity_id, entity, entity.version)
        return dynamodb.guarded_put(self._table, item, expected_version)

    def entity_delete(self, tenant: str, entity: Entity) -> dict[str, Any]:
        key = {"pk": entity_pk(tenant, entity.namespace), "sk": entity.entity_id}
        return dynamodb.guarded_delete(self._table, key, entity.version)

    def name_puts(
        self, tenant: str, entity: Entity, taking_over_from: str | None = None
    ) -> list[dict[str, Any]]:
        """Claims of the entity's names: each free or already ours (or, in a merge, the merged one's)."""
        owners = {":id": entity.entity_id, **({":from": taking_over_from} if taking_over_from else {})}
        condition = "attribute_not_exists(pk) OR entity_id = :id" + (
            " OR entity_id = :from" if taking_over_from else ""
        )
        names = {normalize_name(n) for n in entity.names()} - {""}
        return [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": entity_name_pk(tenant, entity.namespace),
                        "sk": name,
                        "entity_id": entity.entity_id,
                    },
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": owners,
                }
            }
            for name in sorted(names)
        ]

    def release_names(self, tenant: str, namespace: str, names: list[str]) -> None:
        keys = [{"pk": entity_name_pk(tenant, namespace), "sk": normalize_name(n)} for n in names]
        dynamodb.delete_keys(self._table, [k for k in keys if k["sk"]])

    def relationships(self, tenant: str, namespace: str, entity_id: str) -> list[Relationship]:
        items = dynamodb.query_all(
            self._table, KeyConditionExpression=Key("pk").eq(edge_pk(tenant, namespace, entity_id))
        )
        return [dynamodb.load(Relationship, raw) for raw in items]

    def relate(self, tenant: str, namespace: str, edge: Relationship) -> None:
        """Store the edge under both ends, so either end lists it."""
        ends = [
            (edge.source_id, f"out#{edge.relation}#{edge.target_id}"),
            (edge.target_id, f"in#{edge.relation}#{edge.source_id}"),
        ]
        with dynamodb.table(self._table).batch_writer() as batch:
            for entity_id, sk in ends:
                batch.put_item(Item=dynamodb.item(edge_pk(tenant, namespace, entity_id), sk, edge, 1))

    def unrelate(self, tenant: str, namespace: str, edge: Relationship) -> None:
        dynamodb.delete_keys(
            self._table,
            [
                {
                    "pk": edge_pk(tenant, namespace, edge.source_id),
                    "sk": f"out#{edge.relation}#{edge.target_id}",
                },
                {
                    "pk": edge_pk(tenant, namespace, edge.target_id),
                    "sk": f"in#{edge.relation}#{edge.source_id}",
                },
            ],
        )

    def delete(self, tenant: str, entity: Entity) -> None:
        """The entity, its names, and every edge touching it (at both ends)."""
        for edge in self.relationships(tenant, entity.namespace, entity.entity_id):
            self.unrelate(tenant, entity.namespace, edge)
        self.release_names(tenant, entity.namespace, entity.names())
        dynamodb.delete_keys(
            self._table, [{"pk": entity_pk(tenant, entity.namespace), "sk": entity.entity_id}]
        )

    def delete_namespace(self, tenant: str, namespace: str) -> int:
        removed = 0
        for entity in self.in_namespace(tenant, namespace):
            self.delete(tenant, entity)
            removed += 1
        return removed
