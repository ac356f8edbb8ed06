"""Everything held about one user: export it, or forget it everywhere.

"Everywhere" is the data table (profile, memories and their history, sessions, transcript
records), the user's private entity and knowledge namespaces, their documents in the knowledge
index, and the idempotency records their transcripts left in the idempotency table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from .adapters import dynamodb
from .idempotency import record_keys
from .indexing import Indexer
from .models.export import ForgetReport, UserExport
from .models.knowledge import Insight
from .models.memories import MemoryVersion
from .models.sessions import SessionContext
from .models.transcripts import TranscriptStatus
from .namespaces import USER_PREFIX
from .settings import Settings
from .stores.entities import EntityStore
from .stores.keys import SESSION_SK, STATUS_SK, USER_INDEX, history_pk, user_pk
from .stores.knowledge import KnowledgeStore
from .stores.registry import Registry
from .stores.user_memory import UserMemoryStore


@dataclass
class UserData:
    settings: Settings
    users: UserMemoryStore
    entities: EntityStore
    knowledge: KnowledgeStore
    indexer: Callable[[], Indexer]

    def _by_user(self, tenant: str, user: str) -> list[dict[str, Any]]:
        """Keys of the user's sessions and transcript records (the by-user index holds keys only)."""
        return dynamodb.query_all(
            self.settings.data_table,
            IndexName=USER_INDEX,
            KeyConditionExpression=Key("gsi1pk").eq(user_pk(tenant, user)),
        )

    def export(self, tenant: str, user: str) -> UserExport | None:
        state = self.users.load(tenant, user)
        linked = self._by_user(tenant, user)
        table = dynamodb.table(self.settings.data_table)
        sessions: list[SessionContext] = []
        transcripts: list[TranscriptStatus] = []
        for key in linked:
            item = table.get_item(Key={"pk": key["pk"], "sk": key["sk"]}).get("Item")
            if item and key["sk"] == SESSION_SK:
                sessions.append(dynamodb.load(SessionContext, item))
            elif item and key["sk"] == STATUS_SK:
                transcripts.append(dynamodb.load(TranscriptStatus, item))
        namespace = f"{USER_PREFIX}{user}"
        entities = self.entities.in_namespace(tenant, namespace)
        insights: list[Insight] = self.knowledge.in_namespace(tenant, namespace)
        if not (state.exists or linked or entities or insights):
            return None
        history = [
            dynamodb.load(MemoryVersion, raw)
            for raw in dynamodb.query_all(
                self.settings.data_table, KeyConditionExpression=Key("pk").eq(history_pk(tenant, user))
            )
        ]
        return UserExport(
            user_id=user,
            profile=state.profile,
            memories=state.memories,
            memory_history=history,
            sessions=sessions,
            transcripts=transcripts,
            entities=entities,
            relationships=[
                r for e in entities for r in self.entities.relationships(tenant, namespace, e.entity_id)
            ],
            insights=insights,
        )

    def forget(self, tenant: str, user: str) -> ForgetReport | None:
        linked = self._by_user(tenant, user)
        transcript_ids = [
            str(k["gsi1sk"]).removeprefix("TRANSCRIPT#") for k in linked if k["sk"] == STATUS_SK
        ]
        keys: list[dict[str, Any]] = [{"pk": k["pk"], "sk": k["sk"]} for k in linked]
        for pk in (user_pk(tenant, user), history_pk(tenant, user)):
            keys += [
                {"pk": i["pk"], "sk": i["sk"]}
                for i in dynamodb.query_all(
                    self.settings.data_table,
                    KeyConditionExpression=Key("pk").eq(pk),
                    ProjectionExpression="pk, sk",
                )
            ]
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
        deleted = dynamodb.delete_keys(self.settings.data_table, keys)
        idempotency = record_keys(self.settings, tenant, transcript_ids)
        dynamodb.delete_keys(self.settings.idempotency_table, [{"id": key} for key in idempotency])
        self.indexer().remove_namespace(tenant, namespace)
        return ForgetReport(
            user_id=user,
            items_deleted=deleted + entities + len(insights),
            idempotency_records_deleted=len(idempotency),
            index_namespace_cleared=namespace,
        )
