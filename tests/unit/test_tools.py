"""Agent tools through the real API handler: published definitions, execution, bad input, tenancy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from learning_machine.api import deps
from learning_machine.tools.definitions import TOOLS
from tests.conftest import Call

ENTITY_TOOLS = {
    "remember_entity",
    "record_entity_event",
    "link_entities",
    "search_entities",
    "forget_entity_fact",
    "forget_relationship",
    "forget_entity",
}
MEMORY_TOOLS = {"save_memory", "update_memory", "forget_memory", "search_memories"}
KNOWLEDGE_TOOLS = {"save_knowledge", "search_knowledge"}
ALL_ON = {
    "stores": {
        "user_profile": {"modes": ["always", "agentic"]},
        "learned_knowledge": {"modes": ["agentic", "propose"]},
    }
}
# One valid call per tool, in an order where each finds what the earlier ones made.
VALID_ARGUMENTS: dict[str, dict[str, Any]] = {
    "save_memory": {"layer": "policies", "content": "Wants answers in French.", "category": "style/language"},
    "search_memories": {"query": "French answers", "limit": 3},
    "remember_entity": {
        "name": "Acme Corp",
        "entity_type": "company",
        "aliases": ["Acme"],
        "facts": ["Uses Go."],
    },
    "record_entity_event": {"entity": "acme", "content": "Signed the contract.", "date_text": "2024-03-01"},
    "link_entities": {"source": "Ada", "relation": "works_at", "target": "Acme"},
    "search_entities": {"query": "Acme", "limit": 5},
    "save_knowledge": {"title": "Retries", "content": "Retry 429s with backoff.", "tags": ["http"]},
    "search_knowledge": {"query": "retry backoff"},
    "propose_knowledge": {"title": "Timeouts", "content": "Set client timeouts below 29 seconds."},
}


def use(call: Call, name: str, arguments: Any, *, user: str = "ada", tenant: str = "acme") -> tuple[int, Any]:
    body = {"name": name, "arguments": arguments, "user_id": user, "session_id": "s1"}
    return call("POST", "/v1/tools/call", body, tenant=tenant)


def ok(call: Call, name: str, arguments: Any, **kwargs: Any) -> dict[str, Any]:
    status, reply = use(call, name, arguments, **kwargs)
    assert status == 200, reply
    assert reply["name"] == name and reply["ok"] is True
    result: dict[str, Any] = reply["result"]
    return result


def tool_names(call: Call, tenant: str = "acme") -> set[str]:
    status, reply = call("GET", "/v1/tools", tenant=tenant)
    assert status == 200
    return {tool["function"]["name"] for tool in reply["tools"]}


def locs(body: dict) -> list[list]:
    return [d["loc"] for d in body["detail"]]


def configure(call: Call, document: dict[str, Any], tenant: str = "acme") -> None:
    assert call("PUT", "/v1/config", document, tenant=tenant)[0] == 200


# -- definitions ----------------------------------------------------------------------------
def test_definitions_list_only_the_enabled_tools_and_follow_the_config(call: Call) -> None:
    assert tool_names(call) == ENTITY_TOOLS | KNOWLEDGE_TOOLS
    configure(call, ALL_ON)
    assert tool_names(call) == set(TOOLS)
    configure(call, {"stores": {"entity_memory": {"enabled": False}, "user_profile": {"modes": ["agentic"]}}})
    assert tool_names(call) == MEMORY_TOOLS | KNOWLEDGE_TOOLS
    configure(call, {"stores": {"user_profile": {"enabled": False, "modes": ["agentic"]}}})
    assert tool_names(call) == ENTITY_TOOLS | KNOWLEDGE_TOOLS
    configure(call, {"stores": {"learned_knowledge": {"modes": ["propose"]}, "entity_memory": {"modes": []}}})
    assert tool_names(call) == {"propose_knowledge"}
    assert tool_names(call, tenant="globex") == ENTITY_TOOLS | KNOWLEDGE_TOOLS


def test_every_definition_is_a_strict_json_schema_that_accepts_what_the_tool_accepts(call: Call) -> None:
    configure(call, ALL_ON)
    status, reply = call("GET", "/v1/tools")
    assert status == 200 and len(reply["tools"]) == len(TOOLS)
    for tool in reply["tools"]:
        assert tool["type"] == "function" and set(tool["function"]) == {"name", "description", "parameters"}
        name, schema = tool["function"]["name"], tool["function"]["parameters"]
        assert tool["function"]["description"], name
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["additionalProperties"] is False, name
        assert set(schema.get("required", [])) <= set(schema["properties"]), name
        assert "$ref" not in json.dumps(schema), name
        assert all(field.get("description") for field in schema["properties"].values()), name
        validator = Draft202012Validator(schema)
        if name in VALID_ARGUMENTS:
            validator.validate(VALID_ARGUMENTS[name])
            TOOLS[name].arguments.model_validate(VALID_ARGUMENTS[name])
        assert not validator.is_valid({**VALID_ARGUMENTS.get(name, {}), "user_id": "someone-else"}), name


def test_save_memory_offers_and_accepts_only_the_layers_that_are_on(call: Call) -> None:
    configure(
        call, {"stores": {"user_profile": {"modes": ["agentic"], "layers": {"feedback": {"enabled": False}}}}}
    )
    tools = {t["function"]["name"]: t["function"] for t in call("GET", "/v1/tools")[1]["tools"]}
    assert tools["save_memory"]["parameters"]["properties"]["layer"]["enum"] == [
        "policies",
        "profile",
        "knowledge",
    ]
    status, reply = use(
        call, "save_memory", {"layer": "feedback", "content": "Liked the table.", "polarity": "positive"}
    )
    assert status == 422 and locs(reply) == [["body", "arguments", "layer"]]
    assert call("GET", "/v1/users/ada/memories")[1]["memories"] == []


# -- execution ------------------------------------------------------------------------------
def test_memory_tools_write_with_tool_provenance_visible_through_the_memory_routes(call: Call) -> None:
    configure(call, ALL_ON)
    saved = ok(call, "save_memory", VALID_ARGUMENTS["save_memory"])["memory"]
    assert saved["layer"] == "policies" and saved["content"] == "Wants answers in French."
    memories = call("GET", "/v1/users/ada/memories")[1]["memories"]
    assert [(m["memory_id"], m["provenance"]["source"]) for m in memories] == [(saved["memory_id"], "tool")]
    assert call("GET", "/v1/users/bob/memories")[1]["memories"] == []

    ok(call, "save_memory", {"layer": "knowledge", "content": "Works on the billing service."})
    found = ok(call, "search_memories", {"query": "which language for answers", "limit": 1})["memories"]
    assert [m["memory_id"] for m in found] == [saved["memory_id"]]

    updated = ok(
        call, "update_memory", {"memory_id": saved["memory_id"], "content": "Wants answers in German."}
    )
    assert updated["memory"]["content"] == "Wants answers in German."
    ok(call, "forget_memory", {"memory_id": saved["memory_id"]})
    remaining = call("GET", "/v1/users/ada/memories")[1]["memories"]
    assert [m["content"] for m in remaining] == ["Works on the billing service."]
    history = call("GET", f"/v1/users/ada/memories/{saved['memory_id']}/history")[1]["versions"]
    assert [(v["change"], v["provenance"]["source"]) for v in history] == [
        ("created", "tool"),
        ("updated", "tool"),
        ("deleted", "tool"),
    ]


def test_entity_tools_remember_supersede_link_and_forget(call: Call) -> None:
    entity = ok(call, "remember_entity", VALID_ARGUMENTS["remember_entity"])["entity"]
    assert entity["name"] == "Acme Corp" and entity["aliases"] == ["Acme"]
    (old_fact,) = entity["facts"]
    again = ok(
        call,
        "remember_entity",
        {"name": "ACME", "facts": ["Uses Rust."], "supersedes": [old_fact["fact_id"]]},
    )
    assert again["entity"]["entity_id"] == entity["entity_id"]
    assert [f["content"] for f in again["entity"]["facts"]] == ["Uses Rust."]

    view = call("GET", "/v1/entities/Acme", query={"user_id": "ada"})[1]
    facts = {f["content"]: f for f in view["entity"]["facts"]}
    assert (
        facts["Uses Go."]["valid_to"] and facts["Uses Go."]["superseded_by"] == facts["Uses Rust."]["fact_id"]
    )
    assert facts["Uses Rust."]["provenance"]["source"] == "tool"

    event = ok(call, "record_entity_event", VALID_ARGUMENTS["record_entity_event"])["entity"]["events"]
    assert event == [
        {
            "event_id": event[0]["event_id"],
            "content": "Signed the contract.",
            "date_text": "2024-03-01",
            "date": "2024-03-01",
        }
    ]
    ok(call, "remember_entity", {"name": "Ada", "entity_type": "person"})
    link = ok(call, "link_entities", VALID_ARGUMENTS["link_entities"])["relationship"]
    assert (link["source_name"], link["relation"], link["target_name"]) == ("Ada", "works_at", "Acme Corp")
    edges = call("GET", "/v1/entities/Acme", query={"user_id": "ada"})[1]["relationships"]
    assert [(e["source_name"], e["relation"]) for e in edges] == [("Ada", "works_at")]

    found = ok(call, "search_entities", {"query": "Acme Rust"})["entities"]
    assert found[0]["name"] == "Acme Corp" and found[0]["facts"][0]["content"] == "Uses Rust."
    # The 'user' namespace is private: another user of the same tenant sees none of it.
    assert ok(call, "search_entities", {"query": "Acme Rust"}, user="bob")["entities"] == []
    assert use(call, "forget_entity", {"entity": "Acme"}, user="bob")[0] == 404

    ok(call, "forget_relationship", {"source": "Ada", "relation": "works_at", "target": "acme corp"})
    assert call("GET", "/v1/entities/Acme", query={"user_id": "ada"})[1]["relationships"] == []
    rust = again["entity"]["facts"][0]["fact_id"]
    assert ok(call, "forget_entity_fact", {"entity": "Acme", "fact_id": rust})["entity"]["facts"] == []
    ok(call, "forget_entity", {"entity": "Acme Corp"})
    assert call("GET", "/v1/entities/Acme", query={"user_id": "ada"})[0] == 404
    assert [e["name"] for e in ok(call, "search_entities", {"query": "Acme"})["entities"]] == ["Ada"]


def test_knowledge_tools_save_deduplicate_and_search(call: Call) -> None:
    first = ok(call, "save_knowledge", VALID_ARGUMENTS["save_knowledge"])
    assert first["deduplicated"] is False and first["insight"]["status"] == "active"
    # The same insight under another title updates the first one instead of adding a second.
    again = ok(call, "save_knowledge", {**VALID_ARGUMENTS["save_knowledge"], "title": "Retry on 429"})
    assert again["deduplicated"] is True and again["similar_to"] == first["insight"]["insight_id"]
    found = ok(call, "search_knowledge", VALID_ARGUMENTS["search_knowledge"])["insights"]
    assert [(i["insight_id"], i["title"]) for i in found] == [
        (first["insight"]["insight_id"], "Retry on 429")
    ]
    listed = call("GET", "/v1/knowledge")[1]["insights"]
    assert [i["provenance"]["source"] for i in listed] == ["tool"]


def test_a_proposal_is_not_searchable_until_a_human_approves_it(call: Call) -> None:
    assert use(call, "propose_knowledge", VALID_ARGUMENTS["propose_knowledge"])[0] == 404
    configure(call, ALL_ON)
    proposed = ok(call, "propose_knowledge", VALID_ARGUMENTS["propose_knowledge"])["insight"]
    assert proposed["status"] == "pending"
    assert ok(call, "search_knowledge", {"query": "client timeouts seconds"})["insights"] == []
    pending = call("GET", "/v1/knowledge/proposals")[1]["insights"]
    assert [(i["insight_id"], i["provenance"]["source"]) for i in pending] == [
        (proposed["insight_id"], "tool")
    ]

    deps.services().learned_knowledge.approve("acme", "global", proposed["insight_id"], reviewer="grace")
    found = ok(call, "search_knowledge", {"query": "client timeouts seconds"})["insights"]
    assert [i["insight_id"] for i in found] == [proposed["insight_id"]]


def test_arguments_may_be_the_json_string_a_model_returns(call: Call) -> None:
    arguments = json.dumps(VALID_ARGUMENTS["remember_entity"])
    assert ok(call, "remember_entity", arguments)["entity"]["name"] == "Acme Corp"
    status, reply = use(call, "remember_entity", '{"name": ')
    assert status == 422 and ["body", "arguments"] in locs(reply)


# -- bad input, unknown ids, other tenants ---------------------------------------------------
@pytest.mark.parametrize(
    ("name", "arguments", "field"),
    [
        ("save_memory", {"layer": "policies", "content": 42}, "content"),
        ("save_memory", {"layer": "secrets", "content": "x"}, "layer"),
        ("save_memory", {"layer": "policies"}, "content"),
        ("save_memory", {"layer": "policies", "content": "x", "user_id": "bob"}, "user_id"),
        ("update_memory", {"memory_id": "../m1", "content": "x"}, "memory_id"),
        ("search_memories", {"query": "x", "limit": "lots"}, "limit"),
        ("search_entities", {"query": "x", "limit": 500}, "limit"),
        ("remember_entity", {"name": "Acme", "facts": "Uses Go."}, "facts"),
        ("remember_entity", {"name": "Acme", "entity_type": "planet"}, "entity_type"),
        ("record_entity_event", {"entity": "Acme", "content": "x", "date_text": ["May"]}, "date_text"),
        ("link_entities", {"source": "Ada", "relation": "Works At", "target": "Acme"}, "relation"),
        ("save_knowledge", {"title": "t", "content": "c", "namespace": "other"}, "namespace"),
        ("save_knowledge", {"title": "t", "content": "c", "tags": ["no spaces allowed"]}, "tags"),
    ],
)
def test_bad_arguments_get_422_naming_the_argument(
    call: Call, name: str, arguments: dict, field: str
) -> None:
    configure(call, ALL_ON)
    status, reply = use(call, name, arguments)
    assert status == 422, reply
    assert any(loc[:3] == ["body", "arguments", field] for loc in locs(reply)), reply
    assert call("GET", "/v1/users/ada/memories")[1]["memories"] == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "search_entities", "arguments": {"query": "x"}}, ["body", "user_id"]),
        ({"name": "search_entities", "arguments": [1], "user_id": "ada"}, ["body", "arguments"]),
        ({"name": "search_entities", "arguments": {}, "user_id": "../ada"}, ["body", "user_id"]),
        (
            {"name": "search_entities", "arguments": {}, "user_id": "ada", "tenant_id": "t2"},
            ["body", "tenant_id"],
        ),
    ],
)
def test_bad_calls_get_422_naming_the_field(call: Call, body: dict, loc: list) -> None:
    status, reply = call("POST", "/v1/tools/call", body)
    assert status == 422 and any(found[: len(loc)] == loc for found in locs(reply)), reply


def test_unknown_and_disabled_tools_get_404_naming_the_name(call: Call) -> None:
    for name in ("drop_tables", "save_memory", "propose_knowledge"):
        status, reply = use(call, name, {"layer": "policies", "content": "x"})
        assert status == 404 and locs(reply) == [["body", "name"]], name
    assert call("GET", "/v1/users/ada/memories")[1]["memories"] == []


def test_unknown_ids_get_404_naming_the_argument(call: Call) -> None:
    configure(call, ALL_ON)
    ok(call, "remember_entity", {"name": "Acme", "facts": ["Uses Go."]})
    ok(call, "remember_entity", {"name": "Ada"})
    cases = [
        ("update_memory", {"memory_id": "m-nope", "content": "x"}, "memory_id"),
        ("forget_memory", {"memory_id": "m-nope"}, "memory_id"),
        ("record_entity_event", {"entity": "Globex", "content": "x"}, "entity"),
        ("forget_entity", {"entity": "Globex"}, "entity"),
        ("forget_entity_fact", {"entity": "Globex", "fact_id": "f1"}, "entity"),
        ("forget_entity_fact", {"entity": "Acme", "fact_id": "f-nope"}, "fact_id"),
        ("link_entities", {"source": "Globex", "relation": "owns", "target": "Acme"}, "source"),
        ("forget_relationship", {"source": "Globex", "relation": "owns", "target": "Acme"}, "source"),
        ("forget_relationship", {"source": "Ada", "relation": "owns", "target": "Globex"}, "target"),
        ("forget_relationship", {"source": "Ada", "relation": "owns", "target": "Acme"}, "relation"),
        ("remember_entity", {"name": "Initech", "facts": ["New."], "supersedes": ["f-nope"]}, "supersedes"),
    ]
    for name, arguments, field in cases:
        status, reply = use(call, name, arguments)
        assert status == 404, (name, reply)
        assert locs(reply) == [["body", "arguments", field]], (name, reply)
        assert reply["detail"][0]["type"] == "not_found"
    # A refused supersede changes nothing, not even the entity it names.
    assert call("GET", "/v1/entities/Initech", query={"user_id": "ada"})[0] == 404


def test_another_tenants_memories_entities_and_knowledge_are_absent(call: Call) -> None:
    for tenant in ("acme", "globex"):
        configure(call, ALL_ON, tenant=tenant)
    memory = ok(call, "save_memory", {"layer": "knowledge", "content": "Secret project Falcon."})["memory"]
    ok(call, "remember_entity", {"name": "Falcon", "facts": ["Launches in May."]})
    ok(call, "save_knowledge", {"title": "Falcon", "content": "Falcon launches in May."})
    ok(call, "propose_knowledge", {"title": "Falcon risks", "content": "Falcon may slip to June."})

    for name, arguments in [
        ("update_memory", {"memory_id": memory["memory_id"], "content": "Taken over."}),
        ("forget_memory", {"memory_id": memory["memory_id"]}),
        ("forget_entity", {"entity": "Falcon"}),
        ("record_entity_event", {"entity": "Falcon", "content": "Cancelled."}),
    ]:
        assert use(call, name, arguments, tenant="globex")[0] == 404, name
    assert ok(call, "search_memories", {"query": "Falcon"}, tenant="globex")["memories"] == []
    assert ok(call, "search_entities", {"query": "Falcon"}, tenant="globex")["entities"] == []
    assert ok(call, "search_knowledge", {"query": "Falcon launches"}, tenant="globex")["insights"] == []

    assert [m["content"] for m in call("GET", "/v1/users/ada/memories")[1]["memories"]] == [
        "Secret project Falcon."
    ]
    assert (
        ok(call, "search_entities", {"query": "Falcon"})["entities"][0]["facts"][0]["content"]
        == "Launches in May."
    )
    assert [i["title"] for i in ok(call, "search_knowledge", {"query": "Falcon launches"})["insights"]] == [
        "Falcon"
    ]
