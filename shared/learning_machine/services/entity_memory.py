"""Entity memory: create and merge entities, add facts (superseding contradicted ones), events
and relationships, forget any of them, and keep the knowledge index in step.

Every change is a read-modify-write of one entity guarded by its version, retried on conflict.
Secrets are redacted from every name and text on the way in, whoever writes (API, tools, extraction).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core.dates import resolve_date
from ..core.errors import NotFoundError
from ..core.ids import new_id
from ..core.redaction import redact_optional, redact_text
from ..models.api import entities as api_entities
from ..models.common import utc_now
from ..models.entities import (
    MAX_EVENTS,
    MAX_FACTS,
    Entity,
    EntityType,
    Event,
    EventIn,
    Fact,
    Relationship,
)
from ..models.provenance import MergedItem, Provenance
from ..stores.changes import WriteConflictError
from ..stores.entities import EntityStore, normalize_name
from .indexing import ENTITY, Indexer, entity_doc_id


class UnknownEntityError(NotFoundError, LookupError):
    what, argument = "entity", "entity"


class UnknownFactError(NotFoundError, LookupError):
    what = "fact"

    def __init__(self, fact_id: str, argument: str = "fact_id") -> None:
        super().__init__(fact_id)
        self.argument = argument  # the fact to forget, or one a new fact supersedes


@dataclass
class EntityMemory:
    store: EntityStore
    indexer: Indexer
    write_retries: int = 6

    # -- reads ------------------------------------------------------------------------------
    def in_namespace(self, tenant: str, namespace: str) -> list[Entity]:
        """Every entity of the namespace, by name (case ignored)."""
        return sorted(self.store.in_namespace(tenant, namespace), key=lambda e: e.name.lower())

    def find(self, tenant: str, namespace: str, name_or_id: str) -> Entity | None:
        """By id, name or alias; None when the namespace has no such entity."""
        return self.store.find(tenant, namespace, name_or_id)

    def get(self, tenant: str, namespace: str, name_or_id: str) -> Entity:
        entity = self.find(tenant, namespace, name_or_id)
        if entity is None:
            raise UnknownEntityError(name_or_id)
        return entity

    def view(self, tenant: str, namespace: str, name_or_id: str) -> api_entities.EntityView:
        """The API's answer: the entity with its relationships from both ends."""
        entity = self.get(tenant, namespace, name_or_id)
        edges = self.store.relationships(tenant, namespace, entity.entity_id)
        return api_entities.EntityView(
            entity=api_entities.Entity.from_stored(entity),
            relationships=[api_entities.Relationship.from_stored(edge) for edge in edges],
        )

    # -- writes -----------------------------------------------------------------------------
    def upsert(
        self,
        tenant: str,
        namespace: str,
        name: str,
        *,
        entity_type: EntityType | None = None,
        aliases: Sequence[str] = (),
        description: str | None = None,
        properties: dict[str, str] | None = None,
    ) -> Entity:
        """Create the entity, or merge into the one that already has this name or an alias."""
        name, aliases = redact_text(name), [redact_text(alias) for alias in aliases]
        description = redact_optional(description)
        properties = {key: redact_text(value) for key, value in (properties or {}).items()}
        for _ in range(self.write_retries):
            existing = self._find_any(tenant, namespace, [name, *aliases])
            now = utc_now()
            if existing is None:
                entity = Entity(
                    entity_id=new_id("e"),
                    namespace=namespace,
                    name=name.strip(),
                    entity_type=entity_type or "other",
                    aliases=_unique_names([], aliases, name),
                    description=description,
                    properties=dict(properties or {}),
                )
                expected = 0
            else:
                entity = existing.model_copy(
                    update={
                        "aliases": _unique_names(existing.aliases, [name, *aliases], existing.name),
                        "entity_type": entity_type
                        if entity_type and entity_type != "other"
                        else existing.entity_type,
                        "description": description or existing.description,
                        "properties": {**existing.properties, **(properties or {})},
                        "version": existing.version + 1,
                        "updated_at": now,
                    }
                )
                expected = existing.version
                if _same_details(entity, existing):
                    return existing  # merging nothing new writes nothing (extraction repeats upserts)
            try:
                self.store.save(tenant, entity, expected)
            except WriteConflictError:
                _backoff()
                continue
            self.indexer.put_entities(tenant, [entity])
            return entity
        raise WriteConflictError(name)

    def add_facts(
        self,
        tenant: str,
        namespace: str,
        name_or_id: str,
        facts: Sequence[str],
        provenance: Provenance,
        supersedes: Sequence[str] = (),
    ) -> Entity:
        """Add timeless facts; each superseded fact keeps its value with valid_to and its successor."""
        facts = [redact_text(text) for text in facts]

        def change(entity: Entity) -> Entity:
            # Deduplicated by normalized text, so re-applying the same facts (a retried extraction)
            # adds nothing and a re-applied supersede finds its successor already in place.
            current = {_fact_key(f.content): f.fact_id for f in entity.current_facts()}
            added: list[Fact] = []
            for text in facts:
                if _fact_key(text) not in current:
                    fact = Fact(fact_id=new_id("f"), content=text.strip(), provenance=provenance)
                    current[_fact_key(text)] = fact.fact_id
                    added.append(fact)
            successor = current.get(_fact_key(facts[0])) if facts else None
            updated: list[Fact] = []
            for fact in entity.facts:
                if fact.fact_id in supersedes and fact.current and fact.fact_id != successor:
                    fact = fact.model_copy(
                        update={"valid_to": provenance.recorded_at, "superseded_by": successor}
                    )
                updated.append(fact)
            missing = set(supersedes) - {f.fact_id for f in entity.facts}
            if missing:
                raise UnknownFactError(sorted(missing)[0], argument="supersedes")
            return entity.model_copy(update={"facts": (updated + added)[-MAX_FACTS:]})

        return self._mutate(tenant, namespace, name_or_id, change)

    def add_events(
        self,
        tenant: str,
        namespace: str,
        name_or_id: str,
        events: Sequence[EventIn],
        provenance: Provenance,
        reference: datetime,
    ) -> Entity:
        events = [
            event.model_copy(
                update={"content": redact_text(event.content), "date_text": redact_optional(event.date_text)}
            )
            for event in events
        ]

        def change(entity: Entity) -> Entity:
            # Deduplicated by (normalized content, date as said): re-applying adds nothing.
            known = {_event_key(e.content, e.date_text) for e in entity.events}
            added: list[Event] = []
            for event in events:
                key = _event_key(event.content, event.date_text)
                if key in known:
                    continue
                known.add(key)
                added.append(
                    Event(
                        event_id=new_id("v"),
                        content=event.content,
                        date_text=event.date_text,
                        date=event.date or resolve_date(event.date_text, reference),
                        provenance=provenance,
                    )
                )
            return entity.model_copy(update={"events": (entity.events + added)[-MAX_EVENTS:]})

        return self._mutate(tenant, namespace, name_or_id, change)

    def relate(
        self,
        tenant: str,
        namespace: str,
        source: str,
        relation: str,
        target: str,
        provenance: Provenance,
        description: str | None = None,
    ) -> Relationship:
        """A typed edge; the target is created (type 'other') when it does not exist yet."""
        target, description = redact_text(target), redact_optional(description)
        start = self.get(tenant, namespace, source)
        end = self.store.find(tenant, namespace, target) or self.upsert(tenant, namespace, target)
        edge = Relationship(
            source_id=start.entity_id,
            relation=relation,
            target_id=end.entity_id,
            source_name=start.name,
            target_name=end.name,
            description=description,
            provenance=provenance,
        )
        self.store.relate(tenant, namespace, edge)
        return edge

    def forget_fact(self, tenant: str, namespace: str, name_or_id: str, fact_id: str) -> Entity:
        def change(entity: Entity) -> Entity:
            if fact_id not in {f.fact_id for f in entity.facts}:
                raise UnknownFactError(fact_id)
            return entity.model_copy(update={"facts": [f for f in entity.facts if f.fact_id != fact_id]})

        return self._mutate(tenant, namespace, name_or_id, change)

    def forget_relationship(
        self, tenant: str, namespace: str, source: str, relation: str, target: str
    ) -> bool:
        start = self.get(tenant, namespace, source)
        end = self.get(tenant, namespace, target)
        for edge in self.store.relationships(tenant, namespace, start.entity_id):
            if edge.relation == relation and {edge.source_id, edge.target_id} == {
                start.entity_id,
                end.entity_id,
            }:
                self.store.unrelate(tenant, namespace, edge)
                return True
        return False

    def forget(self, tenant: str, namespace: str, name_or_id: str) -> None:
        entity = self.get(tenant, namespace, name_or_id)
        self.store.delete(tenant, entity)
        self.indexer.remove(tenant, [entity_doc_id(entity.entity_id)])

    def search(self, tenant: str, namespaces: Sequence[str], query: str, limit: int) -> list[Entity]:
        hits = self.indexer.search(tenant, namespaces, [ENTITY], query, limit)
        found = [self.store.get(tenant, hit.namespace, hit.payload["entity_id"]) for hit in hits]
        return [entity for entity in found if entity is not None]

    # -- helpers ----------------------------------------------------------------------------
    def _find_any(self, tenant: str, namespace: str, names: Sequence[str]) -> Entity | None:
        for name in names:
            entity = self.store.find(tenant, namespace, name)
            if entity is not None:
                return entity
        return None

    def _mutate(
        self, tenant: str, namespace: str, name_or_id: str, change: Callable[[Entity], Entity]
    ) -> Entity:
        for _ in range(self.write_retries):
            current = self.get(tenant, namespace, name_or_id)
            updated = change(current).model_copy(
                update={"version": current.version + 1, "updated_at": utc_now()}
            )
            try:
                self.store.save(tenant, updated, current.version)
            except WriteConflictError:
                _backoff()
                continue
            self.indexer.put_entities(tenant, [updated])
            return updated
        raise WriteConflictError(name_or_id)


def _unique_names(current: Sequence[str], new: Sequence[str], primary: str) -> list[str]:
    seen = {normalize_name(primary)}
    names: list[str] = []
    for name in [*current, *new]:
        key = normalize_name(name)
        if key and key not in seen:
            seen.add(key)
            names.append(name.strip())
    return names


def _same_details(merged: Entity, existing: Entity) -> bool:
    fields = {"aliases", "entity_type", "description", "properties"}
    return merged.model_dump(include=fields) == existing.model_dump(include=fields)


def _fact_key(text: str) -> str:
    return normalize_name(text) or text.strip()


def _event_key(content: str, date_text: str | None) -> tuple[str, str]:
    return _fact_key(content), normalize_name(date_text or "")


def _backoff() -> None:
    time.sleep(random.uniform(0, 0.05))


def absorb(survivor: Entity, other: Entity, merged: MergedItem) -> Entity:
    """`survivor` with `other` folded in: names become aliases; facts, events and properties are
    added where new (the survivor's win); superseded facts keep their history."""
    facts = {_fact_key(f.content): f for f in survivor.facts if f.current}
    carried = [f for f in other.facts if not f.current or _fact_key(f.content) not in facts]
    known_events = {_event_key(e.content, e.date_text) for e in survivor.events}
    events = [e for e in other.events if _event_key(e.content, e.date_text) not in known_events]
    return survivor.model_copy(
        update={
            "aliases": _unique_names(survivor.aliases, other.names(), survivor.name),
            "entity_type": survivor.entity_type if survivor.entity_type != "other" else other.entity_type,
            "description": survivor.description or other.description,
            "properties": {**other.properties, **survivor.properties},
            "facts": (survivor.facts + carried)[-MAX_FACTS:],
            "events": (survivor.events + events)[-MAX_EVENTS:],
            "merged": [*survivor.merged, merged, *other.merged],
        }
    )
