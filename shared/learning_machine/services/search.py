"""Search across stores: the user's memories scored in process, entities and knowledge in one
index query, every result on the one calibrated scale of `scoring.relevance`, so one list ranks
them all and `min_score` means the same whichever store a result comes from."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from ..core.namespaces import search_scope
from ..core.ranking import memory_scores
from ..models.api.provenance import Provenance
from ..models.config import TenantConfig
from ..models.memories import Memory
from ..models.search import SearchRequest, SearchResponse, SearchResult, StoreName
from ..stores.user_memory import UserMemoryStore
from .indexing import ENTITY, KNOWLEDGE, EmbeddedQuery, Indexer


@dataclass
class SearchService:
    users: UserMemoryStore
    indexer: Indexer

    def search(self, tenant: str, config: TenantConfig, request: SearchRequest) -> SearchResponse:
        stores = self._enabled(config, request.stores)
        memories: list[Memory] = []
        if "memories" in stores and request.user_id:
            memories = self.users.read(tenant, request.user_id).memories
        kinds = [kind for store, kind in (("entities", ENTITY), ("knowledge", KNOWLEDGE)) if store in stores]
        # One embedding call for the query (and its clauses) serves the memories and the index query.
        query = (
            self.indexer.embed_query(request.query)
            if kinds or any(m.has_embedding for m in memories)
            else None
        )
        results = self._memories(memories, request, query)
        if kinds:
            namespaces = sorted(
                {
                    *search_scope(config.stores.entity_memory.namespace, request.user_id, request.namespace),
                    *search_scope(
                        config.stores.learned_knowledge.namespace, request.user_id, request.namespace
                    ),
                }
            )
            hits = self.indexer.search(
                tenant,
                namespaces,
                kinds,
                request.query,
                request.limit,
                vector=query.vector if query else None,
                clauses=query.clauses if query else (),
            )
            for hit in hits:
                payload = hit.payload
                if hit.kind == ENTITY:
                    results.append(
                        SearchResult(
                            store="entities",
                            id=payload["entity_id"],
                            score=hit.score,
                            title=payload["name"],
                            content="; ".join(payload.get("facts") or [])
                            or (payload.get("description") or ""),
                            namespace=hit.namespace,
                            details={"entity_type": payload.get("entity_type")},
                        )
                    )
                else:
                    results.append(
                        SearchResult(
                            store="knowledge",
                            id=payload["insight_id"],
                            score=hit.score,
                            title=payload["title"],
                            content=payload["content"],
                            namespace=hit.namespace,
                            provenance=Provenance.model_validate(payload["provenance"]),
                            details={"tags": payload.get("tags", []), "source": payload.get("source")},
                        )
                    )
        kept = [r for r in results if r.score >= request.min_score]
        kept.sort(key=lambda r: (-r.score, r.store, r.id))
        return SearchResponse(query=request.query, results=kept[: request.limit])

    @staticmethod
    def _memories(
        memories: list[Memory], request: SearchRequest, query: EmbeddedQuery | None
    ) -> list[SearchResult]:
        """The memories that can make the answer: at least `min_score` on the calibrated scale, the
        best `limit` of them (ties by id, as the merged list breaks them). Only those become
        results: with vectors most of a user's memories score above 0, and building hundreds of
        results to keep ten was most of a search's own time. The layer's authority plays no part
        here (it shapes the context block only)."""
        scored = [
            (score, memory)
            for memory, score in zip(
                memories,
                memory_scores(
                    request.query, memories, query.vector if query else None, query.clauses if query else ()
                ),
                strict=True,
            )
            if score > 0 and score >= request.min_score
        ]
        best = heapq.nsmallest(request.limit, scored, key=lambda pair: (-pair[0], pair[1].memory_id))
        return [
            SearchResult(
                store="memories",
                id=memory.memory_id,
                score=score,
                content=memory.content,
                provenance=Provenance.from_stored(memory.provenance),
                details={"layer": memory.layer, "category": memory.category},
            )
            for score, memory in best
        ]

    @staticmethod
    def _enabled(config: TenantConfig, requested: list[StoreName] | None) -> set[StoreName]:
        on: set[StoreName] = set()
        if config.stores.user_profile.enabled:
            on.add("memories")
        if config.stores.entity_memory.enabled:
            on.add("entities")
        if config.stores.learned_knowledge.enabled:
            on.add("knowledge")
        return on & set(requested) if requested else on
