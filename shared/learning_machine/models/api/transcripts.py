"""The API's transcript status record: state, operations applied, tokens spent."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from .. import transcripts as stored
from . import View


class TokenUsage(View[stored.TokenUsage]):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class AppliedOperation(View[stored.AppliedOperation]):
    """One change an extraction made, as reported by `GET /v1/transcripts/{id}`."""

    store: stored.OperationStore
    action: stored.OperationAction
    target: str = Field(description="The memory, field, session, entity or insight id")
    detail: str | None = None


class TranscriptStatus(View[stored.TranscriptStatus]):
    transcript_id: str
    user_id: str
    session_id: str
    status: stored.TranscriptState
    received_at: datetime
    completed_at: datetime | None = None
    attempts: int = 0
    model: str | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    model_calls: int = Field(default=0, description="Model calls the extraction made, repair included")
    repair_calls: int = Field(default=0, description="Calls made to repair an invalid first reply (0 or 1)")
    first_reply_error: str | None = Field(default=None, description="Why the first reply was repaired")
    operations: list[AppliedOperation] = Field(default_factory=list)
    skipped: list[str] = Field(
        default_factory=list, description="Operations the model proposed but the rules refused"
    )
    held: list[str] = Field(
        default_factory=list,
        description="Operations the model proposed that the user's messages do not support: not applied",
    )
    error: str | None = None
    redacted: dict[str, int] = Field(
        default_factory=dict,
        description="Secrets removed before the transcript was stored or queued: how many of each kind",
    )
