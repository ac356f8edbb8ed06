"""Every file under events/ invoked with its function's real handler (what `sam local invoke` does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learning_machine.api.auth import usage_key_for
from learning_machine.core.memory_rules import Origin
from learning_machine.models.common import Layer
from learning_machine.models.memories import Memory
from learning_machine.models.sessions import SessionContext
from learning_machine.stores.api_keys import ApiKeyRecord, hash_key
from learning_machine.stores.changes import ChangeSet
from tests.conftest import Aws
from tests.support.handlers import ROOT, FakeContext, event, load_handler

TENANT = "demo-tenant"
MEMORY_ID = "m0000000000000example"
FACT_ID = "f0000000000000example"
PROPOSAL_ID = "k0000000000000example"

EXPECTED_STATUS = {
    "users_list.json": 200,
    "entities_list.json": 200,
    "entities_upsert.json": 200,
    "entities_search.json": 200,
    "entity_get.json": 200,
    "entity_delete.json": 204,
    "entity_facts_add.json": 200,
    "entity_fact_delete.json": 200,
    "entity_events_add.json": 200,
    "entity_relationships_add.json": 200,
    "knowledge_save.json": 201,
    "knowledge_list.json": 200,
    "knowledge_import.json": 200,
    "proposals_create.json": 201,
    "proposals_list.json": 200,
    "proposal_approve.json": 200,
    "proposal_reject.json": 200,
    "transcripts_post.json": 202,
    "transcripts_get.json": 200,
    "profile_get.json": 200,
    "profile_patch.json": 200,
    "memories_list.json": 200,
    "memories_create.json": 201,
    "memory_patch.json": 200,
    "memory_delete.json": 204,
    "memory_history.json": 200,
    "user_delete.json": 204,
    "user_export.json": 200,
    "session_context_get.json": 200,
    "config_get.json": 200,
    "config_put.json": 200,
    "tools_list.json": 200,
    "tools_call.json": 200,
    "openapi_get.json": 200,
    "usage_get.json": 200,
}


def seed(aws: Aws, post_transcript: bool = True) -> None:
    """The user, memory, session and transcript the example events refer to."""
    changes = ChangeSet(aws.settings.data_table, TENANT, "ada")
    changes.add_memory(
        Memory(
            memory_id=MEMORY_ID,
            user_id="ada",
            layer=Layer.POLICIES,
            content="Prefers code samples.",
            provenance=Origin(source="api").provenance(),
        )
    )
    changes.put_session(
        None, SessionContext(session_id="sess-1", user_id="ada", summary="Setting up.", version=1)
    )
    changes.commit()
    seed_entity_and_proposal()
    if post_transcript:
        load_handler("api").lambda_handler(event("api/transcripts_post.json"), FakeContext())


def seed_entity_and_proposal() -> None:
    """Acme Corp (with a fact of a known id) in ada's namespace, and a pending proposal of a known id."""
    from learning_machine.api import deps
    from learning_machine.models.entities import Entity, Fact
    from learning_machine.models.knowledge import Insight

    provenance = Origin(source="api").provenance()
    acme = Entity(
        entity_id="e0000000000000example",
        namespace="user:ada",
        name="Acme Corp",
        entity_type="company",
        facts=[Fact(fact_id=FACT_ID, content="Acme Corp makes anvils.", provenance=provenance)],
    )
    entities = deps.services().entity_memory
    entities.store.save(TENANT, acme, 0)
    entities.indexer.put_entities(TENANT, [acme])
    knowledge = deps.services().learned_knowledge
    proposal = Insight(
        insight_id=PROPOSAL_ID,
        namespace="global",
        title="Anvil safety",
        status="pending",
        content="Never stand under an anvil.",
        provenance=provenance,
    )
    knowledge.store.save(TENANT, proposal, 0)


def test_every_api_route_has_an_event_file() -> None:
    assert sorted(p.name for p in (ROOT / "events" / "api").glob("*.json")) == sorted(EXPECTED_STATUS)


@pytest.mark.parametrize("name", sorted(EXPECTED_STATUS))
def test_api_events(aws: Aws, name: str) -> None:
    seed(aws, post_transcript=name != "transcripts_post.json")
    handler = load_handler("api")
    reply = handler.lambda_handler(event(f"api/{name}"), FakeContext())
    assert reply["statusCode"] == EXPECTED_STATUS[name], reply["body"]
    if reply["body"]:
        json.loads(reply["body"])


def test_search_event(aws: Aws) -> None:
    seed(aws)
    reply = load_handler("search").lambda_handler(event("search/search_post.json"), FakeContext())
    assert reply["statusCode"] == 200
    results = json.loads(reply["body"])["results"]
    assert results[0]["store"] == "entities" and results[0]["title"] == "Acme Corp"


def test_get_context_event(aws: Aws) -> None:
    seed(aws)
    reply = load_handler("get_context").lambda_handler(event("get_context/context_get.json"), FakeContext())
    assert reply["statusCode"] == 200
    body = json.loads(reply["body"])
    assert "<user_policies>\n- Prefers code samples.\n</user_policies>" in body["xml"]
    assert body["session"]["summary"] == "Setting up."


def test_authorizer_event(aws: Aws) -> None:
    import boto3

    record = ApiKeyRecord(key_hash=hash_key("lm_example-key"), tenant_id=TENANT)
    boto3.resource("dynamodb").Table(aws.settings.keys_table).put_item(Item=record.model_dump(mode="json"))
    policy = load_handler("authorizer").lambda_handler(event("authorizer/token.json"), FakeContext())
    assert policy["principalId"] == TENANT
    assert policy["context"] == {"tenant_id": TENANT}
    # The tenant's API Gateway key: the usage plan (ApiKeySourceType AUTHORIZER) meters by it.
    assert policy["usageIdentifierKey"] == usage_key_for(TENANT) != usage_key_for("another-tenant")
    assert len(policy["usageIdentifierKey"]) >= 20
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_authorizer_refuses_an_unknown_key(aws: Aws) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        load_handler("authorizer").lambda_handler(event("authorizer/token.json"), FakeContext())


def test_extract_event_learns_once(aws: Aws) -> None:
    handler = load_handler("extract")
    sqs_event = event("extract/sqs_transcripts.json")
    first = handler.lambda_handler(sqs_event, FakeContext())
    again = handler.lambda_handler(sqs_event, FakeContext())
    assert first == again == {"batchItemFailures": []}
    status = handler.pipeline.stores.transcripts.get(TENANT, "tr-example-1")
    assert status is not None and status.status == "done" and status.attempts == 1


def test_extract_reports_a_bad_record_alone(aws: Aws) -> None:
    handler = load_handler("extract")
    sqs_event = event("extract/sqs_transcripts.json")
    bad = dict(sqs_event["Records"][0], messageId="bad-one", body='{"tenant_id": "x"}')
    sqs_event["Records"].append(bad)
    reply = handler.lambda_handler(sqs_event, FakeContext())
    assert reply == {"batchItemFailures": [{"itemIdentifier": "bad-one"}]}


def test_event_files_are_valid_json_and_every_function_has_some() -> None:
    functions = {path.name for path in (ROOT / "functions").iterdir() if (path / "app.py").is_file()}
    with_events = set()
    for path in Path(ROOT / "events").rglob("*.json"):
        assert isinstance(json.loads(path.read_text()), dict), path
        with_events.add(path.parent.name)
    assert functions and with_events >= functions, functions - with_events


def test_keys_are_random_hashed_and_a_revoked_key_is_refused(aws: Aws) -> None:
    import boto3

    from learning_machine.stores.api_keys import ApiKeyStore

    store = ApiKeyStore(aws.settings.keys_table)
    first, second = store.create("acme"), store.create("acme")
    assert first != second and first.startswith("lm_") and len(first) > 40
    stored = boto3.resource("dynamodb").Table(aws.settings.keys_table).scan()["Items"]
    assert {item["key_hash"] for item in stored} == {hash_key(first), hash_key(second)}
    assert all(first not in json.dumps(item, default=str) for item in stored)  # only the hash is kept

    authorizer = load_handler("authorizer")
    token_event = dict(event("authorizer/token.json"), authorizationToken=f"Bearer {first}")
    assert authorizer.lambda_handler(token_event, FakeContext())["context"] == {"tenant_id": "acme"}
    assert store.revoke(first)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.lambda_handler(token_event, FakeContext())
    assert authorizer.lambda_handler(dict(token_event, authorizationToken=f"Bearer {second}"), FakeContext())
