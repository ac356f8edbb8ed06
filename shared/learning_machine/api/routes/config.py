"""GET/PUT /v1/config: the tenant's versioned configuration document."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ...models.api.config import StoredConfig
from ...models.config import TenantConfig
from .. import deps
from ..tenancy import tenant_of

router = APIGatewayRouter()


@router.get("/v1/config", tags=["config"])
def get_config() -> StoredConfig:
    return StoredConfig.from_stored(deps.services().config_store.get(tenant_of(router), fresh=True))


@router.put("/v1/config", tags=["config"], summary="Replace the configuration (validated, versioned)")
def put_config(config: TenantConfig) -> StoredConfig:
    return StoredConfig.from_stored(deps.services().config_store.put(tenant_of(router), config))
