"""What entity memory and learned knowledge put in the knowledge index, and how they search it.

Documents are embedded in one batch per write; a search embeds its query (with its clauses, when it
asks several things: `core/clauses.py`) in one call and asks the index once (hybrid: keyword and
vector, fused the same way on every engine).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..adapters.embeddings.base import Embedder
from ..adapters.index.base import IndexDocument, IndexHit, IndexUnavailableError, KnowledgeIndex, SearchMode
from ..core.clauses import Clause, clauses_of
from ..core.date_words import with_dates_in_words
from ..core.query_meaning import meaning_text
from ..core.scoring import ScoreScale, scale_of
from ..core.statements import statements
from ..models.entities import Entity
from ..models.knowledge import Insight, InsightIn
from ..settings import Settings
from ..stores.outbox import IndexOutbox, PendingIndexWrite

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedQuery:
    """A query's vector and its clauses' (`core/clauses.py`), from one embedding call."""

    vector: list[float]
    clauses: tuple[Clause, ...] = ()


ENTITY = "entity"
KNOWLEDGE = "knowledge"
FACTS_IN_PAYLOAD = 5
# A delete is repeated this many visibility delays after it ran: a copy written just before it is
# searchable by then (OpenSearch Serverless: a 60 s refresh interval, so 2 minutes).
REPEAT_AFTER_DELAYS = 2.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def entity_doc_id(entity_id: str) -> str:
    return f"{ENTITY}:{entity_id}"


def insight_doc_id(insight_id: str) -> str:
    return f"{KNOWLEDGE}:{insight_id}"


def entity_text(entity: Entity) -> str:
    facts = " ".join(f.content for f in entity.current_facts())
    return " ".join(part for part in [", ".join(entity.names()), entity.description or "", facts] if part)


def insight_text(insight: Insight | InsightIn) -> str:
    """What the keyword ranking reads of an insight: every word."""
    return " ".join(part for part in [insight.content, insight.context or "", " ".join(insight.tags)] if part)


def embedded_insight_text(insight: Insight | InsightIn) -> str:
    """What an insight's vector is computed from: what its content tells, without its questions
    (`statements`), then its context whole (which may say what question the content answers)."""
    parts = [statements(insight.content), insight.context or "", " ".join(insight.tags)]
    return " ".join(part for part in parts if part)


@dataclass
class Indexer:
    """Every write to the index goes through `_write`: when the index is unreachable, the write
    waits in the durable outbox and is replayed, in order, by the tenant's next write or `drain`.

    On an index whose writes stay invisible for a while (OpenSearch Serverless: its refresh
    interval), a delete cannot find a copy written just before it, nor can an upsert find the
    copy it replaces. So each delete is recorded to be repeated once that delay has passed,
    restricted to copies written before the first attempt ended, and each upsert to delete the
    copies written before it; the tenant's next write and `drain` (which the hourly curation
    schedule runs for every tenant) apply the repeats that are due. Forget-user is complete once
    its repeat ran."""

    index: KnowledgeIndex
    embedder: Embedder
    outbox: IndexOutbox | None = None
    # None: the wall clock (looked up at each call).
    clock: Callable[[], datetime] | None = None
    # None: the embedder's own scale.
    scale_override: ScoreScale | None = None

    def _now(self) -> datetime:
        return (self.clock or _utcnow)()

    def _write(self, tenant: str, writes: list[PendingIndexWrite]) -> None:
        if self.outbox is None:
            self._apply(tenant, writes)
            return
        if self.outbox.pending(tenant, limit=1):
            self.outbox.put(tenant, writes)  # behind older writes: order matters (delete after upsert)
            self.drain(tenant)
            return
        try:
            self._apply(tenant, writes)
        except IndexUnavailableError:
            logger.warning("knowledge index unreachable; %d writes kept in the outbox", len(writes))
            self.outbox.put(tenant, writes)
            return
        if self.index.visibility_delay_seconds > 0:
            self._repeat_due(tenant)

    def drain(self, tenant: str, limit: int = 100) -> int:
        """Replay pending writes oldest first, then the repeated deletes that are due; stops
        (keeping the rest) if the index is still down. Returns how many it applied."""
        if self.outbox is None:
            return 0
        replayed = 0
        for sort_key, write in self.outbox.pending(tenant, limit):
            try:
                self._apply(tenant, [write])
            except IndexUnavailableError:
                return replayed
            self.outbox.done(tenant, sort_key)
            replayed += 1
        return replayed + self._repeat_due(tenant, limit)

    def _repeat_due(self, tenant: str, limit: int = 100) -> int:
        if self.outbox is None:
            return 0
        repeated = 0
        for sort_key, write in self.outbox.due_repeats(tenant, self._now(), limit):
            try:
                self._apply(tenant, [write])
            except IndexUnavailableError:
                break
            self.outbox.repeated(tenant, sort_key)
            repeated += 1
        return repeated

    def _apply(self, tenant: str, writes: list[PendingIndexWrite]) -> None:
        upserts = [w.document for w in writes if w.op == "upsert" and w.document is not None]
        if upserts:
            # Copies written before this one that the upsert's lookup could not see yet go too.
            before = self._now() - timedelta(milliseconds=1)
            self.index.upsert(upserts)
            stale = PendingIndexWrite(op="delete", doc_ids=[d.doc_id for d in upserts])
            self._schedule_repeat(tenant, stale, before)
        for write in writes:
            if write.op == "delete":
                self.index.delete(tenant, write.doc_ids, written_before=write.written_before)
            elif write.op == "delete_namespace" and write.namespace:
                self.index.delete_tenant_namespace(
                    tenant, write.namespace, written_before=write.written_before
                )
            else:
                continue
            if write.written_before is None:
                self._schedule_repeat(tenant, write, self._now())

    def _schedule_repeat(self, tenant: str, delete: PendingIndexWrite, written_before: datetime) -> None:
        """On an index with a visibility delay: delete again, once the delay has passed, the
        copies written until `written_before` (a later write of the same document is kept)."""
        delay = self.index.visibility_delay_seconds
        if delay <= 0 or self.outbox is None:
            return
        repeat = delete.model_copy(update={"written_before": written_before})
        due = self._now() + timedelta(seconds=delay * REPEAT_AFTER_DELAYS)
        self.outbox.put_repeat(tenant, repeat, due)

    def put_entities(
        self, tenant: str, entities: Sequence[Entity], vectors: Sequence[Sequence[float]] | None = None
    ) -> None:
        if not entities:
            return
        vectors = vectors or self.embedder.embed([entity_text(e) for e in entities])
        self._upsert(
            tenant,
            [
                IndexDocument(
                    doc_id=entity_doc_id(e.entity_id),
                    tenant_id=tenant,
                    namespace=e.namespace,
                    kind=ENTITY,
                    title=with_dates_in_words(e.name),
                    text=with_dates_in_words(entity_text(e)),
                    tags=[e.entity_type],
                    vector=list(vector),
                    payload={
                        "entity_id": e.entity_id,
                        "name": e.name,
                        "entity_type": e.entity_type,
                        "aliases": e.aliases,
                        "description": e.description,
                        "facts": [f.content for f in e.current_facts()[-FACTS_IN_PAYLOAD:]],
                    },
                    updated_at=e.updated_at,
                )
                for e, vector in zip(entities, vectors, strict=True)
            ],
        )

    def put_insights(
        self, tenant: str, insights: Sequence[Insight], vectors: Sequence[Sequence[float]] | None = None
    ) -> None:
        if not insights:
            return
        embedded = vectors or self.embedder.embed([embedded_insight_text(i) for i in insights])
        self._upsert(
            tenant,
            [
                IndexDocument(
                    doc_id=insight_doc_id(i.insight_id),
                    tenant_id=tenant,
                    namespace=i.namespace,
                    kind=KNOWLEDGE,
                    title=with_dates_in_words(i.title),
                    text=with_dates_in_words(insight_text(i)),
                    tags=i.tags,
                    vector=list(vector),
                    payload={
                        "insight_id": i.insight_id,
                        "title": i.title,
                        "content": i.content,
                        "context": i.context,
                        "tags": i.tags,
                        "source": i.source,
                        "provenance": i.provenance.model_dump(mode="json"),
                    },
                    status="active" if i.status == "active" else "pending",
                    updated_at=i.updated_at,
                )
                for i, vector in zip(insights, embedded, strict=True)
            ],
        )

    def _upsert(self, tenant: str, documents: list[IndexDocument]) -> None:
        self._write(tenant, [PendingIndexWrite(op="upsert", document=d) for d in documents])

    def remove(self, tenant: str, doc_ids: Sequence[str]) -> None:
        if doc_ids:
            self._write(tenant, [PendingIndexWrite(op="delete", doc_ids=list(doc_ids))])

    def remove_namespace(self, tenant: str, namespace: str) -> None:
        self._write(tenant, [PendingIndexWrite(op="delete_namespace", namespace=namespace)])

    @property
    def scale(self) -> ScoreScale:
        """Where the embedder's cosine similarities sit on the calibrated scale (`scoring`)."""
        return self.scale_override or scale_of(self.embedder)

    def embed_query(self, text: str) -> EmbeddedQuery:
        """The query's embedding and its clauses', in one call, once per request and shared by
        every ranking that uses them.

        A semantic model embeds them without their names (`query_meaning`). The hashing fallback
        is not semantic: names are what it matches on, so it embeds the query whole, and a
        clause's vector is only a subset of the query's words, so it asks no clauses (they cost
        it recall, bench/quality/README.md)."""
        semantic = self.embedder.kind != "fallback"
        clauses = clauses_of(text) if semantic else ()
        texts = [meaning_text(t) if semantic else t for t in (text, *clauses)]
        vector, *clause_vectors = self.embedder.embed(texts)
        return EmbeddedQuery(
            vector, tuple(Clause(c, v) for c, v in zip(clauses, clause_vectors, strict=True))
        )

    def search(
        self,
        tenant: str,
        namespaces: Sequence[str],
        kinds: Sequence[str],
        text: str,
        limit: int,
        mode: SearchMode = "hybrid",
        vector: Sequence[float] | None = None,
        clauses: Sequence[Clause] = (),
    ) -> list[IndexHit]:
        """Search the index; with no `vector` given, the query (and its clauses) are embedded here."""
        if not namespaces or not kinds or limit <= 0:
            return []
        if vector is None and mode != "keyword":
            query = self.embed_query(text)
            vector, clauses = query.vector, query.clauses
        return self.index.search(
            tenant,
            namespaces=namespaces,
            kinds=kinds,
            text=text,
            vector=vector,
            limit=limit,
            mode=mode,
            scale=self.scale,
            clauses=clauses,
        )


def build_indexer(settings: Settings) -> Indexer:
    """The index engine, the embedder and the outbox the settings name (imported on first use)."""
    from ..adapters.embeddings.base import MeteredEmbedder
    from ..adapters.embeddings.factory import build_embedder
    from ..adapters.index.factory import build_index

    embedder = build_embedder(settings)
    override = None
    if settings.score_cosine_floor is not None or settings.score_cosine_full is not None:
        own = scale_of(embedder)
        override = ScoreScale(
            cosine_floor=own.cosine_floor
            if settings.score_cosine_floor is None
            else settings.score_cosine_floor,
            cosine_full=own.cosine_full if settings.score_cosine_full is None else settings.score_cosine_full,
        )
    metered = MeteredEmbedder(embedder)
    return Indexer(build_index(settings), metered, IndexOutbox(settings.data_table), scale_override=override)


@dataclass
class DeferredIndexer(Indexer):
    """Holds entity writes back instead of indexing each one, so that a batch of changes (one
    transcript's) is embedded in one call and indexed in one upsert by whoever flushes it."""

    pending: dict[str, tuple[str, Entity]] = field(default_factory=dict)

    @classmethod
    def over(cls, indexer: Indexer) -> DeferredIndexer:
        """Holds back the entity writes `indexer` would make, on the same engine, embedder and outbox."""
        return cls(indexer.index, indexer.embedder, indexer.outbox, indexer.clock, indexer.scale_override)

    def held_back(self) -> list[Entity]:
        return [entity for _, entity in self.pending.values()]

    def flush(self, tenant: str, vectors: Sequence[Sequence[float]]) -> None:
        """Index the entities held back, with their vectors (in `held_back()` order)."""
        super().put_entities(tenant, self.held_back(), vectors)

    def put_entities(
        self, tenant: str, entities: Sequence[Entity], vectors: Sequence[Sequence[float]] | None = None
    ) -> None:
        for entity in entities:
            self.pending[entity.entity_id] = (tenant, entity)  # the latest version wins
