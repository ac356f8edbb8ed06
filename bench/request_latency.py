"""get-context and search: where each request's time goes, and how many backend calls it makes.

Seeds a fresh tenant with realistic data (bench/seed.py: 500 memories, 50 entities, 5,000
insights, a learned session), then invokes the real `get_context` and `search` handlers in this
process with the events the local API builds (a warm container: the first requests are left out),
against the local stack's moto server and its embedded index with the local sentence model.
Per request: total time inside the handler; backend time = DynamoDB HTTP round trips + index
queries (query embedding included); the handler's own time = total - backend (routing,
validation, parsing, ranking, rendering, serialization). Config is cached per container as in
AWS (LM_CONFIG_CACHE_SECONDS, default 10 s), so most requests do not read it. A warm container
also keeps the user's parsed memories between requests (`UserMemoryStore.read`): the same routes
are timed again as a user's first read in a container (`first_read_of_user_handler_own_ms`).
Budget (DESIGN): own p95 < 20 ms; per request at most one DynamoDB round trip per store family
and at most one index query. Exits non-zero when missed.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.backend_probe import BackendProbe, RequestCost
from bench.common import summary, write_result
from bench.inprocess import InProcessApi
from bench.seed import QUERIES, SESSION, USER, seed

OWN_P95_BUDGET_SECONDS = 0.020
WARM_UP = 20
FIRST_READS = 200
Request = Callable[[int], Any]


def measure(
    api: InProcessApi,
    probe: BackendProbe,
    make_event: Request,
    count: int,
    before_each: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    for n in range(WARM_UP):
        api.invoke(make_event(n))
    totals: list[float] = []
    costs: list[RequestCost] = []
    for n in range(count):
        event = make_event(n)
        before_each()
        with probe.request() as cost:
            started = time.perf_counter()
            api.invoke(event)
            totals.append(time.perf_counter() - started)
        costs.append(cost)
    own = [total - cost.backend_seconds for total, cost in zip(totals, costs, strict=True)]
    families = sorted({family for cost in costs for family in cost.dynamodb_round_trips})
    round_trips = {
        family: {
            "max": max(cost.dynamodb_round_trips[family] for cost in costs),
            "mean": round(sum(cost.dynamodb_round_trips[family] for cost in costs) / count, 3),
        }
        for family in families
    }
    per_request = Counter(sum(cost.dynamodb_round_trips.values()) for cost in costs)
    return {
        "requests": count,
        "total_ms": as_ms(summary(totals)),
        "backend_ms": as_ms(summary([cost.backend_seconds for cost in costs])),
        "dynamodb_ms": as_ms(summary([cost.dynamodb_seconds for cost in costs])),
        "query_embedding_ms": as_ms(summary([cost.embedding_seconds for cost in costs])),
        "index_engine_ms": as_ms(summary([cost.engine_seconds for cost in costs])),
        "handler_own_ms": as_ms(summary(own)),
        "dynamodb_round_trips_by_family": round_trips,
        "dynamodb_round_trips_per_request": dict(sorted(per_request.items())),
        "index_queries_per_request": dict(sorted(Counter(cost.index_queries for cost in costs).items())),
    }


def as_first_read() -> None:
    """Forget what the container kept from earlier reads of the user (parsed memories, decoded
    vectors, tokenized texts), so the next request times a user's first read in a container."""
    from learning_machine.composition import services
    from learning_machine.core.ranking import term_counts
    from learning_machine.models.memories import packed_steps

    services().user_store.forget_reads()
    packed_steps.cache_clear()
    term_counts.cache_clear()


def as_ms(figures: dict[str, float]) -> dict[str, float]:
    return {key: value if key == "n" else round(value * 1000, 2) for key, value in figures.items()}


def within_budget(figures: dict[str, Any]) -> bool:
    own_ok = figures["handler_own_ms"]["p95"] < OWN_P95_BUDGET_SECONDS * 1000
    trips_ok = all(f["max"] <= 1 for f in figures["dynamodb_round_trips_by_family"].values())
    return own_ok and trips_ok and max(figures["index_queries_per_request"]) <= 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="get-context and search latency against the local stack.")
    parser.add_argument("--requests", type=int, default=1_000, help="per route")
    args = parser.parse_args(argv)
    api = InProcessApi.start(f"bench-{uuid.uuid4().hex[:8]}")
    seeding = seed(api)
    probe = BackendProbe()

    def context_event(n: int) -> Any:
        query = {"user_id": USER, "session_id": SESSION, "query": QUERIES[n % len(QUERIES)]}
        return api.event("GET", "/v1/context", query=query)

    def search_event(n: int) -> Any:
        body = {"query": QUERIES[n % len(QUERIES)], "user_id": USER, "limit": 10}
        return api.event("POST", "/v1/search", body)

    with probe.installed():
        routes = {
            "get_context": measure(api, probe, context_event, args.requests),
            "search": measure(api, probe, search_event, args.requests),
        }
        # A warm container's first request for a user parses all of the user's memories: timed
        # apart (the budget applies to the figures above, a container's steady state).
        first_reads = {
            route: measure(api, probe, event, FIRST_READS, before_each=as_first_read)["handler_own_ms"]
            for route, event in (("get_context", context_event), ("search", search_event))
        }
    ok = all(within_budget(figures) for figures in routes.values())
    write_result(
        "request_latency",
        {
            "data": "1 user: 500 memories, profile, 1 session; 50 entities (2 facts each); 5,000 insights",
            "seeding_seconds": seeding,
            **routes,
            "first_read_of_user_handler_own_ms": first_reads,
            "budget": {
                "handler_own_p95_ms_below": OWN_P95_BUDGET_SECONDS * 1000,
                "dynamodb_round_trips_per_family": 1,
                "index_queries": 1,
            },
            "within_budget": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
