"""GET /v1/usage: the tenant's usage per day, its estimated cost, and the limits in force."""

from __future__ import annotations

from datetime import date, timedelta
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ...models.common import utc_now
from ...models.usage import DayUsage, UsageReport
from ...services.quotas import prices
from ...settings import get_settings
from .. import deps
from ..errors import ApiError
from ..tenancy import tenant_of

router = APIGatewayRouter()

MAX_DAYS = 366
DEFAULT_DAYS = 30

FromDate = Annotated[
    date | None, Query(alias="from", description="First day (UTC, YYYY-MM-DD); default 29 days before `to`")
]
ToDate = Annotated[date | None, Query(description="Last day (UTC, YYYY-MM-DD); default today")]


@router.get("/v1/usage", tags=["usage"], summary="Usage per day, estimated cost, limits")
def get_usage(from_: FromDate = None, to: ToDate = None) -> UsageReport:
    tenant = tenant_of(router)
    last = to or utc_now().date()
    first = from_ or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        message = "`from` is after `to`"
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, message, ["query", "from"], "date_order")
    if (last - first).days + 1 > MAX_DAYS:
        message = f"the range holds at most {MAX_DAYS} days"
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, message, ["query", "from"], "range_too_long")
    price = prices(get_settings())
    days = [day.priced(price) for day in deps.services().usage_store.days(tenant, first, last)]
    total = DayUsage(
        date=last,
        **{
            name: sum(getattr(day, name) for day in days)
            for name in DayUsage.model_fields
            if name not in ("date", "estimated_cost_usd")
        },
    ).priced(price)
    quotas = deps.services().quotas
    return UsageReport.model_validate(
        {
            "from": first,
            "to": last,
            "days": days,
            "total": total,
            "prices": price,
            "limits": quotas.for_tenant(tenant),
            "tokens_this_month": quotas.usage.month_tokens(tenant, utc_now().strftime("%Y-%m")),
        }
    )
