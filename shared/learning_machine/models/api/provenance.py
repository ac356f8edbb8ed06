"""Where an item of any store came from, as the API answers it: its provenance, and the items
curation merged into it."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from .. import provenance as stored
from ..common import utc_now
from . import View


class Provenance(View[stored.Provenance]):
    """Where a memory (or one version of it) came from: answers "why do you believe X"."""

    source: stored.Source
    transcript_id: str | None = None
    turn_index: int | None = None
    model: str | None = None
    recorded_at: datetime = Field(default_factory=utc_now)
    job_id: str | None = Field(default=None, description="The curation job behind this change, if any")


class MergedItem(View[stored.MergedItem]):
    """An item curation folded into this one: its id, its value and where it came from."""

    item_id: str
    content: str
    provenance: Provenance
    job_id: str
    merged_at: datetime = Field(default_factory=utc_now)
