"""The tenant of a request comes from the authorizer's context, never from the request itself."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from .auth import TENANT_CONTEXT_KEY
from .errors import ApiError


def tenant_of(router: APIGatewayRouter) -> str:
    authorizer = router.current_event.request_context.authorizer
    tenant = authorizer.raw_event.get(TENANT_CONTEXT_KEY) if authorizer else None
    if not tenant:
        # Behind API Gateway this cannot happen: the authorizer runs before every route.
        raise ApiError(HTTPStatus.UNAUTHORIZED, "no tenant in the authorizer context")
    return str(tenant)
