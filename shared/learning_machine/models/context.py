"""What `GET /v1/context` returns: the XML block and the same data as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from . import memories as stored
from .api import View
from .api.sessions import SessionContext
from .common import Layer


# A memory as the context shows it: the fields an agent acts on (no docstring: none in the OpenAPI).
class ContextMemory(View[stored.Memory]):
    memory_id: str
    layer: Layer
    category: str | None = None
    content: str
    polarity: stored.Polarity | None = None
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
