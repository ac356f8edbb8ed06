"""Search across stores: the user's memories ranked in process, entities and knowledge in one
index query; scores are normalized to [0, 1] so one list can hold them."""

from __future__ import annotations

from dataclasses import dataclass

from .indexing import ENTITY, KNOWLEDGE, Indexer
from .models.config import TenantConfig
from .models.memories import Provenance
from .models.search import SearchRequest, SearchResponse, SearchResult, StoreName
from .namespaces import search_scope
from .ranking import bm25_scores
from .stores.user_memory import UserMemoryStore


@dataclass
class SearchService:
    users: UserMemoryStore
    indexer: Indexer

    def search(self, tenant: str, config: TenantConfig, request: SearchRequest) -> SearchResponse:
        stores = self._enabled(config, request.stores)
        results: list[SearchResult] = []
        if "memories" in stores and request.user_id:
            results += self._memories(tenant, request.user_id, request.query, request.limit)
        kinds = [kind for store, kind in (("entities", ENTITY), ("knowledge", KNOWLEDGE)) if store in stores]
        if kinds:
            namespaces = sorted(
                {
                    *search_scope(config.stores.entity_memory.namespace, request.user_id, request.namespace),
                    *search_scope(
                        config.stores.learned_knowledge.namespace, request.user_id, request.namespace
                    ),
                }
            )
            for hit in self.indexer.search(tenant, namespaces, kinds, request.query, request.limit):
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
        results.sort(key=lambda r: r.score, reverse=True)
        return SearchResponse(query=request.query, results=results[: request.limit])

    def _memories(self, tenant: str, user_id: str, query: str, limit: int) -> list[SearchResult]:
        """Keyword-ranked in process; scores normalized to (0, 1] like the index's fused scores."""
        memories = self.users.load(tenant, user_id).memories
        scores = bm25_scores(query, [m.content for m in memories])
        ranked = sorted((s, i) for i, s in enumerate(scores) if s > 0)[::-1][:limit]
        top = ranked[0][0] if ranked else 1.0
        return [
            SearchResult(
                store="memories",
                id=memories[i].memory_id,
                score=round(score / top, 6),
                content=memories[i].content,
                provenance=memories[i].provenance,
                details={
                    "layer": memories[i].layer,
                    "category": memories[i].category,
                    "bm25": round(score, 4),
                },
            )
            for score, i in ranked
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
