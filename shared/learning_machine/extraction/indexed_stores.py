"""Entity memory and learned knowledge in the one extraction: what the model is shown, and
applying what it returns.

Both stores live in other items than the user's memories (entities per namespace, insights per
namespace) and in the knowledge index, so their writes cannot join the transaction that marks the
transcript done. They are applied just before it, and every write is safe to apply again: facts
and events are deduplicated by normalized text (and the date as said), upserts merge, an edge is
keyed by its two ends, and an insight gets an id derived from the transcript and its text. A crash
in between leaves the transcript not done; its retry re-applies and changes nothing twice.

Index writes are held back while the operations run, then the touched entities and the insights
are embedded in one call and indexed together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from pydantic import ValidationError

from ..adapters.embeddings.base import Embedder
from ..core import namespaces
from ..core.ids import stable_id
from ..core.memory_rules import Origin
from ..core.ranking import estimate_tokens, take_within_budget
from ..extraction_contract.prompt import entity_block
from ..models.config import TenantConfig
from ..models.entities import Entity, EntityUpsert, Event, EventIn, Fact, FactsIn, RelationshipIn
from ..models.extraction import (
    MAX_SHOWN_ENTITIES,
    MAX_SHOWN_FACTS,
    EntityOperation,
    ExtractionResult,
    KnowledgeOperation,
    ShownEntity,
    ShownFact,
)
from ..models.knowledge import InsightIn
from ..models.transcripts import AppliedOperation
from ..services.entity_memory import EntityMemory, UnknownEntityError, UnknownFactError
from ..services.indexing import DeferredIndexer, embedded_insight_text, entity_text
from ..services.learned_knowledge import LearnedKnowledge
from ..stores.entities import NameTakenError, normalize_name

# The entities shown to the model: the most relevant few, their latest current facts, each text
# clipped, and all of it under a token budget so the prompt stays bounded as entities grow.
ENTITY_BUDGET_TOKENS = 1_500
SHOWN_TEXT_CHARS = 300
SHOWN_ALIASES = 5
# The index query: the names said (capitalised words) first, then the text, clipped.
ENTITY_QUERY_CHARS = 2_000
DETAIL_CHARS = 200

_CAPITALISED = re.compile(r"\b[A-Z][\w.-]*[\w]")
_TAG_CHARS = re.compile(r"[^a-z0-9_.:/-]+")


@dataclass
class IndexedStores:
    """Entity memory and learned knowledge, built on first use: the index opens only when needed."""

    entities: Callable[[], EntityMemory]
    knowledge: Callable[[], LearnedKnowledge]
    # The embedder of user memories (search's): their texts join the transcript's one embedding call.
    embedder: Callable[[], Embedder] | None = None


@dataclass
class Outcome:
    applied: list[AppliedOperation] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # Vectors of the memory texts passed in, by text, from the same embedding call.
    memory_vectors: dict[str, list[float]] = field(default_factory=dict)


class RefusedError(ValueError):
    """The rules refuse this operation; it is reported in `skipped`, never applied half-way."""


# --- what the model is shown ----------------------------------------------------------------


def relevant_entities(
    memory: EntityMemory, tenant: str, config: TenantConfig, user_id: str, text: str
) -> list[ShownEntity]:
    """One index query for the entities the transcript is about, with their current fact ids."""
    store = config.stores.entity_memory
    writable = namespaces.resolve(None, store.namespace, user_id)
    scope = namespaces.search_scope(store.namespace, user_id)
    found = memory.search(tenant, scope, entity_query(text), MAX_SHOWN_ENTITIES)
    shown = [shown_entity(entity, entity.namespace == writable) for entity in found]
    kept, _ = take_within_budget(shown, ENTITY_BUDGET_TOKENS, lambda e: estimate_tokens(entity_block(e)))
    return kept


def entity_query(text: str) -> str:
    """Names first: the keyword half of the search reads only the first words of its query."""
    names = dict.fromkeys(_CAPITALISED.findall(text))
    return " ".join([*names, text])[:ENTITY_QUERY_CHARS]


def shown_entity(entity: Entity, writable: bool) -> ShownEntity:
    return ShownEntity(
        name=entity.name,
        entity_type=entity.entity_type,
        aliases=[_clip(alias, 100) for alias in entity.aliases[:SHOWN_ALIASES]],
        description=_clip(entity.description, SHOWN_TEXT_CHARS) if entity.description else None,
        facts=[
            ShownFact(fact_id=fact.fact_id, content=_clip(fact.content, SHOWN_TEXT_CHARS))
            for fact in entity.current_facts()[-MAX_SHOWN_FACTS:]
        ],
        writable=writable,
    )


# --- applying what the model returned --------------------------------------------------------


def apply_indexed(
    result: ExtractionResult,
    *,
    stores: IndexedStores,
    tenant: str,
    user_id: str,
    config: TenantConfig,
    origin: Origin,
    reference: datetime,
    memory_texts: Sequence[str] = (),
) -> Outcome:
    """Apply the entity and knowledge operations; idempotent, so a retried transcript may re-apply.
    `memory_texts` (the user memories the transcript writes) are embedded in the same one call."""
    outcome = Outcome()
    entity_config = config.stores.entity_memory
    knowledge_config = config.stores.learned_knowledge
    writer: _EntityWriter | None = None
    if result.entity_operations and not entity_config.always:
        outcome.skipped.append(
            f"{len(result.entity_operations)} entity operations while entity memory is off"
        )
    elif result.entity_operations:
        namespace = namespaces.resolve(None, entity_config.namespace, user_id)
        writer = _EntityWriter(stores.entities(), tenant, namespace, origin, reference, outcome)
        for entity_op in result.entity_operations:
            writer.apply(entity_op)
    insights: list[tuple[InsightIn, KnowledgeOperation]] = []
    if result.knowledge_operations and not knowledge_config.always:
        outcome.skipped.append(
            f"{len(result.knowledge_operations)} knowledge operations while learned knowledge is off"
        )
    elif result.knowledge_operations:
        insights = _valid_insights(result.knowledge_operations, outcome)
    knowledge = stores.knowledge() if insights else None
    memories = (stores.embedder, list(dict.fromkeys(memory_texts))) if stores.embedder else None
    _index_and_save(writer, knowledge, insights, tenant, user_id, config, origin, outcome, memories)
    return outcome


def _index_and_save(
    writer: _EntityWriter | None,
    knowledge: LearnedKnowledge | None,
    insights: Sequence[tuple[InsightIn, KnowledgeOperation]],
    tenant: str,
    user_id: str,
    config: TenantConfig,
    origin: Origin,
    outcome: Outcome,
    memories: tuple[Callable[[], Embedder], list[str]] | None = None,
) -> None:
    """One embedding call for every entity touched, every insight and every memory text, then the
    index writes."""
    pending = writer.batch.held_back() if writer else []
    texts: list[tuple[Embedder, str]] = []
    if writer:
        texts += [(writer.batch.embedder, entity_text(entity)) for entity in pending]
    if knowledge:
        texts += [(knowledge.indexer.embedder, embedded_insight_text(body)) for body, _ in insights]
    memory_texts = memories[1] if memories and memories[1] else []
    if memories and memory_texts:
        texts += [(memories[0](), text) for text in memory_texts]
    vectors = _embed_together(texts)
    if memory_texts:
        split = len(texts) - len(memory_texts)
        outcome.memory_vectors = dict(zip(memory_texts, vectors[split:], strict=True))
        vectors = vectors[:split]
    if writer and pending:
        writer.batch.flush(tenant, vectors[: len(pending)])
    if not knowledge:
        return
    store = config.stores.learned_knowledge
    namespace = namespaces.resolve(None, store.namespace, user_id)
    for (body, op), vector in zip(insights, vectors[len(pending) :], strict=True):
        # An id from the transcript and the text: a retry finds the same insight even unindexed.
        insight_id = stable_id(
            "k", namespace, origin.transcript_id or "", normalize_name(f"{body.title} {body.content}")
        )
        saved = knowledge.save(
            tenant,
            namespace,
            body,
            origin.provenance(op.turn_index),
            store.duplicate_similarity,
            vector=vector,
            insight_id=insight_id,
        )
        outcome.applied.append(
            AppliedOperation(
                store="learned_knowledge",
                action="update" if saved.deduplicated else "add",
                target=saved.insight.insight_id,
                detail=_clip(saved.insight.title, DETAIL_CHARS),
            )
        )


@dataclass
class _EntityWriter:
    """Applies entity operations in one namespace; index writes wait in `batch` for one flush."""

    base: EntityMemory
    tenant: str
    namespace: str
    origin: Origin
    reference: datetime
    outcome: Outcome
    batch: DeferredIndexer = field(init=False)
    memory: EntityMemory = field(init=False)

    def __post_init__(self) -> None:
        self.batch = DeferredIndexer.over(self.base.indexer)
        self.memory = replace(self.base, indexer=self.batch)

    def apply(self, op: EntityOperation) -> None:
        try:
            self._apply(op)
        except (ValidationError, RefusedError, UnknownEntityError, UnknownFactError, NameTakenError) as error:
            reason = _validation_reason(error) if isinstance(error, ValidationError) else str(error)
            self.outcome.skipped.append(f"entity {op.op} on {_clip(op.entity, 80)!r}: {reason}")

    def _apply(self, op: EntityOperation) -> None:
        provenance = self.origin.provenance(op.turn_index)
        if op.op == "supersede_fact":
            entity = self.memory.find(self.tenant, self.namespace, op.entity)
            if entity is None:
                raise RefusedError("no such entity in the namespace extraction writes to")
            self._touched(entity)
            facts = FactsIn(facts=[op.content or ""], supersedes=[op.fact_id or ""])
            updated = self.memory.add_facts(
                self.tenant, self.namespace, entity.entity_id, facts.facts, provenance, facts.supersedes
            )
            self._record(op, updated, f"{op.fact_id} -> {facts.facts[0]}")
            return
        entity = self._resolve(op)
        if op.op == "upsert":
            self._record(op, entity, entity.name)
        elif op.op == "add_fact":
            text = FactsIn(facts=[op.content or ""]).facts[0]
            if not self._known(op, entity, [f for f in entity.current_facts() if _same(f.content, text)]):
                entity = self.memory.add_facts(
                    self.tenant, self.namespace, entity.entity_id, [text], provenance
                )
                self._record(op, entity, text)
        elif op.op == "add_event":
            event = EventIn(content=op.content or "", date_text=op.date_text or None)
            same = [
                e
                for e in entity.events
                if _same(e.content, event.content) and _same(e.date_text or "", event.date_text or "")
            ]
            if not self._known(op, entity, same):
                entity = self.memory.add_events(
                    self.tenant, self.namespace, entity.entity_id, [event], provenance, self.reference
                )
                self._record(op, entity, f"{event.content} ({event.date_text or 'undated'})")
        else:
            edge = RelationshipIn(relation=_snake_case(op.relation or ""), target=op.target or "")
            target = self.memory.find(self.tenant, self.namespace, edge.target)
            if target is not None and target.entity_id == entity.entity_id:
                raise RefusedError("an entity cannot be related to itself")
            self.memory.relate(
                self.tenant, self.namespace, entity.entity_id, edge.relation, edge.target, provenance
            )
            self._record(op, entity, f"{edge.relation} {edge.target}")

    def _resolve(self, op: EntityOperation) -> Entity:
        """The named entity; created (or, for upsert, merged) with the details the operation gives."""
        existing = self.memory.find(self.tenant, self.namespace, op.entity)
        if existing is not None and op.op != "upsert":
            self._touched(existing)
            return existing
        details = EntityUpsert(
            name=op.entity,
            aliases=op.aliases,
            description=op.description or None,
            **({"entity_type": op.entity_type} if op.entity_type else {}),
        )
        entity = self.memory.upsert(
            self.tenant,
            self.namespace,
            details.name,
            entity_type=op.entity_type,
            aliases=details.aliases,
            description=details.description,
        )
        self._touched(entity)
        return entity

    def _known(self, op: EntityOperation, entity: Entity, same: Sequence[Fact | Event]) -> bool:
        """Already held: from an earlier attempt at this transcript (reported as applied again),
        or from before (skipped)."""
        if not same:
            return False
        if any(item.provenance.transcript_id == self.origin.transcript_id for item in same):
            self._record(op, entity, op.content or "")
        else:
            self.outcome.skipped.append(f"entity {op.op} on {_clip(op.entity, 80)!r}: already known")
        return True

    def _touched(self, entity: Entity) -> None:
        # Re-indexed even when unchanged: a retry also repairs an index write a crash cut short.
        self.batch.pending.setdefault(entity.entity_id, (self.tenant, entity))

    def _record(self, op: EntityOperation, entity: Entity, detail: str) -> None:
        self.outcome.applied.append(
            AppliedOperation(
                store="entity_memory",
                action=op.op,
                target=entity.entity_id,
                detail=_clip(detail, DETAIL_CHARS),
            )
        )


def _valid_insights(
    operations: Sequence[KnowledgeOperation], outcome: Outcome
) -> list[tuple[InsightIn, KnowledgeOperation]]:
    valid: list[tuple[InsightIn, KnowledgeOperation]] = []
    for op in operations:
        try:
            body = InsightIn(
                title=_clip(op.title, 300),
                content=op.content,
                context=op.context or None,
                tags=_tags(op.tags),
            )
        except ValidationError as error:
            outcome.skipped.append(f"insight {_clip(op.title, 80)!r}: {_validation_reason(error)}")
            continue
        valid.append((body, op))
    return valid


def _embed_together(texts: Sequence[tuple[Embedder, str]]) -> list[list[float]]:
    """One embedding call per embedder (the pipeline's stores share one), results in input order."""
    vectors: list[list[float]] = [[] for _ in texts]
    embedders = {id(embedder): embedder for embedder, _ in texts}
    for key, embedder in embedders.items():
        positions = [i for i, (e, _) in enumerate(texts) if id(e) == key]
        for position, vector in zip(positions, embedder.embed([texts[i][1] for i in positions]), strict=True):
            vectors[position] = list(vector)
    return vectors


def _tags(tags: Sequence[str]) -> list[str]:
    """Tags as the insight model accepts them: lowercase, no spaces, deduplicated."""
    cleaned = (_TAG_CHARS.sub("-", tag.strip().lower()).strip("-_.:/")[:64] for tag in tags)
    return list(dict.fromkeys(tag for tag in cleaned if tag))


def _snake_case(relation: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", relation.strip().lower()).strip("_")


def _same(a: str, b: str) -> bool:
    return (normalize_name(a) or a.strip()) == (normalize_name(b) or b.strip())


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _validation_reason(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    return f"{where}: {first['msg']}"
