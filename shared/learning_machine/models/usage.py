"""Per-tenant limits and usage: what an operator sets, what a tenant reads back."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class LimitsOverride(BaseModel):
    """An operator's per-tenant override; a field left unset takes the deployment's default."""

    model_config = ConfigDict(extra="forbid")

    rate_per_second: float | None = Field(default=None, gt=0, description="Requests per second, steady")
    burst: int | None = Field(default=None, ge=1, description="Requests at once above the steady rate")
    transcripts_per_day: int | None = Field(default=None, ge=0, description="Transcripts per UTC day")
    tokens_per_month: int | None = Field(default=None, ge=0, description="Model tokens per UTC month")


class TenantLimits(BaseModel):
    """The limits in force for one tenant: its override over the deployment's defaults."""

    rate_per_second: float
    burst: int
    transcripts_per_day: int
    tokens_per_month: int

    def overridden_by(self, override: LimitsOverride | None) -> TenantLimits:
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class Prices(BaseModel):
    """US dollars per million, for the cost estimate."""

    prompt_tokens: float
    completion_tokens: float
    embedding_tokens: float
    requests: float


class DayUsage(BaseModel):
    date: date
    transcripts_accepted: int = 0
    transcripts_learned: int = 0
    transcripts_failed: int = Field(default=0, description="Failed their last attempt (dead-lettered)")
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    embedding_tokens: int = 0
    reads: int = Field(default=0, description="get-context and search requests")
    estimated_cost_usd: float = 0.0

    def priced(self, prices: Prices) -> DayUsage:
        cost = (
            self.prompt_tokens * prices.prompt_tokens
            + self.completion_tokens * prices.completion_tokens
            + self.embedding_tokens * prices.embedding_tokens
            + (self.transcripts_accepted + self.reads) * prices.requests
        ) / 1_000_000
        return self.model_copy(update={"estimated_cost_usd": round(cost, 8)})


USAGE_COUNTERS = (
    "transcripts_accepted",
    "transcripts_learned",
    "transcripts_failed",
    "model_calls",
    "prompt_tokens",
    "completion_tokens",
    "embedding_tokens",
    "reads",
)


class UsageReport(BaseModel):
    """Body of `GET /v1/usage`: one entry per day of the range (days without use are zeros)."""

    from_: date = Field(alias="from", serialization_alias="from")
    to: date
    days: list[DayUsage]
    total: DayUsage = Field(description="The range's sum; its date is the range's last day")
    prices: Prices
    limits: TenantLimits
    tokens_this_month: int = Field(description="Model tokens counted against tokens_per_month")

    model_config = ConfigDict(populate_by_name=True)
