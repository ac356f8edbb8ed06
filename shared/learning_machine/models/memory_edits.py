"""What an API caller or an agent's tool sends to write a memory: a new one, or a change to one."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .common import Category, Layer, RedactedShortText
from .memories import Polarity


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
