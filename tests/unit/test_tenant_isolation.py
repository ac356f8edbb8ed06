"""Every route of template.yaml, called by another tenant with the first tenant's ids: nothing of the
first tenant comes back, nothing of it changes, and the answer does not reveal that it exists."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import Aws
from tests.support.handlers import FakeContext, load_handler, rest_event

MARK = "SECRET-A-42"
OWNER, INTRUDER = "tenant-a", "tenant-b"
FUNCTION_DIR = {"ApiFunction": "api", "GetContextFunction": "get_context", "SearchFunction": "search"}

# A body each route accepts, aimed at the owner's data by id or name.
BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/transcripts"): {
        "transcript_id": "t-a",
        "user_id": "ada",
        "session_id": "s-a",
        "messages": [{"role": "user", "content": "hi"}],
    },
    ("patch", "/v1/users/{user_id}/profile"): {"fields": {"name": "Mallory"}},
    ("post", "/v1/users/{user_id}/memories"): {"layer": "knowledge", "content": "Planted by B."},
    ("patch", "/v1/users/{user_id}/memories/{memory_id}"): {"content": "Overwritten by B."},
    ("put", "/v1/config"): {"stores": {"session_context": {"enabled": False}}},
    ("post", "/v1/search"): {"query": "Ada secret Falcon insight idea", "user_id": "ada"},
    ("post", "/v1/entities"): {"name": "Falcon", "description": "B's falcon.", "user_id": "ada"},
    ("post", "/v1/entities/{entity}/facts"): {"facts": ["Changed by B."], "supersedes": ["{fact_id}"]},
    ("post", "/v1/entities/{entity}/events"): {"events": [{"content": "B was here"}]},
    ("post", "/v1/entities/{entity}/relationships"): {
        "relationships": [{"relation": "owned_by", "target": "B"}]
    },
    ("post", "/v1/knowledge"): {"title": "B", "content": "B's own insight."},
    ("post", "/v1/knowledge/import"): {"items": [{"item_id": "x", "title": "B", "content": "B"}]},
    ("post", "/v1/knowledge/proposals"): {"title": "B", "content": "B"},
    ("post", "/v1/knowledge/proposals/{insight_id}/approve"): {},
    ("post", "/v1/knowledge/proposals/{insight_id}/reject"): {"reason": "B says no"},
    ("post", "/v1/tools/call"): {
        "name": "search_entities",
        "arguments": {"query": "Falcon secret"},
        "user_id": "ada",
    },
}
QUERY = {"user_id": "ada", "session_id": "s-a", "query": "Falcon secret insight"}


def invoke(
    handlers: dict[str, Any],
    function: str,
    method: str,
    path: str,
    tenant: str,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> tuple[int, str]:
    event = rest_event(method.upper(), path, tenant=tenant, body=body, query=query)
    reply = handlers[function].lambda_handler(event, FakeContext())
    return reply["statusCode"], reply["body"] or ""


@pytest.fixture
def owner_data(aws: Aws) -> tuple[dict[str, Any], dict[str, str]]:
    handlers = {d: load_handler(d) for d in FUNCTION_DIR.values()}

    def call(method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
        status, text = invoke(
            handlers, "search" if path == "/v1/search" else "api", method, path, OWNER, body, query
        )
        assert status < 300, text
        return json.loads(text) if text else None

    memory = call(
        "post", "/v1/users/ada/memories", {"layer": "knowledge", "content": f"Ada's secret {MARK}."}
    )
    call("patch", "/v1/users/ada/profile", {"fields": {"name": f"Ada {MARK}"}})
    call("post", "/v1/entities", {"name": "Falcon", "description": f"Project {MARK}.", "user_id": "ada"})
    entity = call("post", "/v1/entities/Falcon/facts", {"facts": [f"Falcon is {MARK}."]}, {"user_id": "ada"})
    proposal = call("post", "/v1/knowledge/proposals", {"title": "A's idea", "content": f"Idea {MARK}."})
    call("post", "/v1/knowledge", {"title": "A's insight", "content": f"Insight {MARK}."})
    call(
        "post",
        "/v1/transcripts",
        {
            "transcript_id": "t-a",
            "user_id": "ada",
            "session_id": "s-a",
            "messages": [{"role": "user", "content": f"My secret is {MARK}"}],
        },
    )
    ids = {
        "user_id": "ada",
        "memory_id": memory["memory_id"],
        "transcript_id": "t-a",
        "session_id": "s-a",
        "entity": "Falcon",
        "fact_id": entity["facts"][0]["fact_id"],
        "insight_id": proposal["insight_id"],
    }
    export = call("get", "/v1/users/ada/export")
    return handlers, {**ids, "export": json.dumps(export, sort_keys=True, default=str)}


def test_no_route_leaks_or_changes_another_tenants_data(
    aws: Aws, owner_data: tuple[dict[str, Any], dict]
) -> None:
    handlers, ids = owner_data
    routes = [r for r in aws.template.routes if r.function in FUNCTION_DIR and r.path != "/v1/openapi.json"]
    assert len(routes) > 30
    for route in routes:
        path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], route.path)
        body = BODIES.get((route.method.lower(), route.path))
        if isinstance(body, dict):
            body = json.loads(json.dumps(body).replace("{fact_id}", ids["fact_id"]))
        query = QUERY if route.method.lower() in ("get", "delete") else {"user_id": "ada"}
        status, text = invoke(
            handlers, FUNCTION_DIR[route.function], route.method, path, INTRUDER, body, query
        )
        where = f"{route.method} {route.path} -> {status} {text[:200]}"
        assert status < 500, where
        assert MARK not in text, where
        assert "ada's" not in text.lower(), where

    # The owner's data is exactly as it was, whatever the intruder tried.
    status, text = invoke(handlers, "api", "get", "/v1/users/ada/export", OWNER)
    after = json.loads(text)
    before = json.loads(ids["export"])
    for key in ("profile", "memories", "memory_history", "entities", "insights"):
        assert json.dumps(after[key], sort_keys=True, default=str) == json.dumps(
            before[key], sort_keys=True, default=str
        ), key
