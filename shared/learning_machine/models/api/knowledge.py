"""The API's learned knowledge: insights (active, pending proposals, rejected) and their review."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from .. import knowledge as stored
from ..common import utc_now
from . import View
from .provenance import MergedItem, Provenance


class Review(View[stored.Review]):
    decision: stored.Decision
    reviewer: str
    reason: str | None = None
    at: datetime = Field(default_factory=utc_now)


class Insight(View[stored.Insight]):
    insight_id: str
    namespace: str
    title: str
    content: str
    context: str | None = None
    tags: list[str] = Field(default_factory=list)
    source: str | None = None
    status: stored.Status = "active"
    version: int = 1
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    provenance: Provenance
    review: Review | None = None
    merged: list[MergedItem] = Field(default_factory=list, description="Near-duplicates merged into it")


class SaveResult(BaseModel):
    insight: Insight
    deduplicated: bool = Field(description="True when a near-duplicate was updated instead of adding one")
    similar_to: str | None = None


class InsightList(BaseModel):
    insights: list[Insight]
