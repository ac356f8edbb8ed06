"""Every route of the API, once: what to send and how to read the answer.

Each function returns a `Call`; the sync and the async client turn the same functions into
methods, so both have the same names, arguments, types and docs. Bodies are sent as given
(None values left out) and validated by the service only, so every refusal comes back the same
way: an `InvalidRequestError` naming the field at fault.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter

from ..models.api.config import StoredConfig
from ..models.api.curation import JobView
from ..models.api.entities import Entity, EntityList, EntityView, Relationship
from ..models.api.knowledge import Insight, InsightList, SaveResult
from ..models.api.memories import Memory, MemoryHistory, MemoryList
from ..models.api.profile import UserProfile
from ..models.api.sessions import SessionContext
from ..models.api.transcripts import TranscriptStatus
from ..models.api.users import UserPage
from ..models.config import TenantConfig
from ..models.context import ContextResponse
from ..models.curation import JobAccepted, Operation
from ..models.entities import EntityType, EventIn, RelationshipIn
from ..models.export import UserExport
from ..models.knowledge import ImportItem, ImportResult
from ..models.memories import Polarity
from ..models.search import SearchResponse, StoreName
from ..models.tools import ToolList, ToolResult
from ..models.transcripts import Message, MetadataValue, TranscriptAccepted
from ..models.usage import UsageReport

T = TypeVar("T")
Json = Any


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Json], T]
    params: Mapping[str, Any] | None = None
    body: Json = None

    def request_args(self) -> dict[str, Any]:
        """Keyword arguments for `httpx.Client.request` (and its async twin)."""
        args: dict[str, Any] = {"method": self.method, "url": self.path}
        params = {k: v for k, v in (self.params or {}).items() if v is not None}
        if params:
            args["params"] = params
        if self.body is not None:
            args["json"] = self.body
        return args


def _path(template: str, *parts: str) -> str:
    # Entity names may hold spaces or other reserved characters: each part is one path segment.
    return template.format(*(quote(part, safe="") for part in parts))


def _fields(**values: Any) -> dict[str, Any]:
    return {name: _json(value) for name, value in values.items() if value is not None}


def _json(value: Any) -> Json:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_json(item) for item in value]
    return value


def _nothing(_: Json) -> None:
    return None


def _scope(namespace: str | None, user_id: str | None) -> dict[str, str | None]:
    return {"namespace": namespace, "user_id": user_id}


# -- transcripts, context, search -------------------------------------------------------------
def post_transcript(
    user_id: str,
    session_id: str,
    messages: Sequence[Message | Mapping[str, Any]],
    *,
    transcript_id: str | None = None,
    metadata: Mapping[str, MetadataValue] | None = None,
    occurred_at: datetime | None = None,
) -> Call[TranscriptAccepted]:
    """Send a conversation to learn from (queued, answered 202).

    Without `transcript_id` the client makes one, so that its retries are recognised as
    duplicates by the service and the transcript is learned exactly once.
    """
    body = _fields(
        transcript_id=transcript_id or f"tr_{uuid.uuid4().hex}",
        user_id=user_id,
        session_id=session_id,
        messages=messages,
        metadata=metadata,
        occurred_at=occurred_at,
    )
    return Call("POST", "/v1/transcripts", TranscriptAccepted.model_validate, body=body)


def get_transcript(transcript_id: str) -> Call[TranscriptStatus]:
    """Status (queued / processing / done / failed), operations applied, tokens."""
    return Call("GET", _path("/v1/transcripts/{}", transcript_id), TranscriptStatus.model_validate)


def get_context(
    user_id: str,
    *,
    session_id: str | None = None,
    query: str | None = None,
    max_tokens: int | None = None,
    min_score: float | None = None,
) -> Call[ContextResponse]:
    """The XML block for the system prompt (`.xml`), and the same data as JSON; entities and
    knowledge scoring below `min_score` stay out (default: the service's)."""
    params = {
        "user_id": user_id,
        "session_id": session_id,
        "query": query,
        "max_tokens": max_tokens,
        "min_score": min_score,
    }
    return Call("GET", "/v1/context", ContextResponse.model_validate, params=params)


def search(
    query: str,
    *,
    user_id: str | None = None,
    namespace: str | None = None,
    stores: Sequence[StoreName] | None = None,
    limit: int | None = None,
    min_score: float | None = None,
) -> Call[SearchResponse]:
    """Ranked results across memories, entities and knowledge, with calibrated scores (one scale
    for every store) and provenance; results below `min_score` are left out (default: the service's)."""
    body = _fields(
        query=query, user_id=user_id, namespace=namespace, stores=stores, limit=limit, min_score=min_score
    )
    return Call("POST", "/v1/search", SearchResponse.model_validate, body=body)


# -- users, profile, memories -----------------------------------------------------------------
def list_users(*, after: str | None = None, limit: int | None = None) -> Call[UserPage]:
    """The tenant's user ids, a page at a time (pass `next_token` as `after`)."""
    return Call("GET", "/v1/users", UserPage.model_validate, params={"after": after, "limit": limit})


def get_profile(user_id: str) -> Call[UserProfile]:
    return Call("GET", _path("/v1/users/{}/profile", user_id), UserProfile.model_validate)


def update_profile(user_id: str, fields: Mapping[str, Any]) -> Call[UserProfile]:
    """Set profile fields; a None value removes the field."""
    body = {"fields": _json(fields)}
    return Call("PATCH", _path("/v1/users/{}/profile", user_id), UserProfile.model_validate, body=body)


def list_memories(user_id: str) -> Call[MemoryList]:
    return Call("GET", _path("/v1/users/{}/memories", user_id), MemoryList.model_validate)


def create_memory(
    user_id: str,
    layer: str,
    content: str,
    *,
    category: str | None = None,
    polarity: Polarity | None = None,
) -> Call[Memory]:
    """Add a memory in a layer: policies, profile, knowledge or feedback."""
    body = _fields(layer=layer, content=content, category=category, polarity=polarity)
    return Call("POST", _path("/v1/users/{}/memories", user_id), Memory.model_validate, body=body)


def update_memory(
    user_id: str,
    memory_id: str,
    *,
    content: str | None = None,
    layer: str | None = None,
    category: str | None = None,
    polarity: Polarity | None = None,
) -> Call[Memory]:
    """A new version of the memory; the old value goes to its history."""
    body = _fields(content=content, layer=layer, category=category, polarity=polarity)
    path = _path("/v1/users/{}/memories/{}", user_id, memory_id)
    return Call("PATCH", path, Memory.model_validate, body=body)


def delete_memory(user_id: str, memory_id: str) -> Call[None]:
    return Call("DELETE", _path("/v1/users/{}/memories/{}", user_id, memory_id), _nothing)


def memory_history(user_id: str, memory_id: str) -> Call[MemoryHistory]:
    """Every version with its validity window and provenance."""
    path = _path("/v1/users/{}/memories/{}/history", user_id, memory_id)
    return Call("GET", path, MemoryHistory.model_validate)


def export_user(user_id: str) -> Call[UserExport]:
    """Everything held about the user."""
    return Call("GET", _path("/v1/users/{}/export", user_id), UserExport.model_validate)


def forget_user(user_id: str) -> Call[None]:
    """Remove the user everywhere (404 when nothing is held about them)."""
    return Call("DELETE", _path("/v1/users/{}", user_id), _nothing)


def get_session_context(session_id: str) -> Call[SessionContext]:
    return Call("GET", _path("/v1/sessions/{}/context", session_id), SessionContext.model_validate)


# -- configuration ----------------------------------------------------------------------------
def get_config() -> Call[StoredConfig]:
    return Call("GET", "/v1/config", StoredConfig.model_validate)


def put_config(config: TenantConfig | Mapping[str, Any]) -> Call[StoredConfig]:
    """Replace the tenant's configuration (validated, versioned); 409 if it changed meanwhile."""
    return Call("PUT", "/v1/config", StoredConfig.model_validate, body=_json(config))


# -- usage ------------------------------------------------------------------------------------
def get_usage(from_: date | str | None = None, to: date | str | None = None) -> Call[UsageReport]:
    """Usage per day (UTC) from `from_` to `to` (default: the last 30 days), its estimated cost,
    and the limits in force for the tenant."""
    params = {"from": str(from_) if from_ else None, "to": str(to) if to else None}
    return Call("GET", "/v1/usage", UsageReport.model_validate, params=params)


# -- entities ---------------------------------------------------------------------------------
def list_entities(*, namespace: str | None = None, user_id: str | None = None) -> Call[EntityList]:
    """Entities of a namespace (default: the configured one; `user` needs `user_id`)."""
    return Call("GET", "/v1/entities", EntityList.model_validate, params=_scope(namespace, user_id))


def search_entities(
    query: str, *, limit: int | None = None, namespace: str | None = None, user_id: str | None = None
) -> Call[EntityList]:
    params = {"query": query, "limit": limit, **_scope(namespace, user_id)}
    return Call("GET", "/v1/entities/search", EntityList.model_validate, params=params)


def upsert_entity(
    name: str,
    *,
    entity_type: EntityType | None = None,
    aliases: Sequence[str] | None = None,
    description: str | None = None,
    properties: Mapping[str, str] | None = None,
    namespace: str | None = None,
    user_id: str | None = None,
) -> Call[Entity]:
    """Create an entity, or merge into the one that has this name or alias."""
    body = _fields(
        name=name,
        entity_type=entity_type,
        aliases=aliases,
        description=description,
        properties=properties,
        namespace=namespace,
        user_id=user_id,
    )
    return Call("POST", "/v1/entities", Entity.model_validate, body=body)


def get_entity(entity: str, *, namespace: str | None = None, user_id: str | None = None) -> Call[EntityView]:
    """The entity (by id, name or alias) with its relationships from both ends."""
    path = _path("/v1/entities/{}", entity)
    return Call("GET", path, EntityView.model_validate, params=_scope(namespace, user_id))


def delete_entity(entity: str, *, namespace: str | None = None, user_id: str | None = None) -> Call[None]:
    return Call("DELETE", _path("/v1/entities/{}", entity), _nothing, params=_scope(namespace, user_id))


def add_facts(
    entity: str,
    facts: Sequence[str],
    *,
    supersedes: Sequence[str] | None = None,
    namespace: str | None = None,
    user_id: str | None = None,
) -> Call[Entity]:
    """Add facts; the facts named in `supersedes` are kept with `valid_to` and `superseded_by`."""
    body = _fields(facts=facts, supersedes=supersedes)
    path = _path("/v1/entities/{}/facts", entity)
    return Call("POST", path, Entity.model_validate, params=_scope(namespace, user_id), body=body)


def forget_fact(
    entity: str, fact_id: str, *, namespace: str | None = None, user_id: str | None = None
) -> Call[Entity]:
    path = _path("/v1/entities/{}/facts/{}", entity, fact_id)
    return Call("DELETE", path, Entity.model_validate, params=_scope(namespace, user_id))


def add_events(
    entity: str,
    events: Sequence[EventIn | Mapping[str, Any]],
    *,
    namespace: str | None = None,
    user_id: str | None = None,
) -> Call[Entity]:
    """Dated events: `{content, date_text?, date?}` each."""
    path = _path("/v1/entities/{}/events", entity)
    body = _fields(events=events)
    return Call("POST", path, Entity.model_validate, params=_scope(namespace, user_id), body=body)


_relationships = TypeAdapter(list[Relationship])


def add_relationships(
    entity: str,
    relationships: Sequence[RelationshipIn | Mapping[str, Any]],
    *,
    namespace: str | None = None,
    user_id: str | None = None,
) -> Call[list[Relationship]]:
    """Typed edges `{relation, target, description?}`; a new target entity is created."""
    path = _path("/v1/entities/{}/relationships", entity)
    body = _fields(relationships=relationships)
    return Call("POST", path, _relationships.validate_python, params=_scope(namespace, user_id), body=body)


# -- learned knowledge ------------------------------------------------------------------------
def _insight(
    title: str,
    content: str,
    context: str | None,
    tags: Sequence[str] | None,
    source: str | None,
    namespace: str | None,
    user_id: str | None,
) -> dict[str, Any]:
    return _fields(
        title=title,
        content=content,
        context=context,
        tags=tags,
        source=source,
        namespace=namespace,
        user_id=user_id,
    )


def save_knowledge(
    title: str,
    content: str,
    *,
    context: str | None = None,
    tags: Sequence[str] | None = None,
    source: str | None = None,
    namespace: str | None = None,
    user_id: str | None = None,
) -> Call[SaveResult]:
    """Save an insight; a near-duplicate updates the existing one (`deduplicated`)."""
    body = _insight(title, content, context, tags, source, namespace, user_id)
    return Call("POST", "/v1/knowledge", SaveResult.model_validate, body=body)


def list_knowledge(*, namespace: str | None = None, user_id: str | None = None) -> Call[InsightList]:
    """Active insights of a namespace."""
    return Call("GET", "/v1/knowledge", InsightList.model_validate, params=_scope(namespace, user_id))


def import_knowledge(items: Sequence[ImportItem | Mapping[str, Any]]) -> Call[ImportResult]:
    """Up to 100 items `{item_id, title, content, ...}`, stored verbatim, idempotent per item_id."""
    return Call("POST", "/v1/knowledge/import", ImportResult.model_validate, body=_fields(items=items))


def propose_knowledge(
    title: str,
    content: str,
    *,
    context: str | None = None,
    tags: Sequence[str] | None = None,
    source: str | None = None,
    namespace: str | None = None,
    user_id: str | None = None,
) -> Call[Insight]:
    """A pending insight: invisible to search and context until approved."""
    body = _insight(title, content, context, tags, source, namespace, user_id)
    return Call("POST", "/v1/knowledge/proposals", Insight.model_validate, body=body)


def list_proposals(*, namespace: str | None = None, user_id: str | None = None) -> Call[InsightList]:
    """Pending proposals, oldest first."""
    params = _scope(namespace, user_id)
    return Call("GET", "/v1/knowledge/proposals", InsightList.model_validate, params=params)


def approve_proposal(
    insight_id: str,
    *,
    reviewer: str | None = None,
    namespace: str | None = None,
    user_id: str | None = None,
) -> Call[Insight]:
    """Make a proposal searchable; 409 if it was already reviewed."""
    path = _path("/v1/knowledge/proposals/{}/approve", insight_id)
    body = _fields(reviewer=reviewer)
    return Call("POST", path, Insight.model_validate, params=_scope(namespace, user_id), body=body)


def reject_proposal(
    insight_id: str, reason: str, *, namespace: str | None = None, user_id: str | None = None
) -> Call[Insight]:
    """Reject a proposal; the reason is kept for audit. 409 if it was already reviewed."""
    path = _path("/v1/knowledge/proposals/{}/reject", insight_id)
    body = _fields(reason=reason)
    return Call("POST", path, Insight.model_validate, params=_scope(namespace, user_id), body=body)


# -- agent tools ------------------------------------------------------------------------------
def list_tools() -> Call[ToolList]:
    """OpenAI function-calling definitions of the tools the tenant's configuration enables."""
    return Call("GET", "/v1/tools", ToolList.model_validate)


def call_tool(
    name: str,
    arguments: Mapping[str, Any] | str | None = None,
    *,
    user_id: str,
    session_id: str | None = None,
) -> Call[ToolResult]:
    """Execute one tool call for a user; `arguments` may be the JSON string a model returned."""
    body = _fields(name=name, arguments=arguments, user_id=user_id, session_id=session_id)
    return Call("POST", "/v1/tools/call", ToolResult.model_validate, body=body)


# -- curation ---------------------------------------------------------------------------------
def start_curation(
    *,
    user_id: str | None = None,
    namespace: str | None = None,
    dry_run: bool = False,
    operations: Sequence[Operation] | None = None,
) -> Call[JobAccepted]:
    """Curate one user, one namespace, or (neither given) the whole tenant; answered 202."""
    body = _fields(user_id=user_id, namespace=namespace, dry_run=dry_run, operations=operations)
    return Call("POST", "/v1/curate", JobAccepted.model_validate, body=body)


def get_curation(job_id: str, *, after: str | None = None, limit: int | None = None) -> Call[JobView]:
    """The job's progress and a page of its changes (pass `next_token` as `after`)."""
    params = {"after": after, "limit": limit}
    return Call("GET", _path("/v1/curate/{}", job_id), JobView.model_validate, params=params)


def undo_curation(job_id: str) -> Call[JobAccepted]:
    """Undo a finished job (a new job); 409 for a dry run, an unfinished job or an undo."""
    return Call("POST", _path("/v1/curate/{}/undo", job_id), JobAccepted.model_validate)


def openapi() -> Call[dict[str, Any]]:
    """The service's OpenAPI document."""
    return Call("GET", "/v1/openapi.json", dict)
