"""No noisy neighbour: tenant B's transcripts are learned as fast under tenant A's flood as alone.

Runs against a local stack (`make up`; the integration test runs the same `measure` on its own
stack). Two fresh tenants: A with an operator override of 2 requests/s and a burst of
`flood` (so its whole flood is accepted at once and waits on the queue), B with the defaults.
1. B alone (after one transcript that warms the extract function): B posts `share` transcripts;
   seconds until all are learned.
2. A's flood: A posts `flood` (= 10 x `share`) transcripts at once, then keeps posting beyond its
   rate (those get 429 with Retry-After); meanwhile B posts its `share` transcripts and reads.
   Seconds until B's are learned, and how many of A's were learned by then (with arrival-order
   delivery B would wait for all of A's backlog; with the fair queue it does not).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RATE_A = 2.0
BUDGET_RATIO = 1.5  # B's time to learn under A's flood, relative to alone


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def call(api_url: str, key: str, method: str, path: str, body: Any = None) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{api_url}{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return Answer(reply.status, dict(reply.headers), json.loads(reply.read() or b"null"))
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), json.loads(error.read() or b"null"))


def transcript(user: str, n: int) -> dict[str, Any]:
    return {
        "transcript_id": f"{user}-{n}-{uuid.uuid4().hex[:6]}",
        "user_id": user,
        "session_id": f"{user}-s{n}",
        "messages": [
            {"role": "user", "content": f"I'm working on project falcon{n} and prefer short answers."}
        ],
    }


@dataclass
class Figures:
    share: int
    flood: int
    b_alone_seconds: float = 0.0
    b_flooded_seconds: float = 0.0
    ratio: float = 0.0
    a_learned_when_b_done: int = 0
    a_accepted: int = 0
    a_throttled: int = 0
    a_throttled_bodies: list[Any] = field(default_factory=list)
    a_retry_after: list[str] = field(default_factory=list)
    b_requests: int = 0
    b_refused: list[int] = field(default_factory=list)


def wait_learned(api_url: str, key: str, ids: list[str], deadline: float) -> None:
    pending = set(ids)
    end = time.monotonic() + deadline
    while pending:
        if time.monotonic() > end:
            raise TimeoutError(f"{len(pending)} transcripts not learned within {deadline} s")
        for transcript_id in list(pending):
            answer = call(api_url, key, "GET", f"/v1/transcripts/{transcript_id}")
            if answer.status == 200 and answer.body["status"] in ("done", "failed"):
                pending.discard(transcript_id)
        time.sleep(0.25)


def post_all(
    api_url: str, key: str, bodies: list[dict[str, Any]], figures: Figures | None = None
) -> list[int]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda b: call(api_url, key, "POST", "/v1/transcripts", b).status, bodies))
    if figures is not None:
        figures.b_requests += len(statuses)
        figures.b_refused += [s for s in statuses if s >= 300]
    return statuses


def measure(
    api_url: str,
    key_a: str,
    key_b: str,
    learned_of_a: Callable[[], int],
    *,
    share: int = 4,
    factor: int = 10,
    deadline: float = 180,
) -> Figures:
    """A's limits must already be rate RATE_A with a burst of share x factor (`limits_for_a`)."""
    figures = Figures(share=share, flood=share * factor)
    # Warm: the first transcript of a fresh stack pays the extract function's cold start.
    warm = [transcript("b-warm", 0)]
    post_all(api_url, key_b, warm, figures)
    wait_learned(api_url, key_b, [warm[0]["transcript_id"]], deadline)

    alone = [transcript("b-alone", n) for n in range(share)]
    started = time.monotonic()
    post_all(api_url, key_b, alone, figures)
    wait_learned(api_url, key_b, [b["transcript_id"] for b in alone], deadline)
    figures.b_alone_seconds = round(time.monotonic() - started, 2)

    flood = [transcript("a-flood", n) for n in range(figures.flood)]
    statuses = post_all(api_url, key_a, flood)
    figures.a_accepted = sum(1 for s in statuses if s == 202)
    stop = threading.Event()

    def keep_flooding() -> None:  # A goes on beyond its rate: 429, whatever Retry-After says
        n = figures.flood
        while not stop.is_set():
            answer = call(api_url, key_a, "POST", "/v1/transcripts", transcript("a-more", n))
            n += 1
            if answer.status == 429:
                figures.a_throttled += 1
                if len(figures.a_throttled_bodies) < 3:
                    figures.a_throttled_bodies.append(answer.body)
                    figures.a_retry_after.append(answer.headers.get("Retry-After", ""))
            elif answer.status == 202:
                figures.a_accepted += 1
            time.sleep(0.05)

    flooder = threading.Thread(target=keep_flooding, daemon=True)
    flooder.start()
    try:
        flooded = [transcript("b-flooded", n) for n in range(share)]
        started = time.monotonic()
        post_all(api_url, key_b, flooded, figures)
        for _ in range(share):  # B reads meanwhile: none is refused
            answer = call(api_url, key_b, "GET", "/v1/usage")
            figures.b_requests += 1
            if answer.status >= 300:
                figures.b_refused.append(answer.status)
        wait_learned(api_url, key_b, [b["transcript_id"] for b in flooded], deadline)
        figures.b_flooded_seconds = round(time.monotonic() - started, 2)
        figures.a_learned_when_b_done = learned_of_a()
    finally:
        stop.set()
        flooder.join(timeout=30)
    figures.ratio = round(figures.b_flooded_seconds / max(figures.b_alone_seconds, 0.01), 2)
    return figures


def limits_item(tenant: str, flood: int) -> dict[str, Any]:
    """Tenant A's override, as `lm limits set --tenant A --rate 2 --burst <flood>` writes it."""
    doc = json.dumps({"rate_per_second": RATE_A, "burst": flood})
    return {
        "pk": {"S": f"T#{tenant}#LIMITS"},
        "sk": {"S": "current"},
        "version": {"N": "1"},
        "doc": {"S": doc},
    }


def learned_counter(dynamodb: Any, table: str, tenant: str) -> Callable[[], int]:
    """Tenant A's transcripts learned today, read from its usage counters with the stack's admin key."""

    def learned() -> int:
        day = time.strftime("%Y-%m-%d", time.gmtime())
        item = dynamodb.get_item(
            TableName=table, Key={"pk": {"S": f"T#{tenant}#USAGE#DAY"}, "sk": {"S": day}}, ConsistentRead=True
        ).get("Item", {})
        return int(item.get("transcripts_learned", {}).get("N", "0"))

    return learned


def main() -> int:
    import boto3

    from bench.common import write_result
    from learning_machine.cli.target import load_local_env
    from local.stack import create_api_key

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--share", type=int, default=4, help="B's transcripts; A posts 10 times as many")
    parser.add_argument("--env", type=Path, default=Path(".local/env"), help="the stack's env file")
    parser.add_argument("--name", default="fair_share", help="result file name (bench/results/NAME.json)")
    args = parser.parse_args()
    if not load_local_env(args.env):
        print("run `make up` first", file=sys.stderr)
        return 1
    import os

    moto = os.environ["AWS_ENDPOINT_URL"]
    suffix = uuid.uuid4().hex[:6]
    tenant_a, tenant_b = f"noisy-{suffix}", f"quiet-{suffix}"
    key_a = create_api_key(moto, os.environ["LM_KEYS_TABLE"], tenant_a, "bench")
    key_b = create_api_key(moto, os.environ["LM_KEYS_TABLE"], tenant_b, "bench")
    dynamodb = boto3.client("dynamodb", endpoint_url=moto, region_name="us-east-1")
    table = os.environ["LM_DATA_TABLE"]
    dynamodb.put_item(TableName=table, Item=limits_item(tenant_a, args.share * 10))
    figures = measure(
        os.environ["LM_API_URL"], key_a, key_b, learned_counter(dynamodb, table, tenant_a), share=args.share
    )
    result = {**asdict(figures), "sqs_fair": os.environ.get("LM_SQS_FAIR", "1") != "0"}
    write_result(args.name, result, module="bench.fair_share")
    print(json.dumps(result, indent=2))
    if not result["sqs_fair"]:
        return 0  # the comparison run: no budget
    met = figures.ratio <= BUDGET_RATIO and not figures.b_refused and figures.a_throttled > 0
    verdict = "met" if met else "MISSED"
    print(f"budget: B under the flood <= {BUDGET_RATIO}x alone, none of B's refused, A throttled: {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
