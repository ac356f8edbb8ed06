"""A request a per-tenant limit refused: which limit, and when to retry (the limits themselves
and the usage they are counted on are in `usage.py`). Apart, so that the read functions, which only
ever answer a 429, do not build the usage report's models at cold start."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

LimitName = Literal["request_rate", "transcripts_per_day", "tokens_per_month"]


class LimitExceeded(BaseModel):
    """Body of a 429: which limit, and when to retry."""

    statusCode: int = 429
    message: str
    limit: LimitName
    retry_after: int = Field(description="Seconds; the Retry-After header says the same")


class QuotaExceededError(Exception):
    """A limit refuses the request; nothing was accepted. Retry after `retry_after` seconds."""

    def __init__(self, limit: LimitName, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.limit: LimitName = limit
        self.message = message
        self.retry_after = max(1, retry_after)

    def body(self) -> LimitExceeded:
        return LimitExceeded(message=self.message, limit=self.limit, retry_after=self.retry_after)
