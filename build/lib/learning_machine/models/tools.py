"""Agent tools over HTTP: the published definitions, one call, and what it returned."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from .common import Identifier

ToolName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ToolCall(BaseModel):
    """One function call an agent's model made, executed for one user of the caller's tenant."""

    model_config = ConfigDict(extra="forbid")

    name: ToolName = Field(description="The function name, as published by GET /v1/tools")
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        description="The call's arguments: an object, or the JSON string the model returned",
    )
    user_id: Identifier = Field(description="The user the agent acts for; never taken from the arguments")
    session_id: Identifier | None = None

    @field_validator("arguments", mode="before")
    @classmethod
    def _decode_json_string(cls, value: Any) -> Any:
        # OpenAI-compatible servers return `function.arguments` as a JSON string: accept it as is.
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as error:
                raise ValueError(f"arguments is not valid JSON: {error.msg}") from error
        return value


class ToolResult(BaseModel):
    name: str
    ok: bool = True
    result: dict[str, Any] = Field(default_factory=dict, description="JSON-ready; give it back to the model")


class ToolList(BaseModel):
    tools: list[dict[str, Any]] = Field(
        description='OpenAI function-calling definitions: {"type": "function", "function": {...}}'
    )
