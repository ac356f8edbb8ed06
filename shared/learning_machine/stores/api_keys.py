"""API keys: random, shown once, stored only as a SHA-256 hash, mapped to one tenant."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ..adapters import dynamodb
from ..models.common import utc_now

KEY_PREFIX = "lm_"


class ApiKeyRecord(BaseModel):
    key_hash: str
    tenant_id: str
    label: str = ""
    created_at: datetime = Field(default_factory=utc_now)
    revoked: bool = False


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class ApiKeyStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def create(self, tenant_id: str, label: str = "") -> str:
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyRecord(key_hash=hash_key(api_key), tenant_id=tenant_id, label=label)
        dynamodb.table(self._table).put_item(
            Item={**record.model_dump(mode="json")}, ConditionExpression="attribute_not_exists(key_hash)"
        )
        return api_key

    def tenant_for(self, api_key: str) -> str | None:
        if not api_key.startswith(KEY_PREFIX):
            return None
        raw = dynamodb.table(self._table).get_item(Key={"key_hash": hash_key(api_key)}).get("Item")
        if not raw or raw.get("revoked"):
            return None
        return str(raw["tenant_id"])

    def revoke(self, api_key: str) -> bool:
        try:
            dynamodb.table(self._table).update_item(
                Key={"key_hash": hash_key(api_key)},
                UpdateExpression="SET revoked = :t",
                ConditionExpression="attribute_exists(key_hash)",
                ExpressionAttributeValues={":t": True},
            )
            return True
        except dynamodb.client().exceptions.ConditionalCheckFailedException:
            return False

    def active_tenants(self) -> list[str]:
        """Tenants with an active key (a scan: the table holds one small item per key)."""
        tenants: set[str] = set()
        table = dynamodb.table(self._table)
        kwargs: dict[str, Any] = {"ProjectionExpression": "tenant_id, revoked"}
        while True:
            page = table.scan(**kwargs)
            tenants |= {str(i["tenant_id"]) for i in page.get("Items", []) if not i.get("revoked")}
            if "LastEvaluatedKey" not in page:
                return sorted(tenants)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
