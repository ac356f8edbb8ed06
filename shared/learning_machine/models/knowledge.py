"""Learned knowledge: reusable insights across users, and the proposals a human approves.

What the API answers is in `models/api/knowledge.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .common import NamespaceName, utc_now
from .provenance import MergedItem, Provenance

Status = Literal["active", "pending", "rejected"]
Decision = Literal["approved", "rejected"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8_000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")]


class Review(BaseModel):
    decision: Decision
    reviewer: str
    reason: str | None = None
    at: datetime = Field(default_factory=utc_now)


class Insight(BaseModel):
    insight_id: str
    namespace: str
    title: str
    content: str
    context: str | None = None
    tags: list[str] = Field(default_factory=list)
    source: str | None = None
    status: Status = "active"
    version: int = 1
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    provenance: Provenance
    review: Review | None = None
    merged: list[MergedItem] = Field(default_factory=list, description="Near-duplicates merged into it")


class InsightIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    content: Body
    context: Body | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    source: Annotated[str, StringConstraints(max_length=500)] | None = None
    namespace: NamespaceName | None = None
    user_id: str | None = Field(default=None, description="Owner, for the 'user' namespace")


class ImportItem(InsightIn):
    item_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")] = Field(
        description="Your id for this item: importing it again updates it instead of adding a copy"
    )


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ImportItem] = Field(min_length=1, max_length=100)


class ImportResult(BaseModel):
    imported: int
    updated: int
    insight_ids: list[str]


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1_000)]
