"""Tenant configuration: a versioned document, cached per container through Powertools Parameters."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import DynamoDBProvider

from ..adapters import dynamodb
from ..core.errors import ConflictError
from ..models.common import utc_now
from ..models.config import StoredConfig, TenantConfig
from .keys import CONFIG_SK, config_history_pk, config_pk


class ConfigConflictError(ConflictError):
    """The config changed between read and write."""

    argument = ""


class ConfigStore:
    def __init__(self, table_name: str, cache_seconds: int) -> None:
        self._table = table_name
        self._cache_seconds = cache_seconds
        self._provider = DynamoDBProvider(
            table_name=table_name,
            key_attr="pk",
            sort_attr="sk",
            value_attr="doc",
            boto3_client=dynamodb.resource(),
        )

    def get(self, tenant: str, fresh: bool = False) -> StoredConfig:
        values = self._provider.get_multiple(
            config_pk(tenant), max_age=self._cache_seconds, force_fetch=fresh
        )
        raw = (values or {}).get(CONFIG_SK)
        if raw is None:
            return StoredConfig(config=TenantConfig())
        return StoredConfig.model_validate_json(str(raw))

    def put(self, tenant: str, config: TenantConfig) -> StoredConfig:
        """Replace the document; every version is kept under the history partition."""
        current = self.get(tenant, fresh=True)
        stored = StoredConfig(config=config, version=current.version + 1, updated_at=utc_now())
        current_put: dict[str, Any] = {
            "TableName": self._table,
            "Item": dynamodb.item(config_pk(tenant), CONFIG_SK, stored, stored.version),
        }
        if current.version == 0:
            current_put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            current_put["ConditionExpression"] = "version = :v"
            current_put["ExpressionAttributeValues"] = {":v": current.version}
        history_put: dict[str, Any] = {
            "TableName": self._table,
            "Item": dynamodb.item(
                config_history_pk(tenant), f"v#{stored.version:06d}", stored, stored.version
            ),
        }
        items: list[dict[str, Any]] = [{"Put": current_put}, {"Put": history_put}]
        try:
            dynamodb.client().transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except dynamodb.client().exceptions.TransactionCanceledException as error:
            raise ConfigConflictError("the configuration changed meanwhile; read it again") from error
        return stored
