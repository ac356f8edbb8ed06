"""Session context: replaced at each extraction, built on the previous one (the API's answer is in
`models/api/sessions.py`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from .common import utc_now


class SessionContext(BaseModel):
    session_id: str
    user_id: str
    summary: str = ""
    goal: str | None = None
    plan: list[str] = Field(default_factory=list)
    progress: list[str] = Field(default_factory=list)
    version: int = 0
    updated_at: datetime = Field(default_factory=utc_now)
    last_transcript_id: str | None = None
