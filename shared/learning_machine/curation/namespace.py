"""A namespace: merge duplicate entities, drop superseded facts past retention, deduplicate knowledge,
and, when asked, embed and index every entity and insight again.

Entities are duplicates when one of their names is the same once case, punctuation and legal
suffixes are set aside ("ACME Corp." and "Acme"), and their types agree. Knowledge is checked in
chunks through the index (each insight's nearest neighbours), so a namespace of any size is
curated across slices and never compared all against all.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models.entities import Entity, Relationship
from ..models.knowledge import Insight
from ..models.provenance import MergedItem
from ..services.entity_memory import absorb
from ..services.indexing import (
    KNOWLEDGE,
    Indexer,
    embedded_insight_text,
    entity_doc_id,
    entity_text,
    insight_doc_id,
    insight_text,
)
from ..stores.changes import WriteConflictError
from ..stores.entities import EntityStore, normalize_name
from ..stores.knowledge import KnowledgeStore
from .unit import Unit, snapshot

LEGAL_WORDS = frozenset(
    "the inc incorporated corp corporation co company ltd limited llc plc gmbh ag sa bv".split()
)
KNOWLEDGE_CHUNK = 100
REINDEX_CHUNK = 100  # items embedded in one call and written to the index in one request
# `within` for the reindex phase: "reindex#" then the position of the last item done ("e#<entity
# id>" or "i#<insight id>"); an insight id, dedupe_knowledge's position, never starts with it.
REINDEX = "reindex#"
NEIGHBOURS = 4


def canonical(name: str) -> str:
    words = normalize_name(name).split()
    kept = [w for w in words if w not in LEGAL_WORDS]
    return " ".join(kept or words)


@dataclass
class NamespaceCuration:
    entities: EntityStore
    knowledge: KnowledgeStore
    indexer: Indexer

    def run(self, unit: Unit, namespace: str, within: str | None) -> str | None:
        """Curate from `within` (None: from the start); returns where to go on, or None when done."""
        if within is None:
            if unit.wants("merge_entities"):
                unit.retrying(lambda: self.merge_entities(unit, namespace))
            if unit.wants("prune_history"):
                unit.retrying(lambda: self.prune_facts(unit, namespace))
        if within is None or not within.startswith(REINDEX):
            if unit.wants("dedupe_knowledge"):
                after = self.dedupe_knowledge(unit, namespace, within or "")
                if after is not None:
                    return after
            within = REINDEX
        if unit.wants("reindex"):
            done = self.reindex(unit, namespace, within.removeprefix(REINDEX))
            return REINDEX + done if done is not None else None
        return None

    # -- entities -----------------------------------------------------------------------------
    def merge_entities(self, unit: Unit, namespace: str) -> None:
        entities = sorted(self.entities.in_namespace(unit.tenant, namespace), key=lambda e: e.created_at)
        while pair := _duplicate_pair(entities):
            first, second, name = pair
            survivor, other = self._merge_pair(unit, namespace, first, second, name)
            # Go on from the merged value (also in a dry run, so the plan is the one a run would make).
            entities = [
                survivor if e.entity_id == survivor.entity_id else e for e in entities if e is not other
            ]

    def _merge_pair(
        self, unit: Unit, namespace: str, a: Entity, b: Entity, name: str
    ) -> tuple[Entity, Entity]:
        survivor, other = sorted((a, b), key=lambda e: (-(len(e.facts) + len(e.events)), e.created_at))
        reason = f"'{survivor.name}' and '{other.name}' are the same name ('{canonical(name)}')"
        first_source = next((f.provenance for f in other.facts), None) or unit.provenance()
        merged = absorb(
            survivor,
            other,
            MergedItem(
                item_id=other.entity_id,
                content=other.name,
                provenance=first_source,
                job_id=unit.job.job_id,
                merged_at=unit.now,
            ),
        ).model_copy(update={"version": survivor.version + 1, "updated_at": unit.now})
        edges = self.entities.relationships(unit.tenant, namespace, other.entity_id)
        own_edges = self.entities.relationships(unit.tenant, namespace, survivor.entity_id)
        record = unit.change(
            "merge_entities",
            survivor.entity_id,
            reason,
            kept=survivor.entity_id,
            removed=[other.entity_id],
            before=[
                snapshot("entity", survivor),
                snapshot("entity", other),
                *(snapshot("edge", edge) for edge in edges),
                *(snapshot("survivor_edge", edge) for edge in own_edges),
            ],
            namespace=namespace,
        )
        if unit.dry_run:
            unit.commit([], record)
            return merged, other
        # Edges first (idempotent puts): once the transaction removes `other`, its edges are the
        # survivor's. Then the old ends go; a crash in between leaves only duplicates of live edges.
        own = {edge_key(edge) for edge in own_edges}
        for edge in edges:
            moved = moved_edge(edge, other.entity_id, survivor)
            if moved.source_id != moved.target_id and edge_key(moved) not in own:
                self.entities.relate(unit.tenant, namespace, moved)  # the survivor's own edge wins
        unit.commit(
            [
                self.entities.entity_put(unit.tenant, merged, survivor.version),
                self.entities.entity_delete(unit.tenant, other),
                *self.entities.name_puts(unit.tenant, merged, taking_over_from=other.entity_id),
            ],
            record,
        )
        for edge in edges:
            self.entities.unrelate(unit.tenant, namespace, edge)
        self.indexer.put_entities(unit.tenant, [merged])
        self.indexer.remove(unit.tenant, [entity_doc_id(other.entity_id)])
        return merged, other

    def prune_facts(self, unit: Unit, namespace: str) -> None:
        days = unit.curation.history_retention_days
        cutoff = unit.days_ago(days)
        for entity in self.entities.in_namespace(unit.tenant, namespace):
            expired = [f for f in entity.facts if f.valid_to is not None and f.valid_to < cutoff]
            if not expired:
                continue
            gone = {f.fact_id for f in expired}
            kept = entity.model_copy(
                update={
                    "facts": [f for f in entity.facts if f.fact_id not in gone],
                    "version": entity.version + 1,
                    "updated_at": unit.now,
                }
            )
            record = unit.change(
                "prune_facts",
                entity.entity_id,
                f"{len(gone)} facts of '{entity.name}' superseded more than {days} days ago",
                kept=entity.entity_id,
                removed=sorted(gone),
                before=[snapshot("entity", entity)],
                namespace=namespace,
            )
            unit.commit([self.entities.entity_put(unit.tenant, kept, entity.version)], record)

    # -- knowledge ----------------------------------------------------------------------------
    def dedupe_knowledge(self, unit: Unit, namespace: str, after: str) -> str | None:
        """One chunk of insights (ids after `after`, one query); returns the last id read, or None
        at the end."""
        read = self.knowledge.page(unit.tenant, namespace, after, KNOWLEDGE_CHUNK)
        chunk = [i for i in read if i.status == "active"]
        if not chunk:
            return read[-1].insight_id if len(read) == KNOWLEDGE_CHUNK else None
        threshold = unit.config.stores.learned_knowledge.duplicate_similarity
        vectors = unit.embed([embedded_insight_text(i) for i in chunk])
        gone: set[str] = set()
        for insight, vector in zip(chunk, vectors, strict=True):
            if insight.insight_id in gone:
                continue
            hits = self.indexer.search(
                unit.tenant,
                [namespace],
                [KNOWLEDGE],
                insight_text(insight),
                limit=NEIGHBOURS,
                mode="vector",
                vector=vector,
            )
            twins = [
                (hit.payload["insight_id"], hit.similarity or 0.0)
                for hit in hits
                if hit.payload.get("insight_id") not in (insight.insight_id, *gone)
                and (hit.similarity or 0.0) >= threshold
            ]
            if twins:
                gone |= self._merge_insights(unit, namespace, insight.insight_id, twins)
        return read[-1].insight_id if len(read) == KNOWLEDGE_CHUNK else None

    def _merge_insights(
        self, unit: Unit, namespace: str, insight_id: str, twins: list[tuple[str, float]]
    ) -> set[str]:
        found = [self.knowledge.get(unit.tenant, namespace, i) for i in [insight_id, *(t for t, _ in twins)]]
        group = [i for i in found if i is not None and i.status == "active"]
        if len(group) < 2:
            return set()
        survivor = max(group, key=lambda i: (i.updated_at, i.insight_id))
        others = [i for i in group if i.insight_id != survivor.insight_id]
        similarity = round(min(score for _, score in twins), 3)
        reason = f"{len(group)} insights with similarity >= {similarity}; kept the most recently updated"
        merged = survivor.model_copy(
            update={
                "tags": sorted({t for i in group for t in i.tags}),
                "merged": [*survivor.merged, *(_merged_insight(unit, i) for i in others)],
                "version": survivor.version + 1,
                "updated_at": unit.now,
            }
        )
        record = unit.change(
            "merge_insights",
            survivor.insight_id,
            reason,
            kept=survivor.insight_id,
            removed=[i.insight_id for i in others],
            before=[snapshot("insight", i) for i in [survivor, *others]],
            namespace=namespace,
        )
        try:
            unit.commit(
                [
                    self.knowledge.insight_put(unit.tenant, merged, survivor.version),
                    *(self.knowledge.insight_delete(unit.tenant, i) for i in others),
                ],
                record,
            )
        except WriteConflictError:
            unit.conflicts += 1  # one of them changed meanwhile: the next run looks again
            return set()
        if not unit.dry_run:
            self.indexer.put_insights(unit.tenant, [merged], unit.embed([embedded_insight_text(merged)]))
            self.indexer.remove(unit.tenant, [insight_doc_id(i.insight_id) for i in others])
        return {i.insight_id for i in others}

    # -- the index -------------------------------------------------------------------------------
    def reindex(self, unit: Unit, namespace: str, after: str) -> str | None:
        """The next chunk of the namespace's entities, then of its insights (active and pending: what
        the index holds), after position `after`, embedded again from their stored text with the
        configured embedder and written to the index: after a change of embedding model (of the same
        dimension) or of what the vectors are computed from. Each chunk is one query, one embedding
        call and one index write. Returns the position reached, or None past the last insight."""
        kind, _, last = after.partition("#")
        if kind in ("", "e"):
            entities = self.entities.page(unit.tenant, namespace, last, REINDEX_CHUNK)
            if entities:
                self._reindex_chunk(unit, namespace, entities, [])
                return f"e#{entities[-1].entity_id}"
            last = ""
        read = self.knowledge.page(unit.tenant, namespace, last, REINDEX_CHUNK)
        if not read:
            return None
        self._reindex_chunk(unit, namespace, [], [i for i in read if i.status in ("active", "pending")])
        return f"i#{read[-1].insight_id}"

    def _reindex_chunk(
        self, unit: Unit, namespace: str, entities: list[Entity], insights: list[Insight]
    ) -> None:
        if not entities and not insights:
            return
        if not unit.dry_run:
            vectors = unit.embed(
                [entity_text(e) for e in entities] + [embedded_insight_text(i) for i in insights]
            )
            self.indexer.put_entities(unit.tenant, entities, vectors[: len(entities)])
            self.indexer.put_insights(unit.tenant, insights, vectors[len(entities) :])
        first = f"e#{entities[0].entity_id}" if entities else f"i#{insights[0].insight_id}"
        reason = (
            f"{len(entities)} entities and {len(insights)} insights embedded with "
            f"{unit.embedder.name} and indexed again"
        )
        unit.commit([], unit.change("reindex", first, reason, namespace=namespace))


def edge_key(edge: Relationship) -> tuple[str, str, str]:
    return edge.source_id, edge.relation, edge.target_id


def moved_edge(edge: Relationship, old_id: str, survivor: Entity) -> Relationship:
    """The edge with the merged-away end replaced by the survivor."""
    source, target = edge.source_id == old_id, edge.target_id == old_id
    return edge.model_copy(
        update={
            "source_id": survivor.entity_id if source else edge.source_id,
            "target_id": survivor.entity_id if target else edge.target_id,
            "source_name": survivor.name if source else edge.source_name,
            "target_name": survivor.name if target else edge.target_name,
        }
    )


def _duplicate_pair(entities: list[Entity]) -> tuple[Entity, Entity, str] | None:
    owners: dict[str, list[Entity]] = {}
    for entity in entities:
        for name in entity.names():
            seen = owners.setdefault(canonical(name), [])
            for first in seen:
                if first.entity_id != entity.entity_id and _compatible(first, entity):
                    return first, entity, name
            if all(e.entity_id != entity.entity_id for e in seen):
                seen.append(entity)
    return None


def _compatible(a: Entity, b: Entity) -> bool:
    return a.entity_type == b.entity_type or "other" in (a.entity_type, b.entity_type)


def _merged_insight(unit: Unit, insight: Insight) -> MergedItem:
    return MergedItem(
        item_id=insight.insight_id,
        content=f"{insight.title}: {insight.content}",
        provenance=insight.provenance,
        job_id=unit.job.job_id,
        merged_at=unit.now,
    )
