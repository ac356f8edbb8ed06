"""POST /v1/search: ranked results from memories, entities and knowledge, with provenance."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ...adapters.embeddings.base import EMBEDDING_METER
from ...models.search import SearchRequest, SearchResponse
from .. import deps
from ..tenancy import tenant_of

router = APIGatewayRouter()


@router.post("/v1/search", tags=["search"], summary="Search what was learned, across stores")
def search(request: SearchRequest) -> SearchResponse:
    tenant = tenant_of(router)
    embedding_start = EMBEDDING_METER.tokens
    found = deps.services().search_service.search(
        tenant, deps.services().config_store.get(tenant).config, request
    )
    deps.count_read(tenant, embedding_start)
    return found
