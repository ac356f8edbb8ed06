"""Entity memory: list, get, search, create/update, facts, events, relationships, delete."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ...models.api.entities import Entity, EntityList, EntityView, Relationship
from ...models.common import utc_now
from ...models.entities import EntityUpsert, EventsIn, FactsIn, RelationshipsIn
from ...models.provenance import Provenance
from .. import deps
from ..params import EntityRef, FactId, Limit, NamespaceQuery, OwnerQuery, RequiredQuery
from ..scopes import namespace_for
from ..tenancy import tenant_of

router = APIGatewayRouter()


def _scope(namespace: str | None, user_id: str | None, loc: list[str | int] | None = None) -> tuple[str, str]:
    tenant = tenant_of(router)
    configured = deps.services().config_store.get(tenant).config.stores.entity_memory.namespace
    return tenant, namespace_for(namespace, configured, user_id, loc or ["query", "user_id"])


def _api_provenance() -> Provenance:
    return Provenance(source="api")


@router.get("/v1/entities", tags=["entities"])
def list_entities(namespace: NamespaceQuery = None, user_id: OwnerQuery = None) -> EntityList:
    tenant, scope = _scope(namespace, user_id)
    entities = deps.services().entity_memory.in_namespace(tenant, scope)
    return EntityList(namespace=scope, entities=[Entity.from_stored(e) for e in entities])


@router.get("/v1/entities/search", tags=["entities"], summary="Hybrid search over names, aliases and facts")
def search_entities(
    query: RequiredQuery, namespace: NamespaceQuery = None, user_id: OwnerQuery = None, limit: Limit = 10
) -> EntityList:
    tenant, scope = _scope(namespace, user_id)
    found = deps.services().entity_memory.search(tenant, [scope], query, limit)
    return EntityList(namespace=scope, entities=[Entity.from_stored(e) for e in found])


@router.post("/v1/entities", tags=["entities"], summary="Create, or merge into the entity with this name")
def upsert_entity(body: EntityUpsert) -> Entity:
    tenant, scope = _scope(body.namespace, body.user_id, ["body", "user_id"])
    entity = deps.services().entity_memory.upsert(
        tenant,
        scope,
        body.name,
        entity_type=body.entity_type,
        aliases=body.aliases,
        description=body.description,
        properties=body.properties,
    )
    return Entity.from_stored(entity)


@router.get("/v1/entities/<entity>", tags=["entities"])
def get_entity(entity: EntityRef, namespace: NamespaceQuery = None, user_id: OwnerQuery = None) -> EntityView:
    tenant, scope = _scope(namespace, user_id)
    return deps.services().entity_memory.view(tenant, scope, entity)


@router.post(
    "/v1/entities/<entity>/facts", tags=["entities"], summary="Add facts; supersede contradicted ones"
)
def add_facts(
    entity: EntityRef, body: FactsIn, namespace: NamespaceQuery = None, user_id: OwnerQuery = None
) -> Entity:
    tenant, scope = _scope(namespace, user_id)
    updated = deps.services().entity_memory.add_facts(
        tenant, scope, entity, body.facts, _api_provenance(), supersedes=body.supersedes
    )
    return Entity.from_stored(updated)


@router.delete("/v1/entities/<entity>/facts/<fact_id>", tags=["entities"], summary="Forget one fact")
def forget_fact(
    entity: EntityRef, fact_id: FactId, namespace: NamespaceQuery = None, user_id: OwnerQuery = None
) -> Entity:
    tenant, scope = _scope(namespace, user_id)
    return Entity.from_stored(deps.services().entity_memory.forget_fact(tenant, scope, entity, fact_id))


@router.post("/v1/entities/<entity>/events", tags=["entities"], summary="Add dated events")
def add_events(
    entity: EntityRef, body: EventsIn, namespace: NamespaceQuery = None, user_id: OwnerQuery = None
) -> Entity:
    tenant, scope = _scope(namespace, user_id)
    updated = deps.services().entity_memory.add_events(
        tenant, scope, entity, body.events, _api_provenance(), utc_now()
    )
    return Entity.from_stored(updated)


@router.post(
    "/v1/entities/<entity>/relationships", tags=["entities"], summary="Typed edges to other entities"
)
def add_relationships(
    entity: EntityRef, body: RelationshipsIn, namespace: NamespaceQuery = None, user_id: OwnerQuery = None
) -> list[Relationship]:
    tenant, scope = _scope(namespace, user_id)
    memory = deps.services().entity_memory
    edges = [
        memory.relate(tenant, scope, entity, edge.relation, edge.target, _api_provenance(), edge.description)
        for edge in body.relationships
    ]
    return [Relationship.from_stored(edge) for edge in edges]


@router.delete("/v1/entities/<entity>", tags=["entities"], summary="Forget the entity, its facts and edges")
def delete_entity(
    entity: EntityRef, namespace: NamespaceQuery = None, user_id: OwnerQuery = None
) -> Response[None]:
    tenant, scope = _scope(namespace, user_id)
    deps.services().entity_memory.forget(tenant, scope, entity)
    return Response(status_code=HTTPStatus.NO_CONTENT.value)
