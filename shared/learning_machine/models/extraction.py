"""The one structured-output model call: what goes in, and the operations that come back.

The output models are written for OpenAI strict structured outputs: every field is required
(nullable where optional) and no free-form dicts, so the same schema works for `json_schema`,
tool calling and `json_object` fallbacks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .common import Layer
from .memories import Memory, Polarity
from .sessions import SessionContext
from .transcripts import Message, TokenUsage

MAX_MEMORY_OPERATIONS = 30
MAX_PROFILE_UPDATES = 20


class MemoryOperation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal["add", "update", "delete", "noop"]
    memory_id: str | None = Field(
        description="Id of the existing memory for update/delete/noop; null for add"
    )
    layer: Layer | None = Field(description="Layer for add (and update when it changes)")
    category: str | None = Field(description="Optional nested category such as 'work/projects'")
    content: str | None = Field(description="The memory, one self-contained sentence; null for delete/noop")
    polarity: Polarity | None = Field(description="For feedback: positive or negative")
    turn_index: int | None = Field(description="Index of the message this comes from")

    @model_validator(mode="after")
    def _fields_for_op(self) -> MemoryOperation:
        if self.op == "add" and (self.layer is None or not self.content):
            raise ValueError("add needs layer and content")
        if self.op == "update" and (not self.memory_id or not self.content):
            raise ValueError("update needs memory_id and content")
        if self.op in ("delete", "noop") and not self.memory_id:
            raise ValueError(f"{self.op} needs memory_id")
        return self


class ProfileFieldUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="A profile field name from the schema")
    value: str | None = Field(description="New value as text (JSON for non-string fields); null to remove")
    turn_index: int | None


class SessionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str = Field(description="Summary of the whole session so far, built on the previous one")
    goal: str | None = Field(description="With planning: the user's goal for this session")
    plan: list[str] = Field(description="With planning: the steps to reach the goal")
    progress: list[str] = Field(description="With planning: the steps already done")


class ExtractionResult(BaseModel):
    """What the model returns for one transcript, for every ALWAYS store at once."""

    model_config = ConfigDict(extra="forbid")

    memory_operations: list[MemoryOperation] = Field(max_length=MAX_MEMORY_OPERATIONS)
    profile_updates: list[ProfileFieldUpdate] = Field(max_length=MAX_PROFILE_UPDATES)
    session: SessionUpdate | None = Field(description="The new session context; null when the store is off")


class NumberedMessage(Message):
    turn_index: int


class ExtractionRequest(BaseModel):
    """Everything one extraction needs, built by the pipeline and rendered by each model adapter."""

    transcript_id: str
    occurred_at: datetime
    messages: list[NumberedMessage]
    profile_fields: dict[str, object]
    profile_schema: dict[str, str] = Field(description="field name -> description, standard and custom")
    memories: list[Memory] = Field(description="Current memories relevant to this transcript, budgeted")
    memories_total: int = Field(description="How many memories the user has in all")
    previous_session: SessionContext | None
    learn_profile: bool
    layers: list[Layer]
    layer_prompts: dict[Layer, str] = Field(default_factory=dict)
    profile_prompt: str | None = None
    learn_session: bool
    planning: bool
    session_prompt: str | None = None


class ModelReply(BaseModel):
    result: ExtractionResult
    usage: TokenUsage
    model: str
