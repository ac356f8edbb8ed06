"""POST /v1/search: one query over memories, entities and learned knowledge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..core.scoring import DEFAULT_MIN_SCORE
from .api.provenance import Provenance
from .common import Identifier, NamespaceName

StoreName = Literal["memories", "entities", "knowledge"]


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]
    user_id: Identifier | None = Field(
        default=None, description="Searches this user's memories and namespace"
    )
    namespace: NamespaceName | None = Field(
        default=None, description="Only this namespace (entities, knowledge)"
    )
    stores: list[StoreName] | None = Field(default=None, description="Default: every store that is on")
    limit: int = Field(default=10, ge=1, le=50)
    min_score: float = Field(
        default=DEFAULT_MIN_SCORE,
        ge=0.0,
        le=1.0,
        description="Leave out results scoring below this (the scale is fixed: README, 'How scores work'); "
        "the default drops unrelated results, 0 returns every candidate",
    )


class SearchResult(BaseModel):
    store: StoreName
    id: str
    score: float = Field(
        description="Calibrated relevance in [0, 1], on one fixed scale for every store, query and tenant"
    )
    title: str | None = None
    content: str
    namespace: str | None = None
    provenance: Provenance | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult]
