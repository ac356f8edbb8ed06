"""The Lambda TOKEN authorizer's logic: bearer API key -> tenant, as an IAM policy with context."""

from __future__ import annotations

import hashlib
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
)

from ..stores.api_keys import ApiKeyStore

TENANT_CONTEXT_KEY = "tenant_id"


USAGE_KEY_PREFIX = "lm-usage-"


def usage_key_for(tenant: str) -> str:
    """The value of the tenant's API Gateway API key, which meters its requests in a usage plan.

    Not a secret (the bearer key authenticates; this only names the tenant's throttle bucket), so
    it is derived from the tenant: the authorizer needs no lookup, and `lm keys create` / `lm limits
    set` create the same key in API Gateway (API Gateway wants at least 20 characters)."""
    return USAGE_KEY_PREFIX + hashlib.sha256(tenant.encode()).hexdigest()[:32]


class Unauthorized(Exception):
    """API Gateway answers 401 when a TOKEN authorizer raises with exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authorize(event: APIGatewayAuthorizerTokenEvent, keys: ApiKeyStore) -> dict[str, Any]:
    token = bearer_token(event.authorization_token)
    tenant = keys.tenant_for(token) if token else None
    if tenant is None:
        raise Unauthorized()
    arn = event.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=tenant,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={TENANT_CONTEXT_KEY: tenant},
        # With the API's key source AUTHORIZER, API Gateway throttles by this tenant's usage plan.
        usage_identifier_key=usage_key_for(tenant),
    )
    # Allow every route of this API: the policy is cached per token (ReauthorizeEvery), and the
    # tenant in the context scopes what each route may touch.
    policy.allow_all_routes()
    return policy.asdict()
