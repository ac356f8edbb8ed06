"""The API's memories: current values and their history (where they came from is in
`provenance.py`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from .. import memories as stored
from .. import memory_history as history
from ..common import Layer, utc_now
from . import View
from .provenance import MergedItem, Provenance


class Memory(View[stored.Memory]):
    """The current value of one memory of one user."""

    # The stored memory's embedding (its vector, its packed bytes) is not part of the answer.
    memory_id: str
    user_id: str
    layer: Layer
    category: str | None = None
    content: str
    polarity: stored.Polarity | None = None
    version: int = 1
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    valid_from: datetime = Field(default_factory=utc_now)
    provenance: Provenance
    confirmations: int = Field(default=0, description="Transcripts that restated it since it was written")
    last_confirmed_at: datetime | None = None
    merged: list[MergedItem] = Field(default_factory=list, description="Near-duplicates merged into it")

    @property
    def last_used_at(self) -> datetime:
        """Last written or confirmed (as on the stored memory, for the client's readers)."""
        if self.last_confirmed_at and self.last_confirmed_at > self.updated_at:
            return self.last_confirmed_at
        return self.updated_at


class MemoryVersion(View[history.MemoryVersion]):
    """One entry of a memory's history. Superseded values keep their validity window."""

    memory_id: str
    version: int
    change: history.Change
    layer: Layer
    category: str | None = None
    content: str
    polarity: stored.Polarity | None = None
    valid_from: datetime
    valid_to: datetime | None = None
    superseded_value: str | None = None
    provenance: Provenance
    merged_into: str | None = Field(default=None, description="For a merged-away memory: the one kept")
    reason: str | None = Field(default=None, description="Why curation made this change")


class MemoryHistory(BaseModel):
    memory_id: str
    versions: list[MemoryVersion]


class MemoryList(BaseModel):
    user_id: str
    memories: list[Memory]
