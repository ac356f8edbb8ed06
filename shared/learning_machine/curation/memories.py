"""A user's memories: merge near-duplicates, prune by the layer rules, give a vector to those
without one, drop expired history.

Every plan is made from a consistent read and committed with version checks, one merge or one
group of prunes per transaction. When extraction (or an edit) wins a race, the plan is made
again from fresh state: neither side loses an update, and nothing is merged or pruned twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby, pairwise

from ..models.common import Layer
from ..models.memories import Memory, QueryVector
from ..models.memory_history import MemoryVersion
from ..models.provenance import MergedItem
from ..stores.changes import ChangeSet
from ..stores.keys import history_sk
from ..stores.user_memory import UserMemoryStore
from .similarity import similar_groups
from .unit import Unit, snapshot

MAX_MERGE = 40  # memories merged in one transaction (two items each, under DynamoDB's 100)
PRUNES_PER_COMMIT = 30
HISTORY_DELETES_PER_COMMIT = 90
EMBEDS_PER_COMMIT = 50  # vectors stored in one transaction
# A stored vector at least this close to its text's fresh one is that embedder's: storing it in
# one byte a dimension moves the cosine by about 0.002; another model's vector lands far below.
SAME_VECTOR = 0.99


@dataclass
class MemoryCuration:
    users: UserMemoryStore
    table: str

    def run(self, unit: Unit, user: str) -> None:
        if unit.wants("merge_memories"):
            unit.retrying(lambda: self.merge(unit, user))
        if unit.wants("prune_memories"):
            unit.retrying(lambda: self.prune(unit, user))
        if unit.wants("embed_memories"):
            unit.retrying(lambda: self.embed(unit, user))
        if unit.wants("prune_history"):
            self.prune_history(unit, user)

    # -- merge --------------------------------------------------------------------------------
    def merge(self, unit: Unit, user: str) -> None:
        state = self.users.load(unit.tenant, user, consistent=True)
        for layer in Layer:
            memories = sorted(
                (m for m in state.memories if m.layer == layer),
                key=lambda m: (m.category or "", m.created_at),
            )
            if len(memories) < 2:
                continue
            vectors = unit.embed([m.content for m in memories])
            polarity = [m.polarity or "" for m in memories]
            for members, weakest in similar_groups(vectors, unit.curation.memory_merge_similarity, polarity):
                group = [memories[i] for i in members][:MAX_MERGE]
                self._merge_group(unit, user, group, weakest)

    def _merge_group(self, unit: Unit, user: str, group: list[Memory], similarity: float) -> None:
        # The most recently used memory survives unchanged: no text is rewritten by curation.
        survivor = max(group, key=lambda m: (m.last_used_at, m.confirmations, m.memory_id))
        absorbed = [m for m in group if m.memory_id != survivor.memory_id]
        reason = (
            f"{len(group)} memories of layer {survivor.layer.value} with similarity >= {similarity}; "
            f"kept the most recently used"
        )
        provenance = unit.provenance()
        merged = survivor.model_copy(
            update={
                "merged": [
                    *survivor.merged,
                    *(
                        MergedItem(
                            item_id=m.memory_id,
                            content=m.content,
                            provenance=m.provenance,
                            job_id=unit.job.job_id,
                            merged_at=unit.now,
                        )
                        for m in absorbed
                    ),
                    *(item for m in absorbed for item in m.merged),
                ],
                "confirmations": survivor.confirmations + sum(m.confirmations + 1 for m in absorbed),
                "version": survivor.version + 1,
                "updated_at": unit.now,
            }
        )
        changes = ChangeSet(self.table, unit.tenant, user)
        changes.update_memory(survivor, merged, change="merged", reason=reason, by=provenance)
        for memory in absorbed:
            changes.delete_memory(
                memory, provenance, change="merged", merged_into=survivor.memory_id, reason=reason
            )
        record = unit.change(
            "merge_memories",
            survivor.memory_id,
            reason,
            kept=survivor.memory_id,
            removed=[m.memory_id for m in absorbed],
            before=[snapshot("memory", m) for m in [survivor, *absorbed]],
            user_id=user,
        )
        unit.commit_memory_changes(changes, [record])

    # -- prune ---------------------------------------------------------------------------------
    def prune(self, unit: Unit, user: str) -> None:
        state = self.users.load(unit.tenant, user, consistent=True)
        doomed: list[tuple[Memory, str]] = []
        for layer in Layer:
            rule = unit.curation.retention(layer)
            memories = [m for m in state.memories if m.layer == layer]
            if rule.max_age_days is not None:
                cutoff = unit.days_ago(rule.max_age_days)
                for memory in memories:
                    if memory.last_used_at < cutoff:
                        doomed.append((memory, f"not written or confirmed for {rule.max_age_days} days"))
                memories = [m for m in memories if m.last_used_at >= cutoff]
            if rule.max_count is not None and len(memories) > rule.max_count:
                if rule.prune_order == "least_confirmed":
                    memories.sort(key=lambda m: (m.confirmations, m.last_used_at), reverse=True)
                else:
                    memories.sort(key=lambda m: m.last_used_at, reverse=True)
                order = rule.prune_order.replace("_", " ")
                for memory in memories[rule.max_count :]:
                    doomed.append(
                        (memory, f"layer {layer.value} over its maximum of {rule.max_count}; {order} first")
                    )
        for start in range(0, len(doomed), PRUNES_PER_COMMIT):
            self._prune_group(unit, user, doomed[start : start + PRUNES_PER_COMMIT])

    def _prune_group(self, unit: Unit, user: str, doomed: list[tuple[Memory, str]]) -> None:
        changes = ChangeSet(self.table, unit.tenant, user)
        records = []
        for memory, reason in doomed:
            changes.delete_memory(memory, unit.provenance(), change="pruned", reason=reason)
            records.append(
                unit.change(
                    "prune_memory",
                    memory.memory_id,
                    reason,
                    removed=[memory.memory_id],
                    before=[snapshot("memory", memory)],
                    user_id=user,
                )
            )
        unit.commit_memory_changes(changes, records)

    # -- vectors -------------------------------------------------------------------------------
    def embed(self, unit: Unit, user: str) -> None:
        """Every memory gets the vector the configured embedder gives its text, where the stored one
        is missing (written before memories were embedded) or is another's: another dimension, or
        another model of the same dimension (the hashing fallback and MiniLM both make 384), which
        no length check can tell. The texts' vectors are the ones merge_memories already computed in
        this unit. Text, version and history do not change; a memory changed meanwhile fails its
        condition and the plan is made again."""
        state = self.users.load(unit.tenant, user, consistent=True)
        fresh = unit.embed([m.content for m in state.memories])
        stale = [
            (memory, vector)
            for memory, vector in zip(state.memories, fresh, strict=True)
            if not _stored_vector_is(memory, vector)
        ]
        for start in range(0, len(stale), EMBEDS_PER_COMMIT):
            group = stale[start : start + EMBEDS_PER_COMMIT]
            for memory, vector in group:
                memory.with_packed_embedding(None).vector = vector
            memories = [memory for memory, _ in group]
            record = unit.change(
                "embed_memories",
                memories[0].memory_id,
                f"{len(memories)} memories without the vector {unit.embedder.name} gives their text",
                user_id=user,
            )
            unit.commit(self.users.vector_sets(unit.tenant, user, memories), record)

    # -- history retention ---------------------------------------------------------------------
    def prune_history(self, unit: Unit, user: str) -> None:
        """Superseded versions whose validity ended before the retention, and every version of a
        memory removed before it. The current version of a current memory is never touched."""
        cutoff = unit.days_ago(unit.curation.history_retention_days)
        expired: list[MemoryVersion] = []
        versions = self.users.all_versions(unit.tenant, user)
        for _, group in groupby(versions, key=lambda v: v.memory_id):
            chain = list(group)
            last = chain[-1]
            removed = last.change in ("deleted", "pruned") or last.merged_into is not None
            if removed and last.provenance.recorded_at < cutoff:
                expired.extend(chain)
            else:
                expired.extend(older for older, newer in pairwise(chain) if newer.valid_from < cutoff)
        for start in range(0, len(expired), HISTORY_DELETES_PER_COMMIT):
            batch = expired[start : start + HISTORY_DELETES_PER_COMMIT]
            keys = [history_sk(v.memory_id, v.version) for v in batch]
            record = unit.change(
                "prune_history",
                keys[0],
                f"superseded or removed more than {unit.curation.history_retention_days} days ago",
                removed=keys,
                before=[snapshot("memory_version", v) for v in batch],
                user_id=user,
            )
            deletes = self.users.history_deletes(unit.tenant, user, batch)
            unit.commit(deletes, record)


def _stored_vector_is(memory: Memory, vector: list[float]) -> bool:
    """Whether the stored vector is this one (a vector of another length scores 0.0)."""
    similarity = memory.similarity(QueryVector.of(vector))
    return similarity is not None and similarity >= SAME_VECTOR
