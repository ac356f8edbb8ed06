"""Per-tenant limits in force, and the quotas the service itself enforces.

Rate and burst are API Gateway's (a usage plan per tenant key); transcripts per day and model
tokens per month are checked here, with atomic counters, before a transcript is accepted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from ..models.limits import QuotaExceededError
from ..models.usage import LimitsOverride, Prices, TenantLimits
from ..settings import Settings
from ..stores.usage import LimitsStore, UsageStore

__all__ = ["QuotaExceededError", "Quotas", "default_limits", "prices"]


def default_limits(settings: Settings) -> TenantLimits:
    return TenantLimits(
        rate_per_second=settings.limit_rate_per_second,
        burst=settings.limit_burst,
        transcripts_per_day=settings.limit_transcripts_per_day,
        tokens_per_month=settings.limit_tokens_per_month,
    )


def prices(settings: Settings) -> Prices:
    return Prices(
        prompt_tokens=settings.price_prompt_tokens,
        completion_tokens=settings.price_completion_tokens,
        embedding_tokens=settings.price_embedding_tokens,
        requests=settings.price_requests,
    )


def seconds_until(day: date, now: datetime) -> int:
    """Seconds from `now` to the start of `day` (UTC), rounded up."""
    return int((datetime.combine(day, datetime.min.time(), UTC) - now).total_seconds()) + 1


def seconds_until_tomorrow(now: datetime) -> int:
    return seconds_until(now.date() + timedelta(days=1), now)


def seconds_until_next_month(now: datetime) -> int:
    return seconds_until((now.date().replace(day=1) + timedelta(days=32)).replace(day=1), now)


@dataclass
class Quotas:
    defaults: TenantLimits
    limits: LimitsStore
    usage: UsageStore
    cache_seconds: float = 10.0
    _cache: dict[str, tuple[float, LimitsOverride | None]] = field(default_factory=dict)

    def for_tenant(self, tenant: str) -> TenantLimits:
        now = time.monotonic()
        expires, override = self._cache.get(tenant, (0.0, None))
        if now >= expires:
            override = self.limits.get(tenant)
            self._cache[tenant] = (now + self.cache_seconds, override)
        return self.defaults.overridden_by(override)

    def admit_transcript(self, tenant: str, now: datetime) -> date:
        """Count one transcript against today's quota, or refuse it. Returns the day it counts on
        (give it back with `refund` if the transcript is not accepted after all)."""
        limits = self.for_tenant(tenant)
        month_tokens = self.usage.month_tokens(tenant, now.strftime("%Y-%m"))
        if month_tokens >= limits.tokens_per_month:
            raise QuotaExceededError(
                "tokens_per_month",
                f"model tokens this month: {month_tokens} of {limits.tokens_per_month}",
                seconds_until_next_month(now),
            )
        today = now.date()
        if not self.usage.take_transcript(tenant, today, limits.transcripts_per_day):
            raise QuotaExceededError(
                "transcripts_per_day",
                f"transcripts today: the limit is {limits.transcripts_per_day}",
                seconds_until_tomorrow(now),
            )
        return today

    def refund(self, tenant: str, day: date) -> None:
        self.usage.add(tenant, day, transcripts_accepted=-1)
