"""Everything held about one user: export it, or forget it everywhere.

"Everywhere" is the data table (profile, memories and their history, sessions, transcript
records), the user's private entity and knowledge namespaces, their documents in the knowledge
index, and the idempotency records their transcripts left in the idempotency table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..core.namespaces import USER_PREFIX
from ..models.api import knowledge as api_knowledge
from ..models.api.entities import Entity, Relationship
from ..models.api.memories import Memory, MemoryVersion
from ..models.api.profile import UserProfile
from ..models.api.sessions import SessionContext
from ..models.api.transcripts import TranscriptStatus
from ..models.export import ForgetReport, UserExport
from ..models.knowledge import Insight
from ..settings import Settings
from ..stores.entities import EntityStore
from ..stores.idempotency import record_keys
from ..stores.idempotency_records import IdempotencyRecords
from ..stores.knowledge import KnowledgeStore
from ..stores.registry import Registry
from ..stores.user_memory import UserMemoryStore
from ..stores.user_records import UserRecordStore
from .indexing import Indexer


@dataclass
class UserData:
    settings: Settings
    users: UserMemoryStore
    records: UserRecordStore
    entities: EntityStore
    knowledge: KnowledgeStore
    indexer: Callable[[], Indexer]

    def export(self, tenant: str, user: str) -> UserExport | None:
        state = self.users.load(tenant, user)
        linked = self.records.load(tenant, user)
        namespace = f"{USER_PREFIX}{user}"
        entities = self.entities.in_namespace(tenant, namespace)
        insights: list[Insight] = self.knowledge.in_namespace(tenant, namespace)
        if not (state.exists or linked.found or entities or insights):
            return None
        return UserExport(
            user_id=user,
            profile=UserProfile.from_stored(state.profile),
            memories=[Memory.from_stored(m) for m in state.memories],
            memory_history=[MemoryVersion.from_stored(v) for v in self.users.all_versions(tenant, user)],
            sessions=[SessionContext.from_stored(s) for s in linked.sessions],
            transcripts=[TranscriptStatus.from_stored(t) for t in linked.transcripts],
            entities=[Entity.from_stored(e) for e in entities],
            relationships=[
                Relationship.from_stored(r)
                for e in entities
                for r in self.entities.relationships(tenant, namespace, e.entity_id)
            ],
            insights=[api_knowledge.Insight.from_stored(i) for i in insights],
        )

    def forget(self, tenant: str, user: str) -> ForgetReport | None:
        linked = self.records.keys(tenant, user)
        keys = linked.keys + self.users.partition_keys(tenant, user)
        namespace = f"{USER_PREFIX}{user}"
        entities = self.entities.delete_namespace(tenant, namespace)
        insights = self.knowledge.in_namespace(tenant, namespace)
        for insight in insights:
            self.knowledge.delete(tenant, namespace, insight.insight_id)
        if not (keys or entities or insights):
            return None
        registry = Registry(self.settings.data_table)
        registry.remove_user(tenant, user)
        registry.remove_namespace(tenant, namespace)
        deleted = self.records.delete(keys)
        idempotency = record_keys(self.settings, tenant, linked.transcript_ids)
        IdempotencyRecords(self.settings.idempotency_table).delete(idempotency)
        self.indexer().remove_namespace(tenant, namespace)
        return ForgetReport(
            user_id=user,
            items_deleted=deleted + entities + len(insights),
            idempotency_records_deleted=len(idempotency),
            index_namespace_cleared=namespace,
        )
