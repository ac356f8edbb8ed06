"""What `GET /v1/context` returns: the XML block and the same data as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .common import Layer
from .memories import Polarity
from .sessions import SessionContext


class ContextMemory(BaseModel):
    memory_id: str
    layer: Layer
    category: str | None = None
    content: str
    polarity: Polarity | None = None
    updated_at: datetime


class ContextResponse(BaseModel):
    user_id: str
    session_id: str | None = None
    xml: str = Field(description="Put this block in the agent's system prompt")
    profile: dict[str, Any] = Field(default_factory=dict)
    memories: dict[Layer, list[ContextMemory]] = Field(default_factory=dict)
    session: SessionContext | None = None
    entities: list[dict[str, Any]] = Field(default_factory=list)
    knowledge: list[dict[str, Any]] = Field(default_factory=list)
    tokens: int = Field(description="Estimated tokens of the XML block")
    max_tokens: int
    dropped: int = Field(description="Items left out to stay within max_tokens")
    degraded: bool = Field(default=False, description="True when the knowledge index could not be reached")
