"""Realistic data for one tenant, written through the API's routes (in process, no model call):
a user with 500 memories, 50 entities with facts, 5,000 insights in the knowledge namespace, and a
session learned from one transcript by the stack's poller (offline extractor)."""

from __future__ import annotations

import itertools
import time
from typing import Any

from bench.inprocess import InProcessApi

USER = "heavy-user"
SESSION = "heavy-session"
SYSTEMS = [
    "billing service",
    "search cluster",
    "mobile app",
    "data warehouse",
    "payments gateway",
    "auth service",
    "notification queue",
    "analytics pipeline",
    "customer portal",
    "inventory api",
]
TOPICS = [
    "deploy freeze",
    "on-call rotation",
    "schema migration",
    "rate limiting",
    "cache invalidation",
    "feature flags",
    "incident review",
    "load testing",
    "cost report",
    "access review",
]
LAYERS = [
    ("policies", "The user prefers {topic} updates for the {system} as short bullet lists (note {n})."),
    ("profile", "The user has owned the {system} since year {n} and leads its {topic} work."),
    ("knowledge", "The {system} runs its {topic} every {n} days from the staging branch."),
    ("feedback", "The checklist for {topic} on the {system} helped the user in case {n}."),
]
QUERIES = [
    "how do we roll back a failed schema migration on the billing service",
    "who owns the on-call rotation for the payments gateway",
    "what is the deploy freeze policy before a release",
    "rate limiting errors on the inventory api",
    "cache invalidation bug in the customer portal",
    "how to turn on a feature flag for one tenant",
    "load testing the search cluster before launch",
    "monthly cost report for the data warehouse",
    "access review steps for the auth service",
    "incident review template for the notification queue",
    # Questions that ask two things, asked clause by clause as well (core/clauses.py).
    "who owns the on-call rotation for the payments gateway, and how do we page them",
    "what is the deploy freeze policy and when does the next release start",
]
MEMORIES = 500
ENTITIES = 50
INSIGHTS = 5_000
IMPORT_BATCH = 100


def memories() -> list[dict[str, str]]:
    combos = itertools.cycle(itertools.product(LAYERS, TOPICS, SYSTEMS))
    return [
        {"layer": layer, "content": text.format(topic=topic, system=system, n=n)}
        for n, ((layer, text), topic, system) in zip(range(MEMORIES), combos, strict=False)
    ]


def entities() -> list[dict[str, Any]]:
    kinds = ["system", "project", "person", "company", "product"]
    return [
        {
            "name": f"{SYSTEMS[n % len(SYSTEMS)].title()} {n}",
            "entity_type": kinds[n % len(kinds)],
            "description": f"Part of the {TOPICS[n % len(TOPICS)]} programme, number {n}.",
            "namespace": "user",
            "user_id": USER,
        }
        for n in range(ENTITIES)
    ]


def insights() -> list[dict[str, Any]]:
    combos = itertools.cycle(itertools.product(TOPICS, SYSTEMS))
    return [
        {
            "item_id": f"kb-{n}",
            "title": f"{topic.capitalize()} on the {system} ({n})",
            "content": f"For {topic} on the {system}, run step {n % 7} of the runbook and check the "
            f"dashboard before paging the owner; case {n}.",
            "tags": [topic.replace(" ", "-"), system.replace(" ", "-")],
        }
        for n, (topic, system) in zip(range(INSIGHTS), combos, strict=False)
    ]


def seed(api: InProcessApi) -> dict[str, float]:
    """Writes everything; returns seconds per part (the embedding of 5,000 insights dominates)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    api.call("PATCH", f"/v1/users/{USER}/profile", {"fields": {"name": "Robin", "role": "SRE lead"}})
    for memory in memories():
        api.call("POST", f"/v1/users/{USER}/memories", memory)
    timings["memories"] = time.perf_counter() - started
    started = time.perf_counter()
    for n, entity in enumerate(entities()):
        api.call("POST", "/v1/entities", entity)
        facts = {"facts": [f"{entity['name']} is deployed from region {n % 3}.", f"It has {n} replicas."]}
        owner = {"namespace": "user", "user_id": USER}
        api.call("POST", f"/v1/entities/{entity['name']}/facts", facts, owner)
    timings["entities"] = time.perf_counter() - started
    started = time.perf_counter()
    items = insights()
    for start in range(0, len(items), IMPORT_BATCH):
        api.call("POST", "/v1/knowledge/import", {"items": items[start : start + IMPORT_BATCH]})
    timings["insights"] = time.perf_counter() - started
    started = time.perf_counter()
    learn_session(api)
    timings["session"] = time.perf_counter() - started
    return {part: round(seconds, 1) for part, seconds in timings.items()}


def learn_session(api: InProcessApi, timeout: float = 60.0) -> None:
    """One transcript through the queue; the stack's poller learns the session from it."""
    body = {
        "user_id": USER,
        "session_id": SESSION,
        "messages": [
            {"role": "user", "content": "My goal is to finish the schema migration of the billing service."},
            {"role": "assistant", "content": "Let's plan it: freeze deploys, migrate, then verify."},
        ],
    }
    transcript_id = api.call("POST", "/v1/transcripts", body)["transcript_id"]
    deadline = time.monotonic() + timeout
    while api.call("GET", f"/v1/transcripts/{transcript_id}")["status"] != "done":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{transcript_id} not learned within {timeout:.0f} s: is the poller up?")
        time.sleep(0.2)
