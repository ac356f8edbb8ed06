"""Learned knowledge: save (deduplicated), propose -> approve / reject, bulk import, search.

A proposal is stored as pending and indexed as pending, and the index never returns pending
documents: until a human approves it, no search and no context can see it. Rejection keeps
the proposal with its review for audit and removes it from the index.
Every insight is built in `_new`, which redacts secrets first: save, propose and import, from
the API, the tools or extraction, store, embed and index only redacted text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..adapters.index.base import IndexUnavailableError
from ..core.errors import ConflictError, NotFoundError
from ..core.ids import new_id, stable_id
from ..core.redaction import redact_optional, redact_text
from ..models.common import utc_now
from ..models.knowledge import ImportItem, ImportResult, Insight, InsightIn, Review, Status
from ..models.provenance import Provenance
from ..stores.knowledge import KnowledgeStore
from .indexing import KNOWLEDGE, Indexer, embedded_insight_text, insight_doc_id, insight_text


class UnknownInsightError(NotFoundError, LookupError):
    what, argument = "proposal", "insight_id"  # only proposals are looked up by id to decide them


class NotPendingError(ConflictError, ValueError):
    argument = "insight_id"

    def __init__(self, insight: Insight) -> None:
        super().__init__(f"insight {insight.insight_id} is {insight.status}, not pending")
        self.insight = insight


@dataclass(frozen=True)
class Saved:
    """What a save did: the insight as stored, and whether it updated a near-duplicate."""

    insight: Insight
    deduplicated: bool
    similar_to: str | None = None


@dataclass
class LearnedKnowledge:
    store: KnowledgeStore
    indexer: Indexer

    def save(
        self,
        tenant: str,
        namespace: str,
        body: InsightIn,
        provenance: Provenance,
        duplicate_similarity: float,
        *,
        vector: Sequence[float] | None = None,
        insight_id: str | None = None,
    ) -> Saved:
        """Add an insight, or update the active one it nearly duplicates in the same namespace.

        `vector` spares the embedding call when the caller embedded a batch already; a stable
        `insight_id` makes re-saving the same insight (a retried extraction) update it even when
        the index never saw the first save.
        """
        insight = self._new(namespace, body, provenance, "active", insight_id)
        if vector is None:
            vector = self.indexer.embedder.embed([embedded_insight_text(insight)])[0]
        current = self.store.get(tenant, namespace, insight_id) if insight_id else None
        if current is None:
            try:
                similar = self.indexer.search(
                    tenant,
                    [namespace],
                    [KNOWLEDGE],
                    insight_text(insight),
                    limit=1,
                    mode="vector",
                    vector=vector,
                )
            except IndexUnavailableError:
                similar = []  # cannot check for a near-duplicate now: save it; the index write waits
            if similar and (similar[0].similarity or 0.0) >= duplicate_similarity:
                current = self.store.get(tenant, namespace, similar[0].payload["insight_id"])
        if current is not None and current.status == "active":
            updated = current.model_copy(
                update={
                    "title": insight.title,
                    "content": insight.content,
                    "context": insight.context or current.context,
                    "tags": sorted({*current.tags, *insight.tags}),
                    "source": insight.source or current.source,
                    "version": current.version + 1,
                    "updated_at": utc_now(),
                    "provenance": provenance,
                }
            )
            self.store.save(tenant, updated, current.version)
            self.indexer.put_insights(tenant, [updated], [vector])
            return Saved(insight=updated, deduplicated=True, similar_to=current.insight_id)
        self.store.save(tenant, insight, 0)
        self.indexer.put_insights(tenant, [insight], [vector])
        return Saved(insight=insight, deduplicated=False)

    def propose(self, tenant: str, namespace: str, body: InsightIn, provenance: Provenance) -> Insight:
        insight = self._new(namespace, body, provenance, "pending")
        self.store.save(tenant, insight, 0)
        self.indexer.put_insights(tenant, [insight])
        return insight

    def active(self, tenant: str, namespace: str) -> list[Insight]:
        """The namespace's approved insights, oldest first."""
        return sorted(self.store.in_namespace(tenant, namespace, "active"), key=lambda i: i.created_at)

    def proposals(self, tenant: str, namespace: str) -> list[Insight]:
        return sorted(self.store.in_namespace(tenant, namespace, "pending"), key=lambda i: i.created_at)

    def approve(self, tenant: str, namespace: str, insight_id: str, reviewer: str) -> Insight:
        current = self._pending(tenant, namespace, insight_id)
        approved = current.model_copy(
            update={
                "status": "active",
                "version": current.version + 1,
                "updated_at": utc_now(),
                "review": Review(decision="approved", reviewer=reviewer),
            }
        )
        self.store.save(tenant, approved, current.version)
        self.indexer.put_insights(tenant, [approved])
        return approved

    def reject(self, tenant: str, namespace: str, insight_id: str, reviewer: str, reason: str) -> Insight:
        current = self._pending(tenant, namespace, insight_id)
        rejected = current.model_copy(
            update={
                "status": "rejected",
                "version": current.version + 1,
                "updated_at": utc_now(),
                "review": Review(decision="rejected", reviewer=reviewer, reason=redact_text(reason)),
            }
        )
        self.store.save(tenant, rejected, current.version)
        self.indexer.remove(tenant, [insight_doc_id(insight_id)])
        return rejected

    def import_items(
        self, tenant: str, items: Sequence[tuple[str, ImportItem]], provenance: Provenance
    ) -> ImportResult:
        """Stored verbatim, no model call, one embedding call for the batch; idempotent per item id."""
        insights: list[Insight] = []
        updated = 0
        for namespace, item in items:
            insight_id = stable_id("k", namespace, item.item_id)
            current = self.store.get(tenant, namespace, insight_id)
            insight = self._new(namespace, item, provenance, "active", insight_id)
            if current is not None:
                insight = insight.model_copy(
                    update={"version": current.version + 1, "created_at": current.created_at}
                )
                updated += 1
            self.store.save(tenant, insight, current.version if current else 0)
            insights.append(insight)
        self.indexer.put_insights(tenant, insights)
        return ImportResult(
            imported=len(insights) - updated, updated=updated, insight_ids=[i.insight_id for i in insights]
        )

    def search(self, tenant: str, namespaces: Sequence[str], query: str, limit: int) -> list[Insight]:
        hits = self.indexer.search(tenant, namespaces, [KNOWLEDGE], query, limit)
        found = [self.store.get(tenant, hit.namespace, hit.payload["insight_id"]) for hit in hits]
        return [insight for insight in found if insight is not None and insight.status == "active"]

    def _pending(self, tenant: str, namespace: str, insight_id: str) -> Insight:
        insight = self.store.get(tenant, namespace, insight_id)
        if insight is None:
            raise UnknownInsightError(insight_id)
        if insight.status != "pending":
            raise NotPendingError(insight)
        return insight

    @staticmethod
    def _new(
        namespace: str, body: InsightIn, provenance: Provenance, status: Status, insight_id: str | None = None
    ) -> Insight:
        return Insight(
            insight_id=insight_id or new_id("k"),
            namespace=namespace,
            title=redact_text(body.title),
            content=redact_text(body.content),
            context=redact_optional(body.context),
            tags=list(body.tags),
            source=redact_optional(body.source),
            status=status,
            provenance=provenance,
        )
