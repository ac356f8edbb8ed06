"""Per-tenant quotas (transcripts per day, model tokens per month) and the usage report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from learning_machine.api import deps
from learning_machine.models.common import utc_now
from learning_machine.models.transcripts import TokenUsage
from learning_machine.models.usage import LimitsOverride
from learning_machine.services.quotas import seconds_until_next_month, seconds_until_tomorrow
from learning_machine.stores.changes import ChangeSet
from learning_machine.stores.usage import LimitsStore
from tests.conftest import Aws, Call, locs
from tests.support.handlers import FakeContext, load_handler, rest_event

TRANSCRIPT = {"user_id": "ada", "session_id": "s1", "messages": [{"role": "user", "content": "hi"}]}


def set_limits(aws: Aws, tenant: str, **limits: int) -> None:
    LimitsStore(aws.settings.data_table).put(tenant, LimitsOverride(**limits))
    deps.services.cache_clear()


def test_transcripts_over_the_days_quota_get_429_naming_the_limit_and_are_not_queued(
    aws: Aws, call: Call
) -> None:
    set_limits(aws, "acme", transcripts_per_day=2)
    assert call("POST", "/v1/transcripts", {**TRANSCRIPT, "transcript_id": "t1"})[0] == 202
    assert call("POST", "/v1/transcripts", {**TRANSCRIPT, "transcript_id": "t2"})[0] == 202
    # A duplicate is answered as before and takes nothing from the quota.
    assert call("POST", "/v1/transcripts", {**TRANSCRIPT, "transcript_id": "t1"})[0] == 200

    reply = load_handler("api").lambda_handler(
        rest_event("POST", "/v1/transcripts", body={**TRANSCRIPT, "transcript_id": "t3"}), FakeContext()
    )
    assert reply["statusCode"] == 429
    body = json.loads(reply["body"])
    assert body["limit"] == "transcripts_per_day" and body["retry_after"] >= 1
    headers = reply.get("multiValueHeaders") or {}
    assert headers["Retry-After"] == [str(body["retry_after"])]
    assert call("GET", "/v1/transcripts/t3")[0] == 404  # not accepted: nothing kept
    assert len(aws.queue_messages()) == 2
    # Another tenant has a quota of its own.
    assert call("POST", "/v1/transcripts", {**TRANSCRIPT, "transcript_id": "t3"}, tenant="other")[0] == 202


def test_a_tenant_over_its_monthly_tokens_is_refused_until_next_month(aws: Aws, call: Call) -> None:
    set_limits(aws, "acme", tokens_per_month=1000)
    changes = ChangeSet(aws.settings.data_table, "acme", "ada")
    changes.add_usage(TokenUsage(prompt_tokens=900, completion_tokens=100), 1, utc_now())
    changes.commit()
    status, body = call("POST", "/v1/transcripts", TRANSCRIPT)
    assert status == 429 and body["limit"] == "tokens_per_month"
    assert aws.queue_messages() == []


def test_transcripts_carry_the_tenant_as_message_group(aws: Aws, call: Call) -> None:
    import boto3

    call("POST", "/v1/transcripts", TRANSCRIPT)
    reply = boto3.client("sqs").receive_message(
        QueueUrl=aws.settings.transcripts_queue_url, MessageSystemAttributeNames=["MessageGroupId"]
    )
    assert reply["Messages"][0]["Attributes"]["MessageGroupId"] == "acme"


def test_usage_reports_each_day_with_counters_and_cost(aws: Aws, call: Call) -> None:
    call("POST", "/v1/transcripts", TRANSCRIPT)
    changes = ChangeSet(aws.settings.data_table, "acme", "ada")
    changes.add_usage(TokenUsage(prompt_tokens=1_000, completion_tokens=200), 1, utc_now())
    changes.commit()
    assert call("GET", "/v1/context", query={"user_id": "ada"})[0] == 200
    assert call("POST", "/v1/search", {"query": "hello", "user_id": "ada"})[0] == 200
    today = utc_now().date()
    start = (today - timedelta(days=2)).isoformat()
    status, report = call("GET", "/v1/usage", query={"from": start, "to": today.isoformat()})
    assert status == 200, report
    assert [day["date"] for day in report["days"]][-1] == today.isoformat() and len(report["days"]) == 3
    day = report["days"][-1]
    assert day["transcripts_accepted"] == 1 and day["transcripts_learned"] == 1
    assert (day["prompt_tokens"], day["completion_tokens"], day["model_calls"], day["reads"]) == (
        1000,
        200,
        1,
        2,
    )
    assert day["embedding_tokens"] > 0  # the search embedded its query
    day["estimated_cost_usd"] -= day["embedding_tokens"] * 0.02 / 1_000_000
    # 1000 x 0.15 + 200 x 0.60 per million tokens, 3 requests x 3.50 per million
    assert day["estimated_cost_usd"] == pytest.approx((150 + 120 + 10.5) / 1_000_000)
    assert report["total"]["reads"] == 2 and report["tokens_this_month"] == 1200
    assert report["limits"]["transcripts_per_day"] == aws.settings.limit_transcripts_per_day
    assert report["from"] == start
    # Another tenant sees none of it.
    other = call("GET", "/v1/usage", tenant="other")[1]
    assert other["total"]["reads"] == 0 and len(other["days"]) == 30


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "from"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "from"),
    ],
)
def test_bad_usage_dates_are_422_naming_the_field(call: Call, query: dict[str, str], field: str) -> None:
    status, body = call("GET", "/v1/usage", query=query)
    assert status == 422 and ["query", field] in locs(body)


def test_retry_after_counts_to_the_next_day_and_month() -> None:
    now = datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)
    assert seconds_until_tomorrow(now) == 31
    assert seconds_until_next_month(now) == 31
