"""Where an item of any store came from, and the items curation merged into it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .common import utc_now

Source = Literal["extraction", "api", "tool", "import", "curation"]


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
