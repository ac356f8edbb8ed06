"""Shared field types and enums: one place for identifier rules and limits."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

# Identifiers end up inside DynamoDB keys, so they are restricted to a safe alphabet.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=128)]

# Documented input limits (README, "Limits").
# The queue message (the body plus a small envelope) must stay under the SQS limit of 256 KiB.
MAX_BODY_BYTES = 200_000
MAX_MESSAGES = 200
MAX_MESSAGE_CHARS = 20_000
MAX_MEMORY_CHARS = 2_000
MAX_CONTEXT_TOKENS = 32_000

ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MEMORY_CHARS)
]


def _redacted(text: str) -> str:
    # Imported on first use: compiling the redaction patterns is not worth a read path's cold start.
    from ..core.redaction import redact_text

    return redact_text(text)


# Text a person or an agent writes straight into memory: secrets are redacted on validation, so
# every caller that builds the model (an API body, a tool call) stores the redacted text.
RedactedShortText = Annotated[ShortText, AfterValidator(_redacted)]
# 'global', 'user' (resolved to the user's private namespace) or a named one.
NamespaceName = Annotated[str, StringConstraints(pattern=r"^(global|user|[a-z0-9][a-z0-9_-]{0,63})$")]
Category = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(/[a-z0-9_]+){0,3}$", max_length=120)]
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Tokens = Annotated[int, Field(ge=0)]


class Layer(StrEnum):
    """Memory layers, in order of authority (policies win over everything else)."""

    POLICIES = "policies"
    PROFILE = "profile"
    KNOWLEDGE = "knowledge"
    FEEDBACK = "feedback"


class Mode(StrEnum):
    ALWAYS = "always"
    AGENTIC = "agentic"
    PROPOSE = "propose"


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


def utc_now() -> datetime:
    return datetime.now(UTC)
