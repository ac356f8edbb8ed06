"""Seconds from `POST /v1/transcripts` (202) until the learned memory is in `GET /v1/context`.

Runs against the local stack (`make up`): HTTP -> local API -> SQS (moto) -> poller (batching
window from the template) -> extract (offline extractor unless a model is configured) -> DynamoDB.
"""

from __future__ import annotations

import sys
import time
import uuid

from bench.common import summary, write_result
from learning_machine.cli.http import Api

SAMPLES = 20


def main() -> int:
    api = Api.from_env()
    tenant_user = f"bench-{uuid.uuid4().hex[:6]}"
    latencies: list[float] = []
    for n in range(SAMPLES):
        marker = f"kiwi{n}x{uuid.uuid4().hex[:4]}"
        body = {
            "user_id": tenant_user,
            "session_id": f"{tenant_user}-s",
            "messages": [{"role": "user", "content": f"I'm working on a project called {marker}."}],
        }
        started = time.perf_counter()
        api.request("POST", "/v1/transcripts", body)
        while marker not in api.request("GET", "/v1/context", query={"user_id": tenant_user})["xml"]:
            if time.perf_counter() - started > 60:
                print(f"sample {n}: not learned within 60 s", file=sys.stderr)
                return 1
            time.sleep(0.05)
        latencies.append(time.perf_counter() - started)
    write_result("learning_latency", {"post_to_context_seconds": summary(latencies)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
