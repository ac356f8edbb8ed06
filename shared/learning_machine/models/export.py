"""GET /v1/users/{user_id}/export: everything the service holds about one user."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from .api.entities import Entity, Relationship
from .api.knowledge import Insight
from .api.memories import Memory, MemoryVersion
from .api.profile import UserProfile
from .api.sessions import SessionContext
from .api.transcripts import TranscriptStatus
from .common import utc_now


class UserExport(BaseModel):
    user_id: str
    exported_at: datetime = Field(default_factory=utc_now)
    profile: UserProfile
    memories: list[Memory]
    memory_history: list[MemoryVersion]
    sessions: list[SessionContext]
    transcripts: list[TranscriptStatus]
    entities: list[Entity] = Field(description="The user's private entity namespace")
    relationships: list[Relationship]
    insights: list[Insight] = Field(description="The user's private knowledge namespace")


class ForgetReport(BaseModel):
    user_id: str
    items_deleted: int
    idempotency_records_deleted: int
    index_namespace_cleared: str
