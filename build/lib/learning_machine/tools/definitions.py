"""The agent tools: one strict argument model each, and the definitions the service publishes.

The JSON schema a model sees is generated from these models, so the field descriptions are the
model's instructions. The same models validate the calls, so what is published is what is accepted.
Nothing here names a tenant, a user or a namespace: the executor takes those from the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..models.common import Category, Identifier, Layer, Mode, ShortText
from ..models.config import TenantConfig
from ..models.entities import EntityType, Name, Relation, Statement
from ..models.knowledge import Body, Tag, Title
from ..models.memories import Polarity

StoreName = Literal["user_profile", "entity_memory", "learned_knowledge"]
SearchText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]
DateText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
SourceText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]

ENTITY_REF = "The entity's name, one of its aliases (any case), or its id"


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _limit(default: int) -> Any:
    return Field(default=default, ge=1, le=20, description="How many results at most")


# -- user memories ----------------------------------------------------------------------------
class SaveMemory(_Arguments):
    layer: Layer = Field(
        description="policies: the user's rules and preferences for how you work (highest authority); "
        "profile: identity and background; knowledge: context and facts, e.g. project details; "
        "feedback: what worked or did not"
    )
    content: ShortText = Field(description="One self-contained statement about the user, in the third person")
    category: Category | None = Field(
        default=None, description="Optional category: lowercase words joined by '/', e.g. 'work/projects'"
    )
    polarity: Polarity | None = Field(default=None, description="For feedback: positive or negative")


class UpdateMemory(_Arguments):
    memory_id: Identifier = Field(description="The id of the memory, from search_memories or save_memory")
    content: ShortText = Field(description="The corrected statement; the old one is kept in the history")


class ForgetMemory(_Arguments):
    memory_id: Identifier = Field(description="The id of the memory to forget")


class SearchMemories(_Arguments):
    query: SearchText = Field(description="What to look for in the user's memories")
    limit: int = _limit(5)


# -- entities ---------------------------------------------------------------------------------
class RememberEntity(_Arguments):
    name: Name = Field(
        description="The entity's name; an entity with this name or alias is updated, not copied"
    )
    entity_type: EntityType | None = Field(default=None, description="What kind of entity it is")
    aliases: list[Name] = Field(
        default_factory=list, max_length=20, description="Other names it goes by, e.g. 'Acme' for 'Acme Corp'"
    )
    description: Statement | None = Field(default=None, description="One sentence saying what it is")
    facts: list[Statement] = Field(
        default_factory=list, max_length=50, description="Timeless facts about it, one statement each"
    )
    supersedes: list[Identifier] = Field(
        default_factory=list,
        max_length=50,
        description="Ids of its current facts that these facts contradict; they are kept as history",
    )


class RecordEntityEvent(_Arguments):
    entity: Name = Field(description=f"{ENTITY_REF}; remember the entity first if it is new")
    content: Statement = Field(description="What happened")
    date_text: DateText | None = Field(
        default=None, description="When, as said: '2024-03-01', 'yesterday', 'last Friday', 'March 3'"
    )


class LinkEntities(_Arguments):
    source: Name = Field(description=ENTITY_REF)
    relation: Relation = Field(
        description="The relation in snake_case, read source -> target, e.g. 'works_at'"
    )
    target: Name = Field(description=f"{ENTITY_REF}; created when it does not exist yet")
    description: Statement | None = Field(default=None, description="Optional detail about the link")


class SearchEntities(_Arguments):
    query: SearchText = Field(description="Names, aliases or facts to look for")
    limit: int = _limit(5)


class ForgetEntityFact(_Arguments):
    entity: Name = Field(description=ENTITY_REF)
    fact_id: Identifier = Field(description="The id of the fact, from search_entities or remember_entity")


class ForgetRelationship(_Arguments):
    source: Name = Field(description=ENTITY_REF)
    relation: Relation = Field(description="The relation as it was linked, e.g. 'works_at'")
    target: Name = Field(description=ENTITY_REF)


class ForgetEntity(_Arguments):
    entity: Name = Field(description=f"{ENTITY_REF}; its facts, events and relationships go with it")


# -- learned knowledge ------------------------------------------------------------------------
class SaveKnowledge(_Arguments):
    title: Title = Field(description="A short title")
    content: Body = Field(description="The insight, reusable beyond this conversation")
    context: Body | None = Field(default=None, description="When it applies, or why it is true")
    tags: list[Tag] = Field(default_factory=list, max_length=20, description="Keywords, e.g. 'python'")
    source: SourceText | None = Field(
        default=None, description="Where it comes from, e.g. a URL or a document"
    )


class ProposeKnowledge(SaveKnowledge):
    pass


class SearchKnowledge(_Arguments):
    query: SearchText = Field(description="What to look for")
    limit: int = _limit(5)


@dataclass(frozen=True)
class Tool:
    store: StoreName
    mode: Mode
    arguments: type[_Arguments]
    description: str


TOOLS: dict[str, Tool] = {
    "save_memory": Tool(
        "user_profile",
        Mode.AGENTIC,
        SaveMemory,
        "Remember something about the user for future conversations. Search first; to correct a "
        "memory use update_memory instead of saving a second one.",
    ),
    "update_memory": Tool(
        "user_profile", Mode.AGENTIC, UpdateMemory, "Correct one of the user's memories by its id."
    ),
    "forget_memory": Tool(
        "user_profile",
        Mode.AGENTIC,
        ForgetMemory,
        "Forget one of the user's memories by its id, e.g. when the user asks you to forget it.",
    ),
    "search_memories": Tool(
        "user_profile",
        Mode.AGENTIC,
        SearchMemories,
        "Search what you remember about the user; returns memories with their ids, most relevant first.",
    ),
    "remember_entity": Tool(
        "entity_memory",
        Mode.AGENTIC,
        RememberEntity,
        "Remember a company, person, project, system, product or place, and timeless facts about it. "
        "When a fact contradicts a current one, pass the old fact's id in supersedes.",
    ),
    "record_entity_event": Tool(
        "entity_memory", Mode.AGENTIC, RecordEntityEvent, "Record a dated event about a known entity."
    ),
    "link_entities": Tool(
        "entity_memory",
        Mode.AGENTIC,
        LinkEntities,
        "Record a typed relationship between two entities, e.g. Ada works_at Acme.",
    ),
    "search_entities": Tool(
        "entity_memory",
        Mode.AGENTIC,
        SearchEntities,
        "Search remembered entities by name, alias or fact; returns them with their current facts.",
    ),
    "forget_entity_fact": Tool(
        "entity_memory", Mode.AGENTIC, ForgetEntityFact, "Forget one fact of an entity by its id."
    ),
    "forget_relationship": Tool(
        "entity_memory", Mode.AGENTIC, ForgetRelationship, "Forget a relationship between two entities."
    ),
    "forget_entity": Tool(
        "entity_memory", Mode.AGENTIC, ForgetEntity, "Forget an entity entirely, with all it holds."
    ),
    "save_knowledge": Tool(
        "learned_knowledge",
        Mode.AGENTIC,
        SaveKnowledge,
        "Save a reusable insight (not about one user) to the shared knowledge base. A near-duplicate "
        "of an existing insight updates it instead of adding a second one.",
    ),
    "search_knowledge": Tool(
        "learned_knowledge", Mode.AGENTIC, SearchKnowledge, "Search the knowledge base for relevant insights."
    ),
    "propose_knowledge": Tool(
        "learned_knowledge",
        Mode.PROPOSE,
        ProposeKnowledge,
        "Propose a reusable insight for the knowledge base. A human reviews it; it is not searchable "
        "until approved.",
    ),
}


def is_enabled(tool: Tool, config: TenantConfig) -> bool:
    store = getattr(config.stores, tool.store)
    return bool(store.enabled and tool.mode in store.modes)


def definitions_for(config: TenantConfig) -> list[dict[str, Any]]:
    """OpenAI function-calling definitions of the tools this tenant's configuration enables."""
    definitions = []
    for name, tool in TOOLS.items():
        if not is_enabled(tool, config):
            continue
        parameters = parameters_schema(tool.arguments)
        if tool.arguments is SaveMemory:
            # Offer only the layers that are on, so the model does not pick one that is refused.
            layers = [layer.value for layer in config.stores.user_profile.enabled_layers()]
            parameters["properties"]["layer"]["enum"] = layers or parameters["properties"]["layer"]["enum"]
        definitions.append(
            {
                "type": "function",
                "function": {"name": name, "description": tool.description, "parameters": parameters},
            }
        )
    return definitions


def parameters_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema, self-contained and without noise: references inlined (some
    OpenAI-compatible servers do not follow `$ref`), titles dropped, optional fields without the
    `null` alternative (omitting a field is how a model says "none")."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})
    cleaned: dict[str, Any] = _inline(schema, definitions, names=False)
    required = set(cleaned.get("required", []))
    for field_name, field_schema in cleaned.get("properties", {}).items():
        if field_name not in required:
            cleaned["properties"][field_name] = _without_null(field_schema)
    return cleaned


def _inline(node: Any, definitions: dict[str, Any], *, names: bool) -> Any:
    """`names` is true inside a `properties` mapping, whose keys are field names, not keywords."""
    if isinstance(node, list):
        return [_inline(item, definitions, names=False) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and not names:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        return _inline({**target, **{k: v for k, v in node.items() if k != "$ref"}}, definitions, names=False)
    return {
        key: _inline(value, definitions, names=key == "properties" and not names)
        for key, value in node.items()
        if names or key != "title"
    }


def _without_null(field_schema: dict[str, Any]) -> dict[str, Any]:
    options = field_schema.get("anyOf", [])
    kept = [option for option in options if option != {"type": "null"}]
    if len(options) != 2 or len(kept) != 1:
        return field_schema
    rest = {k: v for k, v in field_schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**kept[0], **rest}
