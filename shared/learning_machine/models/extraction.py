"""The one structured-output model call: what goes in, and the operations that come back.

The output models are written for OpenAI strict structured outputs: every field is required
(nullable where optional) and no free-form dicts, so the same schema works for `json_schema`,
tool calling and `json_object` fallbacks.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .common import Layer
from .entities import EntityType
from .memories import Memory, Polarity
from .sessions import SessionContext
from .transcripts import Message, TokenUsage

MAX_MEMORY_OPERATIONS = 30
MAX_PROFILE_UPDATES = 20
MAX_ENTITY_OPERATIONS = 30
MAX_KNOWLEDGE_OPERATIONS = 5
MAX_ALIASES = 10
MAX_TAGS = 10
# What the prompt may show of existing entities: few, with their latest current facts.
MAX_SHOWN_ENTITIES = 8
MAX_SHOWN_FACTS = 10
# Profile values that mean "not stated" (a model writes null as text too).
NOT_STATED = frozenset({"", "null", "none", "n/a", "unknown", "not specified", "not stated", "redacted"})


class MemoryOperation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal["add", "update", "delete", "noop"]
    memory_id: str | None = Field(
        description="Id of the existing memory for update/delete/noop; null for add"
    )
    layer: Layer | None = Field(description="Layer for add (and update when it changes)")
    category: str | None = Field(description="Optional nested category such as 'work/projects'")
    content: str | None = Field(description="The memory, one self-contained sentence; null for delete/noop")
    polarity: Polarity | None = Field(description="For feedback: positive or negative")
    turn_index: int | None = Field(description="Index of the message this comes from")

    @model_validator(mode="after")
    def _fields_for_op(self) -> MemoryOperation:
        if self.op == "add" and (self.layer is None or not self.content):
            raise ValueError("add needs layer and content")
        if self.op == "update" and (not self.memory_id or not self.content):
            raise ValueError("update needs memory_id and content")
        if self.op in ("delete", "noop") and not self.memory_id:
            raise ValueError(f"{self.op} needs memory_id")
        return self


class ProfileFieldUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="A profile field name from the schema")
    value: str | None = Field(description="New value as text (JSON for non-string fields); null to remove")
    turn_index: int | None


class SessionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str = Field(description="Summary of the whole session so far, built on the previous one")
    goal: str | None = Field(description="With planning: the user's goal for this session")
    plan: list[str] = Field(description="With planning: the steps to reach the goal")
    progress: list[str] = Field(description="With planning: the steps already done")


EntityOp = Literal["upsert", "add_fact", "supersede_fact", "add_event", "relate"]


class EntityOperation(BaseModel):
    """One change to entity memory; the entity is named as said and resolved by name or alias."""

    model_config = ConfigDict(extra="forbid")

    op: EntityOp
    entity: str = Field(description="The entity's name (or an alias) as said")
    entity_type: EntityType | None = Field(description="For upsert (and a new entity): its type")
    aliases: list[str] = Field(max_length=MAX_ALIASES, description="Other names for the entity")
    description: str | None = Field(description="For upsert: one sentence on what the entity is")
    content: str | None = Field(description="add_fact/supersede_fact: the fact; add_event: what happened")
    fact_id: str | None = Field(description="supersede_fact: id of the shown fact this one replaces")
    date_text: str | None = Field(description="add_event: the date exactly as said ('last Friday')")
    relation: str | None = Field(description="relate: the relation in snake_case, e.g. 'works_at'")
    target: str | None = Field(description="relate: the other entity's name")
    turn_index: int | None = Field(description="Index of the message this comes from")

    @classmethod
    def of(cls, op: EntityOp, entity: str, turn_index: int | None = None, **fields: Any) -> EntityOperation:
        """An operation with the fields it does not use set to null (aliases to []), as the strict
        schema requires every field."""
        values: dict[str, Any] = {**dict.fromkeys(cls.model_fields), "aliases": []}
        return cls.model_validate({**values, **fields, "op": op, "entity": entity, "turn_index": turn_index})

    @model_validator(mode="after")
    def _fields_for_op(self) -> EntityOperation:
        if not self.entity.strip():
            raise ValueError("entity needs a name")
        if self.op in ("add_fact", "supersede_fact", "add_event") and not (self.content or "").strip():
            raise ValueError(f"{self.op} needs content")
        if self.op == "supersede_fact" and not self.fact_id:
            raise ValueError("supersede_fact needs fact_id")
        if self.op == "relate" and not (self.relation and self.target):
            raise ValueError("relate needs relation and target")
        return self


class KnowledgeOperation(BaseModel):
    """One reusable insight to save to learned knowledge (deduplicated against existing ones)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="A short title")
    content: str = Field(description="The insight, self-contained and free of personal data")
    context: str | None = Field(description="When it applies")
    tags: list[str] = Field(max_length=MAX_TAGS, description="A few lowercase keywords")
    turn_index: int | None = Field(description="Index of the message this comes from")

    @model_validator(mode="after")
    def _not_empty(self) -> KnowledgeOperation:
        if not (self.title.strip() and self.content.strip()):
            raise ValueError("an insight needs a title and content")
        return self


class ExtractionResult(BaseModel):
    """What the model returns for one transcript, for every ALWAYS store at once."""

    model_config = ConfigDict(extra="forbid")

    memory_operations: list[MemoryOperation] = Field(max_length=MAX_MEMORY_OPERATIONS)
    profile_updates: list[ProfileFieldUpdate] = Field(max_length=MAX_PROFILE_UPDATES)
    session: SessionUpdate | None = Field(description="The new session context; null when the store is off")
    entity_operations: list[EntityOperation] = Field(max_length=MAX_ENTITY_OPERATIONS)
    knowledge_operations: list[KnowledgeOperation] = Field(max_length=MAX_KNOWLEDGE_OPERATIONS)


# --- what the model itself returns: one variant per operation ---------------------------------
#
# The operations above allow every field on every op and refuse bad combinations in validators,
# which a JSON schema cannot say: a model held to that schema by constrained decoding could still
# produce an `update` without content. The reply models below give each op its own object with
# exactly the fields it needs, all required (nullable only where the op allows null), so every reply
# the schema admits validates. `to_result` turns a reply into the operations above; an op whose
# text is blank after stripping is dropped there and reported, never a failure of the whole reply.


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddMemory(_Wire):
    op: Literal["add"]
    layer: Layer
    category: str | None = Field(description="Optional nested category, lowercase with slashes")
    content: str = Field(description="The new memory: one self-contained sentence about the user")
    polarity: Polarity | None = Field(description="Feedback layer only: positive or negative; else null")
    turn_index: int | None = Field(description="Index of the message it comes from")


class UpdateMemory(_Wire):
    op: Literal["update"]
    memory_id: str = Field(description="Id of the shown memory to correct")
    content: str = Field(description="The corrected memory, one self-contained sentence")
    turn_index: int | None


class DeleteMemory(_Wire):
    op: Literal["delete"]
    memory_id: str = Field(description="Id of the shown memory that is retracted or no longer true")
    turn_index: int | None


class KeepMemory(_Wire):
    op: Literal["noop"]
    memory_id: str = Field(description="Id of the shown memory the transcript confirms unchanged")
    turn_index: int | None


class UpsertEntity(_Wire):
    op: Literal["upsert"]
    entity: str
    entity_type: EntityType
    aliases: list[str] = Field(max_length=MAX_ALIASES)
    description: str | None
    turn_index: int | None


class AddFact(_Wire):
    op: Literal["add_fact"]
    entity: str
    content: str = Field(description="A timeless fact, one sentence naming the entity")
    turn_index: int | None


class SupersedeFact(_Wire):
    op: Literal["supersede_fact"]
    entity: str
    fact_id: str = Field(description="Id of the shown fact this one replaces")
    content: str = Field(description="The new fact")
    turn_index: int | None


class AddEvent(_Wire):
    op: Literal["add_event"]
    entity: str
    content: str = Field(description="What happened")
    date_text: str | None = Field(description="The date exactly as said, or null")
    turn_index: int | None


class Relate(_Wire):
    op: Literal["relate"]
    entity: str
    relation: str = Field(description="snake_case relation")
    target: str = Field(description="The other entity's name")
    turn_index: int | None


class Insight(_Wire):
    title: str
    content: str
    context: str | None
    tags: list[str] = Field(max_length=MAX_TAGS)
    turn_index: int | None


MemoryVariant = AddMemory | UpdateMemory | DeleteMemory | KeepMemory
EntityVariant = UpsertEntity | AddFact | SupersedeFact | AddEvent | Relate
# The variant for each op (the JSON schema's $defs name them by class; extraction_contract/schema.py
# narrows them).
MEMORY_VARIANTS: dict[str, type[_Wire]] = {
    "add": AddMemory,
    "update": UpdateMemory,
    "delete": DeleteMemory,
    "noop": KeepMemory,
}
ENTITY_VARIANTS: dict[str, type[_Wire]] = {
    "upsert": UpsertEntity,
    "add_fact": AddFact,
    "supersede_fact": SupersedeFact,
    "add_event": AddEvent,
    "relate": Relate,
}


class ExtractionReply(_Wire):
    """The reply the model is held to; its JSON schema is what the validator accepts."""

    # In the order a model fills them (constrained decoding follows it): the session summary first,
    # a short restatement of the transcript that the memories and profile fields then draw on; the
    # memories before the profile (after the profile the 1.5B model closed the memory list empty).
    session: SessionUpdate | None
    memory_operations: list[MemoryVariant] = Field(max_length=MAX_MEMORY_OPERATIONS)
    # Every profile field by name, null when not stated (extraction_contract/schema.py fixes the keys
    # to the request's profile schema): a small model fills named slots far better than it builds a
    # list of field/value pairs, where it skipped stated fields and copied whole sentences into values.
    profile: dict[str, str | None] = Field(description="Each profile field: the value stated, or null")
    entity_operations: list[EntityVariant] = Field(max_length=MAX_ENTITY_OPERATIONS)
    knowledge_operations: list[Insight] = Field(max_length=MAX_KNOWLEDGE_OPERATIONS)

    def to_result(self) -> tuple[ExtractionResult, list[str]]:
        """The operations to apply, and what was dropped (blank text), each said in a short line."""
        dropped: list[str] = []
        memory_ops: list[MemoryOperation] = []
        for memory_op in self.memory_operations:
            values: dict[str, Any] = {**dict.fromkeys(MemoryOperation.model_fields), **memory_op.model_dump()}
            # Blank, or no word at all: the local model once wrote "{" as a memory's content.
            if "content" in type(memory_op).model_fields and not _WORDISH.search(str(values["content"])):
                dropped.append(f"{memory_op.op} of a memory with blank content")
                continue
            memory_ops.append(MemoryOperation.model_validate(values))
        entity_ops: list[EntityOperation] = []
        for entity_op in self.entity_operations:
            fields = entity_op.model_dump(exclude={"op", "entity", "turn_index"})
            try:
                entity_ops.append(
                    EntityOperation.of(entity_op.op, entity_op.entity, entity_op.turn_index, **fields)
                )
            except ValueError as error:  # blank name, content, relation or target
                dropped.append(f"entity {entity_op.op} refused: {_first_error(error)}")
        insights: list[KnowledgeOperation] = []
        for insight in self.knowledge_operations:
            try:
                insights.append(KnowledgeOperation.model_validate(insight.model_dump()))
            except ValueError as error:
                dropped.append(f"insight refused: {_first_error(error)}")
        profile_updates = [
            ProfileFieldUpdate(field=field, value=value.strip(), turn_index=None)
            for field, value in self.profile.items()
            if value is not None and value.strip().lower() not in NOT_STATED
        ]
        result = ExtractionResult(
            memory_operations=memory_ops,
            profile_updates=profile_updates[:MAX_PROFILE_UPDATES],
            session=_without_repeats(self.session),
            entity_operations=entity_ops,
            knowledge_operations=insights,
        )
        return result, dropped

    @classmethod
    def from_result(cls, result: ExtractionResult) -> ExtractionReply:
        """The reply a model would give for these operations (scripted servers in tests answer so)."""
        memory_ops = [
            op.model_dump(include=set(MEMORY_VARIANTS[op.op].model_fields)) for op in result.memory_operations
        ]
        entity_ops = [
            op.model_dump(include=set(ENTITY_VARIANTS[op.op].model_fields)) for op in result.entity_operations
        ]
        for op in entity_ops:  # a model must name a type; an untyped upsert is what it calls "other"
            if op["op"] == "upsert" and op.get("entity_type") is None:
                op["entity_type"] = "other"
        # A field set to null (removed) has no wire form: null there means "not stated".
        profile = {
            update.field: update.value for update in result.profile_updates if update.value is not None
        }
        return cls.model_validate(
            {
                **result.model_dump(include={"session", "knowledge_operations"}),
                "profile": profile,
                "memory_operations": memory_ops,
                "entity_operations": entity_ops,
            }
        )


_WORDISH = re.compile(r"\w")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")


def _without_repeats(session: SessionUpdate | None) -> SessionUpdate | None:
    """The session with each summary sentence and each plan or progress step once: a small model
    that loops repeats the whole summary ("Marco ordered ... Marco ordered ..." four times)."""
    if session is None:
        return None
    sentences = _once(_SENTENCE_BREAK.split(session.summary.strip()))
    return session.model_copy(
        update={
            "summary": " ".join(sentences),
            "plan": _once(session.plan),
            "progress": _once(session.progress),
        }
    )


def _once(texts: list[str]) -> list[str]:
    """The texts without repeats (compared without case and surrounding space), in their order."""
    seen: set[str] = set()
    kept = []
    for text in texts:
        key = " ".join(text.lower().split())
        if key and key not in seen:
            seen.add(key)
            kept.append(text)
    return kept


def _first_error(error: ValueError) -> str:
    text = str(error).splitlines()
    return text[-1].strip() if text else type(error).__name__


class NumberedMessage(Message):
    turn_index: int


class ShownFact(BaseModel):
    fact_id: str
    content: str


class ShownEntity(BaseModel):
    """An existing entity as the model sees it: enough to resolve names and supersede facts by id."""

    name: str
    entity_type: EntityType
    aliases: list[str] = Field(default_factory=list)
    description: str | None = None
    facts: list[ShownFact] = Field(default_factory=list, max_length=MAX_SHOWN_FACTS)
    writable: bool = Field(
        default=True, description="False for a shared entity outside the namespace extraction writes to"
    )


class ExtractionRequest(BaseModel):
    """Everything one extraction needs, built by the pipeline and rendered by each model adapter."""

    transcript_id: str
    occurred_at: datetime
    messages: list[NumberedMessage]
    profile_fields: dict[str, object]
    profile_schema: dict[str, str] = Field(description="field name -> description, standard and custom")
    profile_options: dict[str, list[str]] = Field(
        default_factory=dict, description="field name -> its options, for a custom field with an enum"
    )
    memories: list[Memory] = Field(description="Current memories relevant to this transcript, budgeted")
    memories_total: int = Field(description="How many memories the user has in all")
    previous_session: SessionContext | None
    learn_profile: bool
    layers: list[Layer]
    layer_prompts: dict[Layer, str] = Field(default_factory=dict)
    profile_prompt: str | None = None
    learn_session: bool
    planning: bool
    session_prompt: str | None = None
    learn_entities: bool = False
    entity_prompt: str | None = None
    entities: list[ShownEntity] = Field(
        default_factory=list,
        max_length=MAX_SHOWN_ENTITIES,
        description="Existing entities relevant to this transcript, with their current facts",
    )
    learn_knowledge: bool = False
    knowledge_prompt: str | None = None


class ModelReply(BaseModel):
    result: ExtractionResult
    usage: TokenUsage
    model: str
    calls: int = Field(default=1, description="Model calls made: 1, or 2 when the first reply was repaired")
    first_reply_error: str | None = Field(
        default=None, description="Why the first reply was invalid, when a repair call followed"
    )
    dropped: list[str] = Field(default_factory=list, description="Operations of the reply dropped as blank")
    held: list[str] = Field(
        default_factory=list,
        description="Operations held back because the user's messages do not support them (grounding)",
    )
