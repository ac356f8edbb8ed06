"""Entity memory, learned knowledge, proposals, search and context through the real handlers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Call, locs
from tests.support.handlers import FakeContext, load_handler, rest_event
from tests.support.index_flavours import IndexUnderTest, index_engine

GLOBAL = {"namespace": "global"}

__all__ = ["index_engine"]  # the fixture, imported for pytest


def test_names_match_case_insensitively_and_through_aliases(call: Call) -> None:
    status, acme = call(
        "POST",
        "/v1/entities",
        {"name": "Acme Corp", "entity_type": "company", "aliases": ["Acme"], "namespace": "global"},
    )
    assert status == 200
    status, again = call(
        "POST", "/v1/entities", {"name": "ACME", "description": "Makes anvils.", "namespace": "global"}
    )
    assert again["entity_id"] == acme["entity_id"] and again["description"] == "Makes anvils."
    for name in ("acme", "Acme Corp", "ACME CORP", acme["entity_id"]):
        status, view = call("GET", f"/v1/entities/{name}", query=GLOBAL)
        assert status == 200 and view["entity"]["entity_id"] == acme["entity_id"], name
    assert len(call("GET", "/v1/entities", query=GLOBAL)[1]["entities"]) == 1


def test_a_contradicted_fact_is_superseded_not_overwritten(call: Call) -> None:
    call("POST", "/v1/entities", {"name": "Falcon", "entity_type": "project", "namespace": "global"})
    status, entity = call(
        "POST", "/v1/entities/Falcon/facts", {"facts": ["Falcon runs on Postgres 14."]}, query=GLOBAL
    )
    old = entity["facts"][0]
    status, entity = call(
        "POST",
        "/v1/entities/Falcon/facts",
        {"facts": ["Falcon runs on Postgres 16."], "supersedes": [old["fact_id"]]},
        query=GLOBAL,
    )
    assert status == 200
    facts = {f["content"]: f for f in entity["facts"]}
    assert facts["Falcon runs on Postgres 14."]["valid_to"] is not None
    assert (
        facts["Falcon runs on Postgres 14."]["superseded_by"]
        == facts["Falcon runs on Postgres 16."]["fact_id"]
    )
    assert facts["Falcon runs on Postgres 16."]["valid_to"] is None
    status, reply = call(
        "POST", "/v1/entities/Falcon/facts", {"facts": ["x"], "supersedes": ["f-nope"]}, query=GLOBAL
    )
    assert status == 404 and locs(reply) == [["body", "supersedes"]]


def test_events_keep_the_date_as_given_and_resolve_it(call: Call) -> None:
    call("POST", "/v1/entities", {"name": "Falcon", "namespace": "global"})
    status, entity = call(
        "POST",
        "/v1/entities/Falcon/events",
        {
            "events": [
                {"content": "Launched v2", "date_text": "2026-03-02"},
                {"content": "Kickoff", "date_text": "someday soon"},
            ]
        },
        query=GLOBAL,
    )
    assert status == 200
    events = {e["content"]: e for e in entity["events"]}
    assert events["Launched v2"]["date"] == "2026-03-02"
    assert events["Kickoff"]["date_text"] == "someday soon" and events["Kickoff"]["date"] is None


def test_relationships_are_queryable_from_both_ends(call: Call) -> None:
    call("POST", "/v1/entities", {"name": "Ada", "entity_type": "person", "namespace": "global"})
    status, edges = call(
        "POST",
        "/v1/entities/Ada/relationships",
        {"relationships": [{"relation": "works_at", "target": "Initech"}]},
        query=GLOBAL,
    )
    assert status == 200 and edges[0]["target_name"] == "Initech"
    _, ada = call("GET", "/v1/entities/Ada", query=GLOBAL)
    _, initech = call("GET", "/v1/entities/Initech", query=GLOBAL)
    assert [r["relation"] for r in ada["relationships"]] == ["works_at"]
    assert [r["source_name"] for r in initech["relationships"]] == ["Ada"]
    assert call("DELETE", "/v1/entities/Initech", query=GLOBAL)[0] == 204
    assert call("GET", "/v1/entities/Ada", query=GLOBAL)[1]["relationships"] == []


def test_user_namespaces_never_collide(call: Call) -> None:
    call("POST", "/v1/entities", {"name": "Project X", "description": "Ada's garden plan.", "user_id": "ada"})
    call("POST", "/v1/entities", {"name": "Project X", "description": "Bob's startup.", "user_id": "bob"})
    _, ada = call("GET", "/v1/entities/Project X", query={"user_id": "ada"})
    _, bob = call("GET", "/v1/entities/Project X", query={"user_id": "bob"})
    assert (
        ada["entity"]["description"] == "Ada's garden plan."
        and bob["entity"]["description"] == "Bob's startup."
    )
    status, reply = call("GET", "/v1/entities")  # 'user' is the default namespace: it needs a user
    assert status == 422 and locs(reply) == [["query", "user_id"]]


def test_entity_routes_refuse_bad_input(call: Call) -> None:
    status, reply = call("POST", "/v1/entities", {"name": "", "namespace": "global"})
    assert status == 422 and ["body", "name"] in locs(reply)
    status, reply = call(
        "POST", "/v1/entities", {"name": "A", "entity_type": "planet", "namespace": "global"}
    )
    assert status == 422 and ["body", "entity_type"] in locs(reply)
    status, reply = call("POST", "/v1/entities", {"name": "A", "namespace": "Bad Space"})
    assert status == 422 and ["body", "namespace"] in locs(reply)
    call("POST", "/v1/entities", {"name": "A", "namespace": "global"})
    status, reply = call(
        "POST",
        "/v1/entities/A/relationships",
        {"relationships": [{"relation": "Has Space", "target": "B"}]},
        query=GLOBAL,
    )
    assert status == 422 and ["body", "relationships", 0, "relation"] in locs(reply)
    assert call("GET", "/v1/entities/Nobody", query=GLOBAL)[0] == 404
    assert call("DELETE", "/v1/entities/A/facts/f123", query=GLOBAL)[0] == 404


def test_another_tenants_entities_are_absent(call: Call) -> None:
    call("POST", "/v1/entities", {"name": "Secret Co", "namespace": "global"})
    assert call("GET", "/v1/entities/Secret Co", query=GLOBAL, tenant="globex")[0] == 404
    assert call("GET", "/v1/entities", query=GLOBAL, tenant="globex")[1]["entities"] == []
    status, found = call(
        "GET", "/v1/entities/search", query={"query": "Secret Co", **GLOBAL}, tenant="globex"
    )
    assert status == 200 and found["entities"] == []
    assert call("DELETE", "/v1/entities/Secret Co", query=GLOBAL, tenant="globex")[0] == 404


INSIGHT = {
    "title": "Retry with jitter",
    "content": "Use exponential backoff with full jitter for DynamoDB conflicts.",
    "tags": ["dynamodb"],
}


def test_saving_a_near_duplicate_updates_the_insight(call: Call) -> None:
    status, first = call("POST", "/v1/knowledge", INSIGHT)
    assert status == 201 and first["deduplicated"] is False
    status, second = call("POST", "/v1/knowledge", {**INSIGHT, "tags": ["retries"]})
    assert status == 200 and second["deduplicated"] is True
    assert second["similar_to"] == first["insight"]["insight_id"]
    assert second["insight"]["tags"] == ["dynamodb", "retries"]
    assert len(call("GET", "/v1/knowledge")[1]["insights"]) == 1


def test_a_proposal_is_invisible_until_approved(call: Call) -> None:
    status, proposal = call(
        "POST", "/v1/knowledge/proposals", {"title": "Zebra deploys", "content": "Deploy zebra on Tuesdays."}
    )
    assert status == 201 and proposal["status"] == "pending"
    search = {"query": "zebra deploy tuesdays", "user_id": "ada"}
    assert call("POST", "/v1/search", search)[1]["results"] == []
    context = call("GET", "/v1/context", query={"user_id": "ada", "query": "zebra deploy tuesdays"})[1]
    assert context["knowledge"] == [] and "zebra" not in context["xml"].lower()
    assert [p["insight_id"] for p in call("GET", "/v1/knowledge/proposals")[1]["insights"]] == [
        proposal["insight_id"]
    ]

    status, approved = call(
        "POST", f"/v1/knowledge/proposals/{proposal['insight_id']}/approve", {"reviewer": "lead"}
    )
    assert status == 200 and approved["review"]["reviewer"] == "lead"
    results = call("POST", "/v1/search", search)[1]["results"]
    assert [r["id"] for r in results] == [proposal["insight_id"]] and results[0]["store"] == "knowledge"
    context = call("GET", "/v1/context", query={"user_id": "ada", "query": "zebra deploy tuesdays"})[1]
    assert (
        "<learned_knowledge>\n- Zebra deploys: Deploy zebra on Tuesdays.\n</learned_knowledge>"
        in context["xml"]
    )
    assert call("POST", f"/v1/knowledge/proposals/{proposal['insight_id']}/approve", {})[0] == 409


def test_a_rejected_proposal_keeps_its_reason_and_never_shows(call: Call) -> None:
    _, proposal = call(
        "POST", "/v1/knowledge/proposals", {"title": "Bad idea", "content": "Store passwords in logs."}
    )
    status, rejected = call(
        "POST", f"/v1/knowledge/proposals/{proposal['insight_id']}/reject", {"reason": "Unsafe."}
    )
    assert status == 200 and rejected["status"] == "rejected" and rejected["review"]["reason"] == "Unsafe."
    assert call("GET", "/v1/knowledge/proposals")[1]["insights"] == []
    assert call("POST", "/v1/search", {"query": "passwords logs"})[1]["results"] == []
    status, reply = call("POST", f"/v1/knowledge/proposals/{proposal['insight_id']}/reject", {})
    assert status == 422 and ["body", "reason"] in locs(reply)


def test_proposals_of_another_tenant_are_absent(call: Call) -> None:
    _, proposal = call("POST", "/v1/knowledge/proposals", {"title": "T", "content": "C"})
    assert call("GET", "/v1/knowledge/proposals", tenant="globex")[1]["insights"] == []
    path = f"/v1/knowledge/proposals/{proposal['insight_id']}/approve"
    assert call("POST", path, {}, tenant="globex")[0] == 404
    assert call("POST", path, {})[0] == 200


def test_import_is_verbatim_and_idempotent_per_item_id(call: Call) -> None:
    items = [
        {"item_id": f"doc-{i}", "title": f"Runbook {i}", "content": f"Step {i}: restart the worker."}
        for i in range(5)
    ]
    status, first = call("POST", "/v1/knowledge/import", {"items": items})
    assert status == 200 and (first["imported"], first["updated"]) == (5, 0)
    items[0]["content"] = "Step 0: drain, then restart the worker."
    status, second = call("POST", "/v1/knowledge/import", {"items": items})
    assert (second["imported"], second["updated"]) == (0, 5) and second["insight_ids"] == first["insight_ids"]
    contents = sorted(i["content"] for i in call("GET", "/v1/knowledge")[1]["insights"])
    assert len(contents) == 5 and contents[0] == "Step 0: drain, then restart the worker."
    status, reply = call("POST", "/v1/knowledge/import", {"items": [{"title": "no id", "content": "x"}]})
    assert status == 422 and ["body", "items", 0, "item_id"] in locs(reply)
    status, reply = call("POST", "/v1/knowledge/import", {"items": []})
    assert status == 422 and ["body", "items"] in locs(reply)


def test_search_ranks_across_stores_with_provenance(call: Call) -> None:
    call(
        "POST",
        "/v1/users/ada/memories",
        {"layer": "knowledge", "content": "Ada maintains the billing service."},
    )
    call("POST", "/v1/entities", {"name": "Billing service", "entity_type": "system", "user_id": "ada"})
    call(
        "POST",
        "/v1/knowledge",
        {"title": "Billing deploys", "content": "Billing service deploys need a freeze window."},
    )
    status, found = call("POST", "/v1/search", {"query": "billing service", "user_id": "ada"})
    assert status == 200
    assert {r["store"] for r in found["results"]} == {"memories", "entities", "knowledge"}
    scores = [r["score"] for r in found["results"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    memory = next(r for r in found["results"] if r["store"] == "memories")
    assert memory["provenance"]["source"] == "api"
    only = call(
        "POST", "/v1/search", {"query": "billing service", "user_id": "ada", "stores": ["knowledge"]}
    )[1]
    assert {r["store"] for r in only["results"]} == {"knowledge"}
    assert (
        call("POST", "/v1/search", {"query": "billing service", "user_id": "ada"}, tenant="globex")[1][
            "results"
        ]
        == []
    )


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"query": ""}, ["body", "query"]),
        ({"query": "x", "limit": 0}, ["body", "limit"]),
        ({"query": "x", "limit": 500}, ["body", "limit"]),
        ({"query": "x", "stores": ["secrets"]}, ["body", "stores", 0]),
        ({"query": "x", "user_id": "bad id"}, ["body", "user_id"]),
        ({"query": "x", "tenant_id": "globex"}, ["body", "tenant_id"]),
    ],
)
def test_search_refuses_bad_input(call: Call, body: dict, loc: list) -> None:
    status, reply = call("POST", "/v1/search", body)
    assert status == 422 and loc in locs(reply)


def test_context_holds_entities_relevant_to_the_query(call: Call) -> None:
    call("POST", "/v1/entities", {"name": "Falcon", "entity_type": "project", "user_id": "ada"})
    call("POST", "/v1/entities/Falcon/facts", {"facts": ["Falcon ships in May."]}, query={"user_id": "ada"})
    _, context = call("GET", "/v1/context", query={"user_id": "ada", "query": "when does Falcon ship?"})
    assert "<entities>\n- Falcon (project): Falcon ships in May.\n</entities>" in context["xml"]
    assert context["entities"][0]["name"] == "Falcon" and context["degraded"] is False
    other = call("GET", "/v1/context", query={"user_id": "bob", "query": "when does Falcon ship?"})[1]
    assert other["entities"] == []


def test_context_asks_the_index_once_and_degrades_when_it_is_down(
    call: Call, monkeypatch: pytest.MonkeyPatch, index_engine: IndexUnderTest
) -> None:
    from learning_machine.adapters.index.base import IndexUnavailableError
    from learning_machine.api import deps

    call(
        "POST",
        "/v1/knowledge",
        {"title": "Falcon runbook", "content": "Restart Falcon with the blue button."},
    )
    call("POST", "/v1/entities", {"name": "Falcon", "entity_type": "project", "user_id": "ada"})
    index_engine.settle()
    index = deps.services().indexer.index
    queries: list[tuple] = []
    real_search = index.search

    def counting(*args: Any, **kwargs: Any) -> Any:
        queries.append(args)
        return real_search(*args, **kwargs)

    monkeypatch.setattr(index, "search", counting)
    _, context = call("GET", "/v1/context", query={"user_id": "ada", "query": "restart Falcon"})
    assert len(queries) == 1
    assert context["entities"] and context["knowledge"]

    def down(*args: Any, **kwargs: Any) -> Any:
        raise IndexUnavailableError("connection refused")

    monkeypatch.setattr(index, "search", down)
    handler = load_handler("get_context")
    event = rest_event(
        "GET", "/v1/context", tenant="acme", query={"user_id": "ada", "query": "restart Falcon"}
    )
    reply = handler.lambda_handler(event, FakeContext())
    assert reply["statusCode"] == 200
    assert reply["multiValueHeaders"].get("X-LM-Degraded") == ["knowledge-index"]
    context = json.loads(reply["body"])
    assert context["degraded"] is True
    assert context["entities"] == [] and context["knowledge"] == []
