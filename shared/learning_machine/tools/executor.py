"""Run one agent tool call for one user of one tenant.

The tenant and the user come from the request, never from the arguments, and namespaces are
resolved from the tenant's store configuration: a tool call can reach exactly what the same
user could reach through the API. Everything written is stamped with provenance source "tool".
Refusals are domain errors that name the part of the call at fault; the route maps them to HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ..core import namespaces
from ..core.errors import ConflictError, InvalidInputError, NotFoundError
from ..core.ranking import rank_memories
from ..models.api import entities as api_entities
from ..models.api import knowledge as api_knowledge
from ..models.api import memories as api_memories
from ..models.common import utc_now
from ..models.config import TenantConfig
from ..models.entities import Entity, EventIn
from ..models.knowledge import Insight, InsightIn
from ..models.memories import Memory
from ..models.memory_edits import MemoryCreate, MemoryPatch
from ..models.provenance import Provenance
from ..models.tools import ToolResult
from ..services.entity_memory import EntityMemory, UnknownEntityError, UnknownFactError
from ..services.learned_knowledge import LearnedKnowledge
from ..services.memory_admin import MemoryAdmin, UnknownMemoryError
from ..stores.entities import NameTakenError
from ..stores.user_memory import UserMemoryStore
from . import definitions as d

EVENTS_IN_RESULT = 5


class UnknownToolError(NotFoundError, LookupError):
    """No such tool, or the tenant's configuration does not enable it (the two look the same)."""

    what, argument = "tool", "name"


class InvalidArgumentsError(InvalidInputError, ValueError):
    """The arguments do not fit the tool; `errors` are pydantic's, located within the arguments."""

    argument = "arguments"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid tool arguments")
        self.errors = errors


class TargetNotFoundError(NotFoundError, LookupError):
    """An argument names a memory, entity, fact or relationship that this user cannot see."""

    def __init__(self, what: str, argument: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what
        self.argument = f"arguments.{argument}"


class ArgumentConflictError(ConflictError, ValueError):
    def __init__(self, message: str, argument: str) -> None:
        super().__init__(message)
        self.argument = f"arguments.{argument}"


@dataclass(frozen=True)
class _Call:
    tenant: str
    config: TenantConfig
    user_id: str


@dataclass
class ToolExecutor:
    """Entity memory and knowledge are built on first use: a memory tool never opens the index."""

    admin: MemoryAdmin
    users: UserMemoryStore
    entity_memory: Callable[[], EntityMemory]
    learned_knowledge: Callable[[], LearnedKnowledge]

    def call(
        self,
        tenant: str,
        config: TenantConfig,
        name: str,
        arguments: dict[str, Any],
        user_id: str,
        session_id: str | None = None,
    ) -> ToolResult:
        """`session_id` is accepted for the agent's convenience; provenance has no session field yet."""
        tool = d.TOOLS.get(name)
        if tool is None or not d.is_enabled(tool, config):
            raise UnknownToolError(name)
        try:
            args = tool.arguments.model_validate(arguments)
        except ValidationError as error:
            raise InvalidArgumentsError(
                [{"loc": e["loc"], "type": e["type"], "msg": e["msg"]} for e in error.errors()]
            ) from error
        run: Callable[[_Call, Any], dict[str, Any]] = getattr(self, f"_{name}")
        return ToolResult(name=name, result=run(_Call(tenant, config, user_id), args))

    # -- user memories ----------------------------------------------------------------------
    def _save_memory(self, call: _Call, args: d.SaveMemory) -> dict[str, Any]:
        if args.layer not in call.config.stores.user_profile.enabled_layers():
            message = f"the {args.layer} layer is turned off for this tenant"
            raise InvalidArgumentsError([{"loc": ("layer",), "type": "layer_disabled", "msg": message}])
        body = MemoryCreate(**args.model_dump())
        memory = self.admin.create_memory(call.tenant, call.user_id, body, source="tool")
        return {"memory": _memory_view(memory)}

    def _update_memory(self, call: _Call, args: d.UpdateMemory) -> dict[str, Any]:
        try:
            memory = self.admin.update_memory(
                call.tenant, call.user_id, args.memory_id, MemoryPatch(content=args.content), source="tool"
            )
        except UnknownMemoryError as error:
            raise TargetNotFoundError("memory", "memory_id") from error
        return {"memory": _memory_view(memory)}

    def _forget_memory(self, call: _Call, args: d.ForgetMemory) -> dict[str, Any]:
        try:
            self.admin.delete_memory(call.tenant, call.user_id, args.memory_id, source="tool")
        except UnknownMemoryError as error:
            raise TargetNotFoundError("memory", "memory_id") from error
        return {"forgotten": args.memory_id}

    def _search_memories(self, call: _Call, args: d.SearchMemories) -> dict[str, Any]:
        memories = self.users.read(call.tenant, call.user_id).memories
        ranked = rank_memories(memories, args.query)[: args.limit]
        return {"memories": [_memory_view(m) for m in ranked]}

    # -- entities ---------------------------------------------------------------------------
    def _entity_namespace(self, call: _Call) -> str:
        return namespaces.resolve(None, call.config.stores.entity_memory.namespace, call.user_id)

    def _remember_entity(self, call: _Call, args: d.RememberEntity) -> dict[str, Any]:
        memory = self.entity_memory()
        namespace = self._entity_namespace(call)
        if args.supersedes:
            # Checked before any write, so a wrong id leaves the entity untouched.
            found = (memory.find(call.tenant, namespace, n) for n in [args.name, *args.aliases])
            existing = next((entity for entity in found if entity is not None), None)
            known = {f.fact_id for f in existing.facts} if existing else set()
            if not set(args.supersedes) <= known:
                raise TargetNotFoundError("fact", "supersedes")
        try:
            entity = memory.upsert(
                call.tenant,
                namespace,
                args.name,
                entity_type=args.entity_type,
                aliases=args.aliases,
                description=args.description,
            )
        except NameTakenError as error:
            raise ArgumentConflictError(str(error), "aliases") from error
        if args.facts or args.supersedes:
            try:
                entity = memory.add_facts(
                    call.tenant, namespace, entity.entity_id, args.facts, _provenance(), args.supersedes
                )
            except UnknownFactError as error:
                raise TargetNotFoundError("fact", "supersedes") from error
        return {"entity": _entity_view(entity)}

    def _record_entity_event(self, call: _Call, args: d.RecordEntityEvent) -> dict[str, Any]:
        event = EventIn(content=args.content, date_text=args.date_text)
        try:
            entity = self.entity_memory().add_events(
                call.tenant, self._entity_namespace(call), args.entity, [event], _provenance(), utc_now()
            )
        except UnknownEntityError as error:
            raise TargetNotFoundError("entity", "entity") from error
        return {"entity": _entity_view(entity)}

    def _link_entities(self, call: _Call, args: d.LinkEntities) -> dict[str, Any]:
        try:
            edge = self.entity_memory().relate(
                call.tenant,
                self._entity_namespace(call),
                args.source,
                args.relation,
                args.target,
                _provenance(),
                args.description,
            )
        except UnknownEntityError as error:
            raise TargetNotFoundError("entity", "source") from error
        view = api_entities.Relationship.from_stored(edge)
        return {"relationship": view.model_dump(mode="json", exclude={"provenance"})}

    def _search_entities(self, call: _Call, args: d.SearchEntities) -> dict[str, Any]:
        scope = namespaces.search_scope(call.config.stores.entity_memory.namespace, call.user_id)
        found = self.entity_memory().search(call.tenant, scope, args.query, args.limit)
        return {"entities": [_entity_view(e) for e in found]}

    def _forget_entity_fact(self, call: _Call, args: d.ForgetEntityFact) -> dict[str, Any]:
        try:
            entity = self.entity_memory().forget_fact(
                call.tenant, self._entity_namespace(call), args.entity, args.fact_id
            )
        except UnknownEntityError as error:
            raise TargetNotFoundError("entity", "entity") from error
        except UnknownFactError as error:
            raise TargetNotFoundError("fact", "fact_id") from error
        return {"entity": _entity_view(entity)}

    def _forget_relationship(self, call: _Call, args: d.ForgetRelationship) -> dict[str, Any]:
        try:
            removed = self.entity_memory().forget_relationship(
                call.tenant, self._entity_namespace(call), args.source, args.relation, args.target
            )
        except UnknownEntityError as error:
            missing = "source" if error.args[0] == args.source else "target"
            raise TargetNotFoundError("entity", missing) from error
        if not removed:
            raise TargetNotFoundError("relationship", "relation")
        return {"forgotten": {"source": args.source, "relation": args.relation, "target": args.target}}

    def _forget_entity(self, call: _Call, args: d.ForgetEntity) -> dict[str, Any]:
        try:
            self.entity_memory().forget(call.tenant, self._entity_namespace(call), args.entity)
        except UnknownEntityError as error:
            raise TargetNotFoundError("entity", "entity") from error
        return {"forgotten": args.entity}

    # -- learned knowledge ------------------------------------------------------------------
    def _knowledge_namespace(self, call: _Call) -> str:
        return namespaces.resolve(None, call.config.stores.learned_knowledge.namespace, call.user_id)

    def _save_knowledge(self, call: _Call, args: d.SaveKnowledge) -> dict[str, Any]:
        saved = self.learned_knowledge().save(
            call.tenant,
            self._knowledge_namespace(call),
            InsightIn(**args.model_dump()),
            _provenance(),
            call.config.stores.learned_knowledge.duplicate_similarity,
        )
        return {
            "insight": _insight_view(saved.insight),
            "deduplicated": saved.deduplicated,
            "similar_to": saved.similar_to,
        }

    def _propose_knowledge(self, call: _Call, args: d.ProposeKnowledge) -> dict[str, Any]:
        insight = self.learned_knowledge().propose(
            call.tenant, self._knowledge_namespace(call), InsightIn(**args.model_dump()), _provenance()
        )
        return {
            "insight": _insight_view(insight),
            "note": "Stored as pending: it becomes searchable only after a human approves it.",
        }

    def _search_knowledge(self, call: _Call, args: d.SearchKnowledge) -> dict[str, Any]:
        scope = namespaces.search_scope(call.config.stores.learned_knowledge.namespace, call.user_id)
        found = self.learned_knowledge().search(call.tenant, scope, args.query, args.limit)
        return {"insights": [_insight_view(i) for i in found]}


def _provenance() -> Provenance:
    return Provenance(source="tool")


# Results go back into the model's context: the fields it can act on, nothing more, taken from
# the API's view of each stored model (never from the stored model itself).
def _memory_view(memory: Memory) -> dict[str, Any]:
    view = api_memories.Memory.from_stored(memory)
    return _dump(view, {"memory_id", "layer", "category", "content", "polarity"})


def _entity_view(entity: Entity) -> dict[str, Any]:
    view = api_entities.Entity.from_stored(entity)
    result = _dump(view, {"entity_id", "name", "entity_type", "aliases", "description"})
    result["facts"] = [{"fact_id": f.fact_id, "content": f.content} for f in view.current_facts()]
    result["events"] = [
        _dump(e, {"event_id", "content", "date_text", "date"}) for e in view.events[-EVENTS_IN_RESULT:]
    ]
    return result


def _insight_view(insight: Insight) -> dict[str, Any]:
    view = api_knowledge.Insight.from_stored(insight)
    return _dump(view, {"insight_id", "title", "content", "context", "tags", "source", "status"})


def _dump(model: BaseModel, fields: set[str]) -> dict[str, Any]:
    return model.model_dump(mode="json", include=fields, exclude_none=True)
