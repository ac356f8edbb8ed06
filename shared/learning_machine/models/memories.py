"""User memories: stored items, their history, and the API payloads that edit them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import Category, Layer, RedactedShortText, utc_now

Polarity = Literal["positive", "negative"]
Source = Literal["extraction", "api", "tool", "import", "curation"]
Change = Literal["created", "updated", "deleted", "merged", "pruned", "restored"]


class Provenance(BaseModel):
    """Where a memory (or one version of it) came from: answers "why do you believe X"."""

    source: Source
    transcript_id: str | None = None
    turn_index: int | None = None
    model: str | None = None
    recorded_at: datetime = Field(default_factory=utc_now)
    job_id: str | None = Field(default=None, description="The curation job behind this change, if any")


class MergedItem(BaseModel):
    """An item curation folded into this one: its id, its value and where it came from."""

    item_id: str
    content: str
    provenance: Provenance
    job_id: str
    merged_at: datetime = Field(default_factory=utc_now)


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
    confirmations: int = Field(default=0, description="Transcripts that restated it since it was written")
    last_confirmed_at: datetime | None = None
    merged: list[MergedItem] = Field(default_factory=list, description="Near-duplicates merged into it")
    # The embedding of `content`, stored beside the item (not in its JSON document) and read with it
    # in the same query; None until the memory is written with an embedder (keywords only then).
    vector: list[float] | None = Field(default=None, exclude=True, repr=False)

    @property
    def last_used_at(self) -> datetime:
        """Last written or confirmed; reads do not count, so the read path never writes."""
        if self.last_confirmed_at and self.last_confirmed_at > self.updated_at:
            return self.last_confirmed_at
        return self.updated_at


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
    merged_into: str | None = Field(default=None, description="For a merged-away memory: the one kept")
    reason: str | None = Field(default=None, description="Why curation made this change")


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


class UserPage(BaseModel):
    users: list[str]
    next_token: str | None = Field(default=None, description="Pass as ?after= for the next page")
