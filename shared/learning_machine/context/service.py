"""get-context: one query for the user's profile and memories, one read for the session, and at
most one index query for the entities and insights relevant to the query or the session.

The topic (the query, else the session's summary) is embedded once; that vector scores the
memories (read with their vectors in the one query) and serves the index query. Entities and
insights enter the block only when they score at least `min_score` on the calibrated scale: an
unrelated query injects none. Memories are all candidates: relevance shaped by authority and
recency orders them, and the token budget cuts the tail."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..adapters.index.base import IndexHit, IndexUnavailableError
from ..core.namespaces import search_scope
from ..core.ranking import rank_memories
from ..core.scoring import DEFAULT_MIN_SCORE
from ..models.api.sessions import SessionContext
from ..models.common import Layer
from ..models.config import TenantConfig
from ..models.context import ContextMemory, ContextResponse
from ..models.memories import Memory
from ..services.indexing import ENTITY, KNOWLEDGE, EmbeddedQuery, Indexer
from ..stores.config import ConfigStore
from ..stores.sessions import SessionStore
from ..stores.user_memory import UserMemoryStore
from .render import render

logger = logging.getLogger(__name__)


class ContextService:
    def __init__(
        self,
        config: ConfigStore,
        users: UserMemoryStore,
        sessions: SessionStore,
        indexer: Callable[[], Indexer],
    ) -> None:
        self.config = config
        self.users = users
        self.sessions = sessions
        self.indexer = indexer  # built on first use: the index client and embedder are not free

    def build(
        self,
        tenant: str,
        user_id: str,
        session_id: str | None,
        query: str | None,
        max_tokens: int | None,
        *,
        min_score: float | None = None,
    ) -> ContextResponse:
        config = self.config.get(tenant).config
        budget = max_tokens or config.context.max_tokens
        profile_store = config.stores.user_profile
        session_store = config.stores.session_context
        fields: dict[str, object] = {}
        memories: list[Memory] = []
        if profile_store.enabled and profile_store.add_to_context:
            state = self.users.read(tenant, user_id)
            fields = state.profile.fields
            layers = set(profile_store.enabled_layers())
            memories = [m for m in state.memories if m.layer in layers]
        session = None
        if session_id and session_store.enabled and session_store.add_to_context:
            session = self.sessions.get(tenant, session_id)
            if session and session.user_id != user_id:
                session = None  # another user's session is indistinguishable from none
        topic = query or (session.summary if session else None)
        threshold = DEFAULT_MIN_SCORE if min_score is None else min_score
        kinds = self._wanted(config)
        embedded = None
        if topic and (any(kinds.values()) or any(m.has_embedding for m in memories)):
            embedded = self.indexer().embed_query(topic)
        hits, degraded = self._index_hits(tenant, config, user_id, topic, embedded, kinds, threshold)
        ranked = rank_memories(
            memories,
            topic,
            query_vector=embedded.vector if embedded else None,
            clauses=embedded.clauses if embedded else (),
        )
        rendered = render(fields, ranked, session, budget, hits)
        by_layer: dict[Layer, list[ContextMemory]] = {}
        for memory in rendered.kept_memories:
            by_layer.setdefault(memory.layer, []).append(ContextMemory.from_stored(memory))
        return ContextResponse(
            user_id=user_id,
            session_id=session_id,
            xml=rendered.xml,
            profile=rendered.kept_fields,
            memories=by_layer,
            session=SessionContext.from_stored(session) if session and rendered.session_kept else None,
            entities=[h.payload for h in rendered.kept_hits if h.kind == ENTITY],
            knowledge=[h.payload for h in rendered.kept_hits if h.kind == KNOWLEDGE],
            tokens=rendered.tokens,
            max_tokens=budget,
            dropped=rendered.dropped,
            degraded=degraded,
        )

    @staticmethod
    def _wanted(config: TenantConfig) -> dict[str, int]:
        """How many entities and insights the block may hold (0: the store is off or not in context)."""
        entity_store = config.stores.entity_memory
        knowledge_store = config.stores.learned_knowledge
        return {
            ENTITY: entity_store.max_in_context
            if entity_store.enabled and entity_store.add_to_context
            else 0,
            KNOWLEDGE: knowledge_store.max_in_context
            if knowledge_store.enabled and knowledge_store.add_to_context
            else 0,
        }

    def _index_hits(
        self,
        tenant: str,
        config: TenantConfig,
        user_id: str,
        topic: str | None,
        embedded: EmbeddedQuery | None,
        wanted: dict[str, int],
        min_score: float,
    ) -> tuple[list[IndexHit], bool]:
        """One hybrid query for both stores; an unreachable index degrades the answer, never fails it."""
        entity_store = config.stores.entity_memory
        knowledge_store = config.stores.learned_knowledge
        kinds = [kind for kind, count in wanted.items() if count]
        if not topic or not kinds:
            return [], False
        namespaces = sorted(
            {
                *search_scope(entity_store.namespace, user_id),
                *search_scope(knowledge_store.namespace, user_id),
            }
        )
        try:
            hits = self.indexer().search(
                tenant,
                namespaces,
                kinds,
                topic,
                sum(wanted.values()),
                vector=embedded.vector if embedded else None,
                clauses=embedded.clauses if embedded else (),
            )
        except IndexUnavailableError:
            logger.warning("knowledge index unavailable; context without entities and knowledge")
            return [], True
        taken = dict.fromkeys(wanted, 0)
        kept = []
        for hit in hits:
            if hit.score >= min_score and taken[hit.kind] < wanted[hit.kind]:
                taken[hit.kind] += 1
                kept.append(hit)
        return kept, False
