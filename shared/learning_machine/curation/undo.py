"""Undo a curation job's changes from the snapshots its records hold.

Removed items come back under their own ids (a memory's history shows a 'restored' version);
a merge survivor goes back to its value before the merge only if nothing changed it since,
otherwise it keeps the newer value and only the merged items come back. Each record says
what its undo did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..models.common import utc_now
from ..models.curation import CurationChange, CurationJob
from ..models.entities import Entity, Relationship
from ..models.knowledge import Insight
from ..models.memories import Memory
from ..models.memory_history import MemoryVersion
from ..models.provenance import Provenance
from ..models.sessions import SessionContext
from ..services.indexing import Indexer
from ..stores.changes import ChangeSet, WriteConflictError, transact
from ..stores.curation import JobStore
from ..stores.entities import EntityStore
from ..stores.knowledge import KnowledgeStore
from ..stores.user_memory import UserMemoryStore
from .namespace import edge_key, moved_edge


def _items(change: CurationChange, kind: str) -> list[dict[str, Any]]:
    return [entry["item"] for entry in change.before if entry["kind"] == kind]


@dataclass
class Undo:
    table: str
    jobs: JobStore
    users: UserMemoryStore
    entities: EntityStore
    knowledge: KnowledgeStore
    indexer: Callable[[], Indexer]

    def revert(self, tenant: str, job: CurationJob, change: CurationChange) -> str:
        """Undo one recorded change; returns 'undone', 'partly_undone', 'kept' or 'skipped'."""
        assert job.undo_of is not None
        if not change.applied or change.undone:
            return "skipped"
        if change.kind in ("embed_memories", "reindex"):
            # A vector only mirrors its item's text, which curation did not change: nothing to undo.
            self._mark(tenant, job.undo_of, change, "vectors kept: they mirror the items' unchanged texts")
            return "kept"
        provenance = Provenance(source="curation", job_id=job.job_id)
        handlers = {
            "merge_memories": self._memories,
            "prune_memory": self._memories,
            "prune_history": self._history,
            "drop_session": self._session,
            "merge_entities": self._entities,
            "prune_facts": self._facts,
            "merge_insights": self._insights,
        }
        try:
            complete, note = handlers[change.kind](tenant, change, provenance)
        except WriteConflictError:
            complete, note = False, "changed while undoing; run the undo again"
        self._mark(tenant, job.undo_of, change, note)
        return "undone" if complete else "partly_undone"

    def _mark(self, tenant: str, job_id: str, change: CurationChange, note: str) -> None:
        self.jobs.put_change(tenant, job_id, change.model_copy(update={"undone": True, "undo_note": note}))

    # -- memories ------------------------------------------------------------------------------
    def _memories(self, tenant: str, change: CurationChange, provenance: Provenance) -> tuple[bool, str]:
        assert change.user_id is not None
        before = [Memory.model_validate(raw) for raw in _items(change, "memory")]
        kept = next((m for m in before if m.memory_id == change.kept), None)
        changes = ChangeSet(self.table, tenant, change.user_id)
        restored = 0
        for memory in before:
            if (
                memory.memory_id in change.removed
                and self.users.get_memory(tenant, change.user_id, memory.memory_id) is None
            ):
                # The tombstone took version + 1; the restored value is the next one.
                changes.restore_memory(
                    memory.model_copy(update={"version": memory.version + 2}),
                    reason=f"undo of curation change {change.key}",
                    by=provenance,
                )
                restored += 1
        note = f"restored {restored} of {len(change.removed)} memories"
        complete = restored == len(change.removed)
        if kept is not None:
            current = self.users.get_memory(tenant, change.user_id, kept.memory_id)
            if current is not None and current.version == kept.version + 1:
                reverted = kept.model_copy(update={"version": current.version + 1, "updated_at": utc_now()})
                changes.update_memory(
                    current, reverted, change="restored", reason="undo of a merge", by=provenance
                )
                note += "; the kept memory is back to its value before the merge"
            elif current is not None:
                unmerged = current.model_copy(
                    update={
                        "merged": [i for i in current.merged if i.item_id not in change.removed],
                        "version": current.version + 1,
                    }
                )
                changes.update_memory(
                    current, unmerged, change="restored", reason="undo of a merge", by=provenance
                )
                note += "; the kept memory changed since the merge and keeps its current value"
                complete = False
        changes.commit()
        return complete, note

    def _history(self, tenant: str, change: CurationChange, provenance: Provenance) -> tuple[bool, str]:
        assert change.user_id is not None
        versions = [MemoryVersion.model_validate(raw) for raw in _items(change, "memory_version")]
        items = self.users.history_puts(tenant, change.user_id, versions)
        if items:
            transact(items, "curation")
        return True, f"restored {len(items)} history versions"

    # -- sessions ------------------------------------------------------------------------------
    def _session(self, tenant: str, change: CurationChange, provenance: Provenance) -> tuple[bool, str]:
        session = SessionContext.model_validate(_items(change, "session")[0])
        changes = ChangeSet(self.table, tenant, session.user_id)
        changes.put_session(None, session)  # the layout extraction writes; only if it is still gone
        try:
            changes.commit()
        except WriteConflictError:
            return False, "the session is active again; its current context is kept"
        return True, "session context restored"

    # -- entities ------------------------------------------------------------------------------
    def _entities(self, tenant: str, change: CurationChange, provenance: Provenance) -> tuple[bool, str]:
        survivor_before, other = (Entity.model_validate(raw) for raw in _items(change, "entity"))
        edges = [Relationship.model_validate(raw) for raw in _items(change, "edge")]
        own = {edge_key(Relationship.model_validate(raw)) for raw in _items(change, "survivor_edge")}
        current = self.entities.get(tenant, survivor_before.namespace, survivor_before.entity_id)
        if current is None or current.version != survivor_before.version + 1:
            return False, "the kept entity changed since the merge; not undone"
        reverted = survivor_before.model_copy(
            update={"version": current.version + 1, "updated_at": utc_now()}
        )
        back = other.model_copy(update={"version": other.version + 1})
        transact(
            [
                self.entities.entity_put(tenant, reverted, current.version),
                self.entities.entity_put(tenant, back, 0),
                *self.entities.name_puts(tenant, back, taking_over_from=current.entity_id),
            ],
            "curation",
        )
        for edge in edges:
            moved = moved_edge(edge, other.entity_id, current)
            if moved.source_id != moved.target_id and edge_key(moved) not in own:
                self.entities.unrelate(tenant, other.namespace, moved)  # the survivor had it before
            self.entities.relate(tenant, other.namespace, edge)
        indexer = self.indexer()
        indexer.put_entities(tenant, [reverted, back])
        return True, f"'{other.name}' restored with {len(edges)} relationships"

    def _facts(self, tenant: str, change: CurationChange, provenance: Provenance) -> tuple[bool, str]:
        before = Entity.model_validate(_items(change, "entity")[0])
        current = self.entities.get(tenant, before.namespace, before.entity_id)
        if current is None:
            return False, "the entity is gone; facts not restored"
        present = {f.fact_id for f in current.facts}
        missing = [f for f in before.facts if f.fact_id in change.removed and f.fact_id not in present]
        updated = current.model_copy(
            update={"facts": current.facts + missing, "version": current.version + 1}
        )
        transact([self.entities.entity_put(tenant, updated, current.version)], "curation")
        return True, f"restored {len(missing)} superseded facts"

    # -- knowledge -----------------------------------------------------------------------------
    def _insights(self, tenant: str, change: CurationChange, provenance: Provenance) -> tuple[bool, str]:
        before = [Insight.model_validate(raw) for raw in _items(change, "insight")]
        kept, others = before[0], before[1:]
        items: list[dict[str, Any]] = []
        back = [i.model_copy(update={"version": i.version + 1}) for i in others]
        items += [self.knowledge.insight_put(tenant, i, 0) for i in back]
        current = self.knowledge.get(tenant, kept.namespace, kept.insight_id)
        complete = current is not None and current.version == kept.version + 1
        restored_kept: list[Insight] = []
        if current is not None and complete:
            restored_kept = [
                kept.model_copy(update={"version": current.version + 1, "updated_at": utc_now()})
            ]
            items.append(self.knowledge.insight_put(tenant, restored_kept[0], current.version))
        transact(items, "curation")
        self.indexer().put_insights(tenant, [*back, *restored_kept])
        note = f"restored {len(back)} insights"
        return complete, note if complete else note + "; the kept insight changed since and keeps its value"
