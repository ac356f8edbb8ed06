"""Path and query parameters with the documented patterns and ranges."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from ..models.common import ID_PATTERN, MAX_CONTEXT_TOKENS

UserId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128, description="Your id for the user")]
SessionId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128)]
MemoryId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128)]
TranscriptId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128)]
UserIdQuery = Annotated[str, Query(pattern=ID_PATTERN, max_length=128)]
SessionIdQuery = Annotated[str | None, Query(pattern=ID_PATTERN, max_length=128)]
SearchQuery = Annotated[str | None, Query(max_length=2_000, description="What the next turn is about")]
MaxTokens = Annotated[int | None, Query(ge=50, le=MAX_CONTEXT_TOKENS)]
MinScore = Annotated[
    float | None,
    Query(
        ge=0.0,
        le=1.0,
        description="Entities and knowledge scoring below this stay out of the block (default: the "
        "search default; 0 keeps every candidate). Memories are chosen by authority and recency.",
    ),
]

NamespaceQuery = Annotated[
    str | None,
    Query(
        pattern=r"^(global|user|[a-z0-9][a-z0-9_-]{0,63})$", description="Default: the store's configured one"
    ),
]
OwnerQuery = Annotated[
    str | None, Query(pattern=ID_PATTERN, max_length=128, description="For the 'user' namespace")
]
EntityRef = Annotated[
    str, Path(min_length=1, max_length=200, pattern=r"^[^/]+$", description="Entity id or name")
]
FactId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128)]
InsightId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128)]
Limit = Annotated[int, Query(ge=1, le=100)]
RequiredQuery = Annotated[str, Query(min_length=1, max_length=2_000)]
JobId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128)]
ChangeCursor = Annotated[
    str | None, Query(max_length=400, description="next_token of the previous page of changes")
]
UserAfter = Annotated[
    str | None, Query(pattern=ID_PATTERN, max_length=128, description="next_token of the previous page")
]
