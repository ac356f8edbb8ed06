"""User memories: stored items, their history, and the API payloads that edit them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import Category, Identifier, Layer, RedactedShortText, utc_now

Polarity = Literal["positive", "negative"]
Source = Literal["extraction", "api", "tool", "import"]
Change = Literal["created", "updated", "deleted"]


class Provenance(BaseModel):
    """Where a memory (or one version of it) came from: answers "why do you believe X"."""

    source: Source
    transcript_id: str | None = None
    turn_index: int | None = None
    model: str | None = None
    recorded_at: datetime = Field(default_factory=utc_now)


class Memory(BaseModel):
    """The current value of one memory of one user."""

    memory_id: str
    user_id: str
    layer: Layer
    category: str | None = None
    content: str
    polarity: Polarity | None = None
    version: int = 1
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    valid_from: datetime = Field(default_factory=utc_now)
    provenance: Provenance


class MemoryVersion(BaseModel):
    """One entry of a memory's history. Superseded values keep their validity window."""

    memory_id: str
    version: int
    change: Change
    layer: Layer
    category: str | None = None
    content: str
    polarity: Polarity | None = None
    valid_from: datetime
    valid_to: datetime | None = None
    superseded_value: str | None = None
    provenance: Provenance


class MemoryHistory(BaseModel):
    memory_id: str
    versions: list[MemoryVersion]


class MemoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layer: Layer
    content: RedactedShortText
    category: Category | None = None
    polarity: Polarity | None = None


class MemoryPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: RedactedShortText | None = None
    layer: Layer | None = None
    category: Category | None = None
    polarity: Polarity | None = None


class MemoryList(BaseModel):
    user_id: str
    memories: list[Memory]


class UserRef(BaseModel):
    user_id: Identifier
