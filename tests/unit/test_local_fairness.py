"""The local stack's stand-ins for API Gateway usage plans and SQS fair queues."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from local.api_server import TokenBuckets
from local.moto_server import fair_order, fair_queues
from local.template import LocalTemplate


def test_the_template_declares_a_usage_plan_keyed_by_the_authorizer() -> None:
    template = LocalTemplate.load(endpoint_url="http://127.0.0.1:5000")
    plan = template.usage_plan
    assert plan is not None and plan.key_source == "AUTHORIZER"
    assert (plan.rate_per_second, plan.burst) == (50.0, 100)
    throttled = template.gateway_responses["THROTTLED"]
    assert throttled.status == 429 and throttled.headers["Retry-After"] == "1"
    assert '"limit": "request_rate"' in str(throttled.body)
    required = {r.path: r.api_key_required for r in template.routes}
    assert required["/v1/transcripts"] and required["/v1/usage"] and not required["/v1/openapi.json"]


def test_token_bucket_allows_the_burst_then_the_rate_per_key() -> None:
    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0])
    assert [buckets.take("a", 2, 3) for _ in range(4)] == [True, True, True, False]
    assert buckets.take("b", 2, 3)  # another key, another bucket
    now[0] = 0.5  # one token back at 2 a second
    assert buckets.take("a", 2, 3) and not buckets.take("a", 2, 3)
    now[0] = 100.0  # never more than the burst
    assert [buckets.take("a", 2, 3) for _ in range(4)] == [True, True, True, False]


class Msg:
    def __init__(self, group: str | None, n: int) -> None:
        self.group_id, self.n = group, n


def test_fair_order_takes_turns_across_groups_keeping_each_groups_order() -> None:
    messages = [Msg("a", i) for i in range(4)] + [Msg("b", 0), Msg(None, 0), Msg("b", 1)]
    order = [(m.group_id, m.n) for m in fair_order(messages)]  # type: ignore[arg-type]
    assert order == [("a", 0), ("b", 0), (None, 0), ("a", 1), ("b", 1), ("a", 2), ("a", 3)]


def test_a_standard_queue_serves_a_quiet_group_before_a_noisy_groups_backlog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # moto's in-process mock, whatever the shell says
    fair_queues()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="fair")["QueueUrl"]
        for i in range(20):
            sqs.send_message(QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="noisy")
        sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="quiet")
        bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5)["Messages"]]
    assert "b0" in bodies and bodies[0] == "a0"
