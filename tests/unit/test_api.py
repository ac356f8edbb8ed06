"""The HTTP API through the real handler: validation, 4xx naming fields, tenant isolation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from learning_machine.models.common import MAX_BODY_BYTES
from tests.conftest import Aws, Call, locs

TRANSCRIPT = {"user_id": "ada", "session_id": "s1", "messages": [{"role": "user", "content": "hi"}]}


def test_post_transcript_queues_it_with_the_tenant_from_the_authorizer(aws: Aws, call: Call) -> None:
    status, body = call("POST", "/v1/transcripts", TRANSCRIPT)
    assert status == 202 and body["transcript_id"].startswith("tr_") and body["status"] == "queued"
    messages = aws.queue_messages()
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert envelope["tenant_id"] == "acme"
    assert envelope["transcript"]["messages"] == [{"role": "user", "content": "hi", "created_at": None}]
    status, record = call("GET", f"/v1/transcripts/{body['transcript_id']}")
    assert status == 200 and record["status"] == "queued"


def test_posting_the_same_transcript_id_twice_changes_nothing(aws: Aws, call: Call) -> None:
    first = call("POST", "/v1/transcripts", {**TRANSCRIPT, "transcript_id": "fixed-1"})
    second = call("POST", "/v1/transcripts", {**TRANSCRIPT, "transcript_id": "fixed-1"})
    assert first[0] == 202 and second[0] == 200 and second[1]["duplicate"] is True
    assert len(aws.queue_messages()) == 1


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ("{not json", ["body"]),
        ({**TRANSCRIPT, "messages": []}, ["body", "messages"]),
        ({**TRANSCRIPT, "messages": [{"role": "robot", "content": "x"}]}, ["body", "messages", 0, "role"]),
        ({**TRANSCRIPT, "user_id": "../etc"}, ["body", "user_id"]),
        ({**TRANSCRIPT, "session_id": "s" * 129}, ["body", "session_id"]),
        ({**TRANSCRIPT, "session_id": 7}, ["body", "session_id"]),
        ({"session_id": "s1", "messages": TRANSCRIPT["messages"]}, ["body", "user_id"]),
    ],
)
def test_bad_transcripts_get_422_naming_the_field(aws: Aws, call: Call, body: Any, loc: list) -> None:
    status, reply = call("POST", "/v1/transcripts", body)
    assert status == 422
    assert any(found[: len(loc)] == loc for found in locs(reply)), reply
    assert aws.queue_messages() == []


def test_oversize_body_gets_413_naming_the_body(aws: Aws, call: Call) -> None:
    big = {
        **TRANSCRIPT,
        "messages": [{"role": "user", "content": "x" * 15_000}] * (MAX_BODY_BYTES // 15_000 + 1),
    }
    status, reply = call("POST", "/v1/transcripts", big)
    assert status == 413 and locs(reply) == [["body"]]
    assert aws.queue_messages() == []


def test_unknown_ids_get_404(aws: Aws, call: Call) -> None:
    assert call("GET", "/v1/users/nobody/memories") == (200, {"user_id": "nobody", "memories": []})
    for path in (
        "/v1/transcripts/nope",
        "/v1/users/nobody/profile",
        "/v1/sessions/nope/context",
        "/v1/users/nobody/memories/m1/history",
    ):
        status, reply = call("GET", path)
        assert status == 404, path
        assert reply["detail"][0]["type"] == "not_found"
    assert call("DELETE", "/v1/users/nobody")[0] == 404
    assert call("PATCH", "/v1/users/nobody/memories/m1", {"content": "x"})[0] == 404
    assert call("DELETE", "/v1/users/nobody/memories/m1")[0] == 404


def test_bad_path_and_query_parameters_name_the_field(aws: Aws, call: Call) -> None:
    status, reply = call("GET", "/v1/users/bad%20id/profile")
    assert status == 422 and ["path", "user_id"] in locs(reply)
    status, reply = call("GET", "/v1/context", query={"user_id": "ada", "max_tokens": "99999999"})
    assert status == 422 and ["query", "max_tokens"] in locs(reply)
    status, reply = call("GET", "/v1/context", query={})
    assert status == 422 and ["query", "user_id"] in locs(reply)


def test_memories_lifecycle_with_history(aws: Aws, call: Call) -> None:
    status, memory = call(
        "POST", "/v1/users/ada/memories", {"layer": "policies", "content": "Answer in French."}
    )
    assert status == 201 and memory["provenance"]["source"] == "api"
    memory_id = memory["memory_id"]
    status, updated = call("PATCH", f"/v1/users/ada/memories/{memory_id}", {"content": "Answer in German."})
    assert status == 200 and updated["version"] == 2
    status, history = call("GET", f"/v1/users/ada/memories/{memory_id}/history")
    assert [v["content"] for v in history["versions"]] == ["Answer in French.", "Answer in German."]
    assert history["versions"][1]["superseded_value"] == "Answer in French."
    assert history["versions"][0]["valid_to"] == history["versions"][1]["valid_from"]
    assert call("DELETE", f"/v1/users/ada/memories/{memory_id}")[0] == 204
    assert call("GET", "/v1/users/ada/memories")[1]["memories"] == []
    status, history = call("GET", f"/v1/users/ada/memories/{memory_id}/history")
    assert history["versions"][-1]["change"] == "deleted"


def test_bad_memory_bodies_name_the_field(aws: Aws, call: Call) -> None:
    status, reply = call("POST", "/v1/users/ada/memories", {"layer": "secrets", "content": "x"})
    assert status == 422 and ["body", "layer"] in locs(reply)
    status, reply = call("POST", "/v1/users/ada/memories", {"layer": "policies", "content": "x" * 5_000})
    assert status == 422 and ["body", "content"] in locs(reply)
    status, reply = call(
        "POST", "/v1/users/ada/memories", {"layer": "policies", "content": "x", "owner": "t2"}
    )
    assert status == 422 and ["body", "owner"] in locs(reply)


def test_profile_patch_validates_against_the_schema(aws: Aws, call: Call) -> None:
    schema = {"type": "object", "properties": {"seats": {"type": "integer", "minimum": 1}}}
    assert call("PUT", "/v1/config", {"stores": {"user_profile": {"custom_schema": schema}}})[0] == 200
    status, profile = call("PATCH", "/v1/users/ada/profile", {"fields": {"name": "Ada", "seats": 3}})
    assert status == 200 and profile["fields"] == {"name": "Ada", "seats": 3}
    status, reply = call("PATCH", "/v1/users/ada/profile", {"fields": {"seats": 0}})
    assert status == 422 and locs(reply) == [["body", "fields", "seats"]]
    status, reply = call("PATCH", "/v1/users/ada/profile", {"fields": {"shoe_size": 44}})
    assert status == 422 and locs(reply) == [["body", "fields", "shoe_size"]]
    status, profile = call("PATCH", "/v1/users/ada/profile", {"fields": {"name": None}})
    assert status == 200 and profile["fields"] == {"seats": 3}


def test_config_is_versioned_and_validated(aws: Aws, call: Call) -> None:
    status, current = call("GET", "/v1/config")
    assert status == 200 and current["version"] == 0
    status, saved = call("PUT", "/v1/config", {"stores": {"session_context": {"planning": True}}})
    assert status == 200 and saved["version"] == 1
    assert call("GET", "/v1/config")[1]["config"]["stores"]["session_context"]["planning"] is True
    status, reply = call("PUT", "/v1/config", {"stores": {"session_context": {"planning": "maybe"}}})
    assert status == 422 and ["body", "stores", "session_context", "planning"] in locs(reply)
    assert call("GET", "/v1/config", tenant="globex")[1]["version"] == 0


def test_another_tenants_user_is_indistinguishable_from_absent(aws: Aws, call: Call) -> None:
    call("POST", "/v1/users/ada/memories", {"layer": "knowledge", "content": "Secret project Falcon."})
    call("PATCH", "/v1/users/ada/profile", {"fields": {"name": "Ada"}})
    own = call("GET", "/v1/users/ada/profile")
    other = call("GET", "/v1/users/ada/profile", tenant="globex")
    never = call("GET", "/v1/users/nobody/profile", tenant="globex")
    assert own[0] == 200
    assert other == never == (404, never[1])
    assert call("GET", "/v1/users/ada/memories", tenant="globex")[1]["memories"] == []
    status, context = call("GET", "/v1/context", tenant="globex", query={"user_id": "ada"})
    assert status == 200 and context["xml"] == "" and context["memories"] == {}
    assert call("DELETE", "/v1/users/ada", tenant="globex")[0] == 404
    assert len(call("GET", "/v1/users/ada/memories")[1]["memories"]) == 1


def test_forget_user_removes_everything(aws: Aws, call: Call) -> None:
    call("POST", "/v1/users/ada/memories", {"layer": "knowledge", "content": "Likes chess."})
    call("PATCH", "/v1/users/ada/profile", {"fields": {"name": "Ada"}})
    call("POST", "/v1/transcripts", TRANSCRIPT)
    assert call("DELETE", "/v1/users/ada")[0] == 204
    import boto3

    items = boto3.resource("dynamodb").Table(aws.settings.data_table).scan()["Items"]
    assert not [i for i in items if "#U#ada" in i["pk"] or "#U#ada" in str(i.get("gsi1pk", ""))]


def test_no_tenant_in_the_authorizer_context_is_refused(aws: Aws, call: Call) -> None:
    status, _ = call("GET", "/v1/config", tenant=None)
    assert status == 401


def test_openapi_documents_every_route_of_the_template(aws: Aws, call: Call) -> None:
    status, document = call("GET", "/v1/openapi.json", tenant=None)
    assert status == 200
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    declared = {(r.path, r.method.lower()) for r in aws.template.routes if r.path != "/v1/openapi.json"}
    assert declared == documented


def test_a_transcript_the_queue_refuses_is_not_half_accepted(
    aws: Aws, call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    from learning_machine.adapters.queue import MessageQueue

    def refuse(self: MessageQueue, envelope: object, group: str | None = None) -> str:
        raise ConnectionError("queue down")

    with monkeypatch.context() as patch:
        patch.setattr(MessageQueue, "send", refuse)
        status, reply = call("POST", "/v1/transcripts", {**TRANSCRIPT, "transcript_id": "retry-me"})
    assert status == 503 and reply["message"].startswith("the queue is unavailable")
    assert call("GET", "/v1/transcripts/retry-me")[0] == 404
    assert call("POST", "/v1/transcripts", {**TRANSCRIPT, "transcript_id": "retry-me"})[0] == 202
    assert len(aws.queue_messages()) == 1


def test_answers_carry_cors_headers_for_a_page_on_another_origin(aws: Aws) -> None:
    from tests.support.handlers import FakeContext, load_handler, rest_event

    request = rest_event("GET", "/v1/config")
    request["headers"]["Origin"] = "https://review.example.com"
    reply = load_handler("api").lambda_handler(request, FakeContext())
    assert reply["statusCode"] == 200
    headers = reply.get("multiValueHeaders") or {}
    assert headers.get("Access-Control-Allow-Origin") == ["*"]
    assert "Authorization" in ",".join(headers.get("Access-Control-Allow-Headers", []))
