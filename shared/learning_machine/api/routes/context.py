"""GET /v1/context: the block an agent puts in its system prompt."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ...adapters.embeddings.base import EMBEDDING_METER
from ...models.context import ContextResponse
from .. import deps
from ..params import MaxTokens, MinScore, SearchQuery, SessionIdQuery, UserIdQuery
from ..tenancy import tenant_of

router = APIGatewayRouter()
DEGRADED_HEADER = "X-LM-Degraded"


@router.get("/v1/context", tags=["context"], summary="XML block and JSON of what was learned")
def get_context(
    user_id: UserIdQuery,
    session_id: SessionIdQuery = None,
    query: SearchQuery = None,
    max_tokens: MaxTokens = None,
    min_score: MinScore = None,
) -> Response[ContextResponse]:
    tenant = tenant_of(router)
    embedding_start = EMBEDDING_METER.tokens
    context = deps.services().context_service.build(
        tenant, user_id, session_id, query, max_tokens, min_score=min_score
    )
    deps.count_read(tenant, embedding_start)
    # An unreachable index degrades the answer (no entities, no knowledge) instead of failing it:
    # the JSON says so, and so does a header for callers that only read the XML.
    headers = {DEGRADED_HEADER: "knowledge-index"} if context.degraded else {}
    return Response(status_code=200, body=context, content_type="application/json", headers=headers)
