"""Transcripts: what agents post, what travels on the queue, and the status record (what the API
answers about a transcript is in `models/api/transcripts.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .common import MAX_MESSAGE_CHARS, MAX_MESSAGES, Identifier, Role, utc_now

TranscriptState = Literal["queued", "processing", "done", "failed"]
MetadataValue = str | int | float | bool
MessageText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    content: MessageText
    created_at: datetime | None = None


class TranscriptIn(BaseModel):
    """Body of `POST /v1/transcripts`."""

    model_config = ConfigDict(extra="forbid")

    transcript_id: Identifier | None = Field(
        default=None, description="Client id for exactly-once posting; generated when absent"
    )
    user_id: Identifier
    session_id: Identifier
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    metadata: dict[Annotated[str, StringConstraints(max_length=64)], MetadataValue] = Field(
        default_factory=dict, max_length=32
    )
    occurred_at: datetime | None = Field(default=None, description="When the conversation happened")


class TranscriptEnvelope(BaseModel):
    """What the API puts on the queue: the transcript plus the tenant taken from the authorizer."""

    tenant_id: str
    transcript_id: str
    received_at: datetime = Field(default_factory=utc_now)
    transcript: TranscriptIn


class TranscriptAccepted(BaseModel):
    transcript_id: str
    status: TranscriptState
    duplicate: bool = False


class TokenUsage(BaseModel):
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


OperationStore = Literal["user_profile", "memories", "session_context", "entity_memory", "learned_knowledge"]
OperationAction = Literal[
    "add",
    "update",
    "delete",
    "confirm",
    "set",
    "unset",
    "replace",
    "upsert",
    "add_fact",
    "supersede_fact",
    "add_event",
    "relate",
]


class AppliedOperation(BaseModel):
    """One change an extraction made, as reported by `GET /v1/transcripts/{id}`."""

    store: OperationStore
    action: OperationAction
    target: str = Field(description="The memory, field, session, entity or insight id")
    detail: str | None = None


class TranscriptStatus(BaseModel):
    transcript_id: str
    user_id: str
    session_id: str
    status: TranscriptState
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
