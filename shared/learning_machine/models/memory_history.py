"""A memory's history: one entry per change, superseded values with their validity window."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .common import Layer
from .memories import Polarity
from .provenance import Provenance

Change = Literal["created", "updated", "deleted", "merged", "pruned", "restored"]


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
