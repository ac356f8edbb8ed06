"""No noisy neighbour on the local stack: per-tenant rate limits at the gateway, a fair queue.

Timings are reported, not asserted tightly (bench/fair_share.py records them in bench/results):
the ratio bound is generous; what is asserted firmly is the order (B's transcripts are learned
while most of A's earlier backlog still waits) and who gets 429 (A beyond its rate, never B).
"""

from __future__ import annotations

import uuid

from bench.fair_share import learned_counter, limits_item, measure
from tests.integration.conftest import Stack

SHARE = 4
FACTOR = 10


def test_a_flooding_tenant_is_throttled_and_does_not_delay_another(stack: Stack) -> None:
    suffix = uuid.uuid4().hex[:6]
    tenant_a, tenant_b = f"noisy-{suffix}", f"quiet-{suffix}"
    key_a, key_b = stack.new_tenant_key(tenant_a), stack.new_tenant_key(tenant_b)
    table = stack.env["LM_DATA_TABLE"]
    stack.dynamodb.put_item(TableName=table, Item=limits_item(tenant_a, SHARE * FACTOR))

    figures = measure(
        stack.api_url,
        key_a,
        key_b,
        learned_counter(stack.dynamodb, table, tenant_a),
        share=SHARE,
        factor=FACTOR,
    )
    print(f"fair share: {figures}")

    assert figures.b_refused == []  # every one of B's requests succeeded
    assert figures.a_accepted >= SHARE * FACTOR  # A's burst took its whole flood
    assert figures.a_throttled > 0  # A beyond its rate: 429
    assert figures.a_throttled_bodies[0]["limit"] == "request_rate"
    assert figures.a_retry_after[0] == "1"
    # The fair queue served B before most of A's backlog (in arrival order, all 40 would go first).
    assert figures.a_learned_when_b_done <= SHARE * FACTOR // 2, figures
    assert figures.ratio <= 4, figures  # generous: measured figures are in bench/results/fair_share.json
