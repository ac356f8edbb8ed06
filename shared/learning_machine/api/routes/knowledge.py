"""Learned knowledge: save, bulk import, list, and proposals that a human approves or rejects."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, StringConstraints

from ...models.api.knowledge import Insight, InsightList, SaveResult
from ...models.config import LearnedKnowledgeStoreConfig
from ...models.knowledge import ImportRequest, ImportResult, InsightIn, RejectIn
from ...models.provenance import Provenance
from .. import deps
from ..params import InsightId, NamespaceQuery, OwnerQuery
from ..scopes import namespace_for
from ..tenancy import tenant_of

router = APIGatewayRouter()


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewer: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None
    ) = None


def _store(tenant: str) -> LearnedKnowledgeStoreConfig:
    return deps.services().config_store.get(tenant).config.stores.learned_knowledge


def _scope(namespace: str | None, user_id: str | None, loc: list[str | int]) -> tuple[str, str, float]:
    tenant = tenant_of(router)
    store = _store(tenant)
    return tenant, namespace_for(namespace, store.namespace, user_id, loc), store.duplicate_similarity


@router.post("/v1/knowledge", tags=["knowledge"], summary="Save an insight (a near-duplicate updates it)")
def save_insight(body: InsightIn) -> Response[SaveResult]:
    tenant, scope, similarity = _scope(body.namespace, body.user_id, ["body", "user_id"])
    saved = deps.services().learned_knowledge.save(tenant, scope, body, Provenance(source="api"), similarity)
    result = SaveResult(
        insight=Insight.from_stored(saved.insight),
        deduplicated=saved.deduplicated,
        similar_to=saved.similar_to,
    )
    status = HTTPStatus.OK if result.deduplicated else HTTPStatus.CREATED
    return Response(status_code=status.value, body=result, content_type="application/json")


@router.post(
    "/v1/knowledge/import", tags=["knowledge"], summary="Bulk import, verbatim, idempotent per item_id"
)
def import_insights(body: ImportRequest) -> ImportResult:
    tenant = tenant_of(router)
    configured = _store(tenant).namespace
    items = [
        (namespace_for(item.namespace, configured, item.user_id, ["body", "items", i, "user_id"]), item)
        for i, item in enumerate(body.items)
    ]
    return deps.services().learned_knowledge.import_items(tenant, items, Provenance(source="import"))


@router.get("/v1/knowledge", tags=["knowledge"], summary="Active insights of a namespace")
def list_insights(namespace: NamespaceQuery = None, user_id: OwnerQuery = None) -> InsightList:
    tenant, scope, _ = _scope(namespace, user_id, ["query", "user_id"])
    insights = deps.services().learned_knowledge.active(tenant, scope)
    return InsightList(insights=[Insight.from_stored(i) for i in insights])


@router.post("/v1/knowledge/proposals", tags=["knowledge"], summary="Propose an insight for human review")
def propose_insight(body: InsightIn) -> Response[Insight]:
    tenant, scope, _ = _scope(body.namespace, body.user_id, ["body", "user_id"])
    proposed = deps.services().learned_knowledge.propose(tenant, scope, body, Provenance(source="api"))
    insight = Insight.from_stored(proposed)
    return Response(status_code=HTTPStatus.CREATED.value, body=insight, content_type="application/json")


@router.get("/v1/knowledge/proposals", tags=["knowledge"], summary="Pending proposals, oldest first")
def list_proposals(namespace: NamespaceQuery = None, user_id: OwnerQuery = None) -> InsightList:
    tenant, scope, _ = _scope(namespace, user_id, ["query", "user_id"])
    proposals = deps.services().learned_knowledge.proposals(tenant, scope)
    return InsightList(insights=[Insight.from_stored(i) for i in proposals])


@router.post("/v1/knowledge/proposals/<insight_id>/approve", tags=["knowledge"])
def approve_proposal(
    insight_id: InsightId, body: ApproveIn, namespace: NamespaceQuery = None, user_id: OwnerQuery = None
) -> Insight:
    tenant, scope, _ = _scope(namespace, user_id, ["query", "user_id"])
    reviewer = body.reviewer or f"tenant:{tenant}"
    return Insight.from_stored(deps.services().learned_knowledge.approve(tenant, scope, insight_id, reviewer))


@router.post(
    "/v1/knowledge/proposals/<insight_id>/reject", tags=["knowledge"], summary="Reject; the reason is kept"
)
def reject_proposal(
    insight_id: InsightId, body: RejectIn, namespace: NamespaceQuery = None, user_id: OwnerQuery = None
) -> Insight:
    tenant, scope, _ = _scope(namespace, user_id, ["query", "user_id"])
    rejected = deps.services().learned_knowledge.reject(
        tenant, scope, insight_id, f"tenant:{tenant}", body.reason
    )
    return Insight.from_stored(rejected)
