"""The interface every knowledge-index engine implements, its documents, hits and errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, Field

from ...core.clauses import Clause
from ...core.errors import UnavailableError
from ...core.scoring import DEFAULT_SCALE, ScoreScale

DocumentKind = Literal["knowledge", "entity"]
DocumentStatus = Literal["active", "pending"]
SearchMode = Literal["hybrid", "keyword", "vector"]


class IndexDocument(BaseModel):
    """One searchable item of one tenant; `doc_id` is unique within the tenant."""

    doc_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    namespace: str = Field(min_length=1)
    kind: DocumentKind
    title: str
    text: str = Field(description="The searchable body")
    tags: list[str] = Field(default_factory=list)
    vector: list[float]
    payload: dict[str, Any] = Field(default_factory=dict, description="What search returns to callers")
    # Pending documents (unapproved proposals) are stored but never returned by search.
    status: DocumentStatus = "active"
    updated_at: AwareDatetime


class IndexHit(BaseModel):
    """One search result: its calibrated score (`scoring.relevance`, in [0, 1], the same scale on
    every engine) and the rank it had in each ranking (1 = best)."""

    doc_id: str
    kind: DocumentKind
    namespace: str
    score: float
    keyword_rank: int | None = None
    vector_rank: int | None = None
    similarity: float | None = Field(
        default=None, description="Cosine similarity to the query vector, when the vector ranking found it"
    )
    keyword_score: float | None = Field(
        default=None, description="BM25 on Lucene's scale, when the keyword ranking found it"
    )
    payload: dict[str, Any]


class IndexUnavailableError(UnavailableError):
    """The backend cannot be reached or is overloaded (connection, timeout, lock, 429, 5xx).

    Retrying later may succeed, so writers keep what they wanted to index and try again.
    """

    what = "the knowledge index"


class IndexRequestError(Exception):
    """The backend refused a request (bad mapping, missing index, invalid input): retrying will not help."""


class KnowledgeIndex(Protocol):
    @property
    def visibility_delay_seconds(self) -> float:
        """How long a write may stay invisible to searches and to the lookups deletes make (0: none).

        When it is above 0, a delete can miss a copy written just before it; whoever deletes
        repeats the delete after this delay with `written_before` (see `Indexer`)."""
        ...

    def ensure(self) -> None:
        """Create the index (tables, mappings) if it does not exist. Idempotent."""
        ...

    def upsert(self, docs: Sequence[IndexDocument]) -> None:
        """Insert or replace documents, keyed by (tenant_id, doc_id), as one batch."""
        ...

    def delete(
        self, tenant_id: str, doc_ids: Sequence[str], *, written_before: datetime | None = None
    ) -> None:
        """Remove documents of one tenant; unknown ids are ignored. With `written_before`, only
        what was written at or before that moment (a repeated delete never removes a newer write)."""
        ...

    def delete_tenant_namespace(
        self, tenant_id: str, namespace: str, *, written_before: datetime | None = None
    ) -> None:
        """Remove every document of one tenant in one namespace (forget a user, drop a namespace);
        `written_before` as in `delete`."""
        ...

    def search(
        self,
        tenant_id: str,
        *,
        namespaces: Sequence[str],
        kinds: Sequence[str],
        text: str,
        vector: Sequence[float] | None,
        limit: int,
        mode: SearchMode = "hybrid",
        scale: ScoreScale = DEFAULT_SCALE,
        clauses: Sequence[Clause] = (),
    ) -> list[IndexHit]:
        """One logical query, filtered by tenant, namespaces, kinds and active status inside it.
        Hits are scored by `scoring.relevance` on `scale` (the query embedder's), best first.

        `hybrid` fuses BM25 over `title` and `text` with k-NN over `vector`; it falls back to the
        one ranking available when `text` has no searchable term or `vector` is None. `clauses`
        (a query that asks several things, `core/clauses.py`) add one k-NN ranking per clause
        vector in the same request, whenever the query's own vector ranking runs.
        """
        ...
