"""The learning-quality dataset format (README.md beside this file), as pydantic models.

A belief is a list of key terms that must all appear in one stored item, case-insensitively; a
term may list alternatives separated by `|` ("concise|short|brief").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Terms = list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpectedMemory(_Strict):
    layer: str | None = Field(default=None, description="Required layer; alternatives with '|'")
    terms: Terms
    or_profile: str | None = Field(default=None, description="A profile field that may hold it instead")
    replaces: Terms | None = Field(
        default=None, description="A contradiction: what it replaces must be gone, not kept beside it"
    )


class ExpectedEntity(_Strict):
    name: str = Field(description="Terms of the entity's name or aliases ('acme', 'initech|ledger')")
    facts: list[Terms] = Field(default_factory=list, description="Current facts, events or description")
    facts_or_edges: list[Terms] = Field(default_factory=list, description="Or relationships too")


class ExpectedSession(_Strict):
    summary: Terms | None = None
    goal: Terms | None = None
    plan_min: int | None = Field(default=None, description="At least this many plan steps")
    progress: list[Terms] = Field(default_factory=list, description="Each must match one step done")


class ExpectedInsight(_Strict):
    terms: Terms
    state: Literal["active", "pending"] = "active"


class Expect(_Strict):
    profile: dict[str, Terms] = Field(default_factory=dict)
    memories: list[ExpectedMemory] = Field(default_factory=list)
    entities: list[ExpectedEntity] = Field(default_factory=list)
    session: ExpectedSession | None = None
    knowledge: list[ExpectedInsight] = Field(default_factory=list)


class Forbid(_Strict):
    profile: dict[str, Terms] = Field(default_factory=dict)
    memories: list[ExpectedMemory] = Field(default_factory=list)
    entities: list[ExpectedEntity] = Field(default_factory=list)
    knowledge: list[ExpectedInsight] = Field(default_factory=list)


class ToolCall(_Strict):
    name: str
    arguments: dict[str, Any] = Field(
        description="'$memory:<term>' as a value stands for the id of the current memory holding <term>"
    )


class Session(_Strict):
    messages: list[dict[str, str]] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list, description="Run before the transcript")
    noise: bool = Field(default=False, description="Nothing may be learned from it")
    expect: Expect = Field(default_factory=Expect)
    forbid: Forbid = Field(default_factory=Forbid)


class Conversation(_Strict):
    id: str
    covers: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict, description="PUT /v1/config document")
    sessions: list[Session] = Field(min_length=1)


class Dataset(_Strict):
    name: str
    description: str = ""
    conversations: list[Conversation] = Field(min_length=1)


def load(path: Path) -> Dataset:
    return Dataset.model_validate(json.loads(path.read_text()))
