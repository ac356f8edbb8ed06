"""The API's session context: the summary, goal, plan and progress of one session."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from .. import sessions as stored
from ..common import utc_now
from . import View


class SessionContext(View[stored.SessionContext]):
    session_id: str
    user_id: str
    summary: str = ""
    goal: str | None = None
    plan: list[str] = Field(default_factory=list)
    progress: list[str] = Field(default_factory=list)
    version: int = 0
    updated_at: datetime = Field(default_factory=utc_now)
    last_transcript_id: str | None = None
