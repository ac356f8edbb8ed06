"""Idempotency of extraction: one key per (tenant, transcript), the same in `extract` and in
forget-user, which must find and delete the records a user's transcripts left behind."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

from ..settings import Settings

# A fixed prefix instead of Powertools' default (function name + module + qualname): the key must
# not depend on how or where the handler module was loaded.
KEY_PREFIX = "learn"
EVENT_KEY = "[tenant_id, transcript_id]"


def idempotency_config(settings: Settings) -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath=EVENT_KEY,
        expires_after_seconds=settings.idempotency_ttl_seconds,
        raise_on_no_idempotency_key=True,
    )


def persistence_layer(settings: Settings) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=settings.idempotency_table)


def record_keys(settings: Settings, tenant: str, transcript_ids: list[str]) -> list[str]:
    """The idempotency record ids the extract function wrote for these transcripts.

    Computed by Powertools' own persistence layer (the hashing is its business, not ours); a unit
    test checks them against the records the real handler writes.
    """
    layer = persistence_layer(settings)
    layer.configure(idempotency_config(settings), key_prefix=KEY_PREFIX)
    keys = [
        layer._get_hashed_idempotency_key({"tenant_id": tenant, "transcript_id": transcript_id})
        for transcript_id in transcript_ids
    ]
    return [key for key in keys if key]
