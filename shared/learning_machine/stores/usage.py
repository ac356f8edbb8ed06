"""Per-tenant limits overrides and usage counters: atomic DynamoDB counters, one item per day.

A day's item (T#t#USAGE#DAY, yyyy-mm-dd) holds every counter of that day; the month's item
(T#t#USAGE, yyyy-mm) holds the model tokens the tokens-per-month quota is checked against.
Counters only ever move by `ADD`, so concurrent writers never lose a count.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from ..adapters import dynamodb
from ..models.usage import USAGE_COUNTERS, DayUsage, LimitsOverride
from .keys import LIMITS_SK, limits_pk, usage_day_pk, usage_pk


def add_counters(counters: dict[str, int]) -> tuple[str, dict[str, str], dict[str, int]]:
    """An `ADD #a :a, #b :b` expression, its names and values, for the non-zero counters (names go
    through placeholders: some, like `reads`, are DynamoDB reserved words)."""
    kept = {name: value for name, value in counters.items() if value}
    unknown = set(kept) - set(USAGE_COUNTERS)
    if unknown:
        raise ValueError(f"unknown usage counters: {sorted(unknown)}")
    expression = "ADD " + ", ".join(f"#{name} :{name}" for name in kept)
    return (
        expression,
        {f"#{name}": name for name in kept},
        {f":{name}": value for name, value in kept.items()},
    )


def day_update(table_name: str, tenant: str, day: date, counters: dict[str, int]) -> dict[str, Any] | None:
    """A transaction Update adding `counters` to the day's item (None when all are zero)."""
    if not any(counters.values()):
        return None
    expression, names, values = add_counters(counters)
    return {
        "Update": {
            "TableName": table_name,
            "Key": {"pk": usage_day_pk(tenant), "sk": day.isoformat()},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


class UsageStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def add(self, tenant: str, day: date, **counters: int) -> None:
        update = day_update(self._table, tenant, day, counters)
        if update is not None:
            update["Update"].pop("TableName")
            dynamodb.table(self._table).update_item(**update["Update"])

    def take_transcript(self, tenant: str, day: date, limit: int) -> bool:
        """Count one accepted transcript unless the day's count already reached `limit` (atomic)."""
        try:
            dynamodb.table(self._table).update_item(
                Key={"pk": usage_day_pk(tenant), "sk": day.isoformat()},
                UpdateExpression="ADD transcripts_accepted :one",
                ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
                ExpressionAttributeNames={"#n": "transcripts_accepted"},
                ExpressionAttributeValues={":one": 1, ":limit": limit},
            )
            return True
        except ClientError as error:
            if not dynamodb.is_conditional_failure(error):
                raise
            return False

    def month_tokens(self, tenant: str, month: str) -> int:
        raw = dynamodb.table(self._table).get_item(
            Key={"pk": usage_pk(tenant), "sk": month},
            ProjectionExpression="prompt_tokens, completion_tokens",
        )
        found: dict[str, Any] = dict(raw.get("Item") or {})
        return int(found.get("prompt_tokens", 0)) + int(found.get("completion_tokens", 0))

    def days(self, tenant: str, first: date, last: date) -> list[DayUsage]:
        """One entry per day from `first` to `last`, zeros where nothing was counted."""
        from boto3.dynamodb.conditions import Key

        items = dynamodb.query_all(
            self._table,
            KeyConditionExpression=Key("pk").eq(usage_day_pk(tenant))
            & Key("sk").between(first.isoformat(), last.isoformat()),
        )
        counted = {
            str(item["sk"]): DayUsage(
                date=date.fromisoformat(str(item["sk"])),
                **{name: int(item.get(name, 0)) for name in USAGE_COUNTERS},
            )
            for item in items
        }
        span = (last - first).days + 1
        return [
            counted.get(day.isoformat(), DayUsage(date=day))
            for day in (date.fromordinal(first.toordinal() + offset) for offset in range(span))
        ]


class LimitsStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def get(self, tenant: str) -> LimitsOverride | None:
        raw = dynamodb.table(self._table).get_item(Key={"pk": limits_pk(tenant), "sk": LIMITS_SK})
        return dynamodb.load(LimitsOverride, raw["Item"]) if "Item" in raw else None

    def put(self, tenant: str, override: LimitsOverride) -> None:
        dynamodb.table(self._table).put_item(Item=dynamodb.item(limits_pk(tenant), LIMITS_SK, override, 1))

    def delete(self, tenant: str) -> None:
        dynamodb.table(self._table).delete_item(Key={"pk": limits_pk(tenant), "sk": LIMITS_SK})
