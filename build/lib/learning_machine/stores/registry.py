"""The users and namespaces a tenant has, so curation can walk a whole tenant without a scan.

A user is registered by the extraction that writes their first data (in its transaction) and by
every edit of their memory; a namespace when its first entity or insight is written. Registering
again is a harmless put.
"""

from __future__ import annotations

from boto3.dynamodb.conditions import ConditionBase, Key

from ..adapters import dynamodb
from ..models.common import utc_now
from .keys import namespaces_pk, users_pk

PAGE = 100


class Registry:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def user_item(self, tenant: str, user: str) -> dict[str, str]:
        """The user's entry, for a transaction that writes the user's first data."""
        return {"pk": users_pk(tenant), "sk": user, "seen_at": utc_now().isoformat()}

    def add_namespace(self, tenant: str, namespace: str) -> None:
        dynamodb.table(self._table).put_item(
            Item={"pk": namespaces_pk(tenant), "sk": namespace, "seen_at": utc_now().isoformat()}
        )

    def remove_user(self, tenant: str, user: str) -> None:
        dynamodb.delete_keys(self._table, [{"pk": users_pk(tenant), "sk": user}])

    def remove_namespace(self, tenant: str, namespace: str) -> None:
        dynamodb.delete_keys(self._table, [{"pk": namespaces_pk(tenant), "sk": namespace}])

    def users(self, tenant: str, after: str | None = None, limit: int = PAGE) -> list[str]:
        """One page of user ids in order, strictly after `after` (a resumable walk)."""
        return self._page(users_pk(tenant), after, limit)

    def namespaces(self, tenant: str, after: str | None = None, limit: int = PAGE) -> list[str]:
        return self._page(namespaces_pk(tenant), after, limit)

    def _page(self, pk: str, after: str | None, limit: int) -> list[str]:
        condition: ConditionBase = Key("pk").eq(pk)
        if after:
            condition = condition & Key("sk").gt(after)
        page = dynamodb.table(self._table).query(
            KeyConditionExpression=condition, ProjectionExpression="sk", Limit=limit
        )
        return [str(item["sk"]) for item in page.get("Items", [])]
