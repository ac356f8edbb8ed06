"""Export everything held about a user, then forget the user everywhere and find nothing left,
on every knowledge-index engine the service can be configured with (tests/support/index_flavours.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3

from learning_machine.adapters.llm.scripted import ScriptedModel
from learning_machine.api import deps
from learning_machine.models.common import Layer
from learning_machine.stores.api_keys import ApiKeyStore
from learning_machine.stores.idempotency import record_keys
from tests.conftest import Aws
from tests.support.builders import op, result
from tests.support.handlers import FakeContext, load_handler, rest_event
from tests.support.index_flavours import IndexUnderTest, index_engine

__all__ = ["index_engine"]  # the fixture, imported for pytest

TENANT = "acme"
SCHEDULED_EVENT = json.loads((Path(__file__).parents[2] / "events" / "curate" / "schedule.json").read_text())


def api(
    handler: Any, method: str, path: str, body: Any = None, query: dict | None = None, tenant: str = TENANT
):
    reply = handler.lambda_handler(
        rest_event(method, path, tenant=tenant, body=body, query=query), FakeContext()
    )
    return reply["statusCode"], json.loads(reply["body"]) if reply["body"] else None


def learn_through_extract(aws: Aws, transcript_id: str) -> None:
    """A transcript learned by the real extract handler, which leaves an idempotency record."""
    extract = load_handler("extract")
    extract.pipeline.model = ScriptedModel(default=result(op("add", "Keeps bees.", layer=Layer.KNOWLEDGE)))
    envelope = {
        "tenant_id": TENANT,
        "transcript_id": transcript_id,
        "transcript": {
            "transcript_id": transcript_id,
            "user_id": "ada",
            "session_id": "s-ada",
            "messages": [{"role": "user", "content": "I keep bees."}],
        },
    }
    record = {
        "messageId": transcript_id,
        "receiptHandle": "r",
        "body": json.dumps(envelope),
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:TranscriptsQueue",
        "awsRegion": "us-east-1",
    }
    assert extract.lambda_handler({"Records": [record]}, FakeContext()) == {"batchItemFailures": []}


def everything_about_ada(aws: Aws) -> list[str]:
    data = boto3.resource("dynamodb").Table(aws.settings.data_table).scan()["Items"]
    # default=repr: a memory's vector is a Binary attribute, whose str() is not a str. A whole word:
    # random hex ids contain "ada" now and then (a curation job id "cj1a247ada49..." did once).
    found = [f"data {i['pk']} {i['sk']}" for i in data if re.search(r"\bada\b", json.dumps(i, default=repr))]
    idempotency = boto3.resource("dynamodb").Table(aws.settings.idempotency_table).scan()["Items"]
    found += [f"idempotency {i['id']}" for i in idempotency]
    hits = deps.services().indexer.search(
        TENANT, ["user:ada"], ["entity", "knowledge"], "bees garden hives", limit=50
    )
    found += [f"index {h.doc_id}" for h in hits]
    return found


def test_the_idempotency_key_matches_what_the_handler_writes(aws: Aws) -> None:
    learn_through_extract(aws, "t-key")
    ids = {i["id"] for i in boto3.resource("dynamodb").Table(aws.settings.idempotency_table).scan()["Items"]}
    assert ids == set(record_keys(aws.settings, TENANT, ["t-key"]))


def test_export_then_forget_everywhere(aws: Aws, index_engine: IndexUnderTest) -> None:
    handler = load_handler("api")
    learn_through_extract(aws, "t-1")
    api(handler, "PATCH", "/v1/users/ada/profile", {"fields": {"name": "Ada"}})
    api(
        handler,
        "POST",
        "/v1/entities",
        {"name": "Hive One", "description": "Ada's bee hive.", "user_id": "ada"},
    )
    api(
        handler,
        "POST",
        "/v1/entities/Hive One/relationships",
        {"relationships": [{"relation": "kept_in", "target": "Garden"}]},
        query={"user_id": "ada"},
    )
    api(
        handler,
        "POST",
        "/v1/knowledge",
        {"title": "Bees", "content": "Ada's bees swarm in May.", "user_id": "ada", "namespace": "user"},
    )
    api(handler, "POST", "/v1/users/bob/memories", {"layer": "knowledge", "content": "Bob keeps bees too."})

    status, export = api(handler, "GET", "/v1/users/ada/export")
    assert status == 200
    assert export["profile"]["fields"] == {"name": "Ada"}
    assert [m["content"] for m in export["memories"]] == ["Keeps bees."]
    assert export["memory_history"][0]["change"] == "created"
    assert [s["session_id"] for s in export["sessions"]] == ["s-ada"]
    assert [t["transcript_id"] for t in export["transcripts"]] == ["t-1"]
    assert sorted(e["name"] for e in export["entities"]) == ["Garden", "Hive One"]
    assert len(export["relationships"]) == 2  # one edge, listed at both ends
    assert [i["title"] for i in export["insights"]] == ["Bees"]
    assert api(handler, "GET", "/v1/users/ada/export", tenant="globex")[0] == 404

    index_engine.settle()  # what was written so far is searchable
    assert everything_about_ada(aws)
    # Written just before the forget: on OpenSearch not searchable yet, so the forget's own lookup
    # cannot see it; its repeat after the refresh interval removes it.
    api(
        handler,
        "POST",
        "/v1/knowledge",
        {"title": "Hives", "content": "Ada's hives face south.", "user_id": "ada", "namespace": "user"},
    )
    assert api(handler, "DELETE", "/v1/users/ada", tenant="globex")[0] == 404
    assert api(handler, "DELETE", "/v1/users/ada")[0] == 204
    index_engine.past_repeats()
    ApiKeyStore(aws.settings.keys_table).create(TENANT)  # the schedule visits tenants with a key
    load_handler("curate").lambda_handler(SCHEDULED_EVENT, FakeContext())  # the hourly schedule
    assert index_engine.stored("user:ada") == []
    assert everything_about_ada(aws) == []
    assert api(handler, "GET", "/v1/users/ada/export")[0] == 404
    assert api(handler, "DELETE", "/v1/users/ada")[0] == 404
    assert api(handler, "GET", "/v1/users/bob/memories")[1]["memories"][0]["content"] == "Bob keeps bees too."
