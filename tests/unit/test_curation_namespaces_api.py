"""Curation of namespaces (entity merges, knowledge dedupe), session retention, the curate API,
the schedule and the curate function's three kinds of events."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from learning_machine.api import deps
from learning_machine.core.memory_rules import Origin
from learning_machine.curation import namespace as namespace_curation
from learning_machine.models.config import CurationConfig, CurationSchedule, TenantConfig
from learning_machine.models.entities import Entity, EventIn
from learning_machine.models.knowledge import ImportItem
from learning_machine.models.sessions import SessionContext
from learning_machine.services.indexing import ENTITY, KNOWLEDGE, embedded_insight_text, entity_text
from learning_machine.stores.api_keys import ApiKeyStore
from learning_machine.stores.changes import ChangeSet
from learning_machine.stores.keys import curation_pk
from tests.conftest import Aws, Call, locs
from tests.support.curation import curate, days_ago, run_to_end, service, tenant_items
from tests.support.handlers import FakeContext, event, load_handler

GLOBAL = "global"


def provenance() -> Any:
    return Origin(source="api").provenance()


def entities(tenant: str, namespace: str = GLOBAL) -> dict[str, Entity]:
    return {e.entity_id: e for e in deps.services().entity_memory.store.in_namespace(tenant, namespace)}


def indexed_entity_ids(tenant: str, text: str, namespace: str = GLOBAL) -> set[str]:
    """Entity ids the index itself returns (not filtered through the store)."""
    hits = deps.services().indexer.search(tenant, [namespace], [ENTITY], text, 20)
    return {h.payload["entity_id"] for h in hits}


def indexed_insight_ids(tenant: str, text: str, namespace: str = GLOBAL) -> set[str]:
    hits = deps.services().indexer.search(tenant, [namespace], [KNOWLEDGE], text, 20)
    return {h.payload["insight_id"] for h in hits}


def seed_acme(tenant: str) -> tuple[Entity, Entity, Entity]:
    """'Acme' (fact A, an event) and 'ACME Corp.' (fact B, works_with Globex) in 'global'."""
    memory = deps.services().entity_memory
    acme = memory.upsert(tenant, GLOBAL, "Acme", entity_type="company")
    corp = memory.upsert(tenant, GLOBAL, "ACME Corp.", entity_type="company")
    assert acme.entity_id != corp.entity_id
    memory.add_facts(tenant, GLOBAL, "Acme", ["Acme makes anvils."], provenance())
    memory.add_events(
        tenant,
        GLOBAL,
        "Acme",
        [EventIn(content="Acme opened a plant", date_text="2025-03-01")],
        provenance(),
        datetime.now(UTC),
    )
    memory.add_facts(tenant, GLOBAL, "ACME Corp.", ["ACME Corp. is based in Phoenix."], provenance())
    memory.relate(tenant, GLOBAL, "ACME Corp.", "works_with", "Globex", provenance())
    globex = memory.get(tenant, GLOBAL, "Globex")
    return memory.get(tenant, GLOBAL, acme.entity_id), memory.get(tenant, GLOBAL, corp.entity_id), globex


def configure(tenant: str, **curation: Any) -> None:
    deps.services().config_store.put(tenant, TenantConfig(curation=CurationConfig(**curation)))


# -- entities -----------------------------------------------------------------------------------
def test_duplicate_entities_merge_keeping_names_facts_events_and_edges(aws: Aws) -> None:
    acme, corp, globex = seed_acme("acme")
    seed_acme("globex")  # another tenant with the very same entities
    globex_before = tenant_items("globex")

    job = curate("acme", namespace=GLOBAL)

    assert job.status == "done"
    left = entities("acme")
    assert set(left) == {acme.entity_id, globex.entity_id}  # Acme has more facts+events: it survives
    survivor = left[acme.entity_id]
    assert "ACME Corp." in survivor.aliases
    assert {f.content for f in survivor.facts} == {"Acme makes anvils.", "ACME Corp. is based in Phoenix."}
    assert [e.content for e in survivor.events] == ["Acme opened a plant"]
    assert [m.item_id for m in survivor.merged] == [corp.entity_id]
    assert survivor.merged[0].job_id == job.job_id

    memory = deps.services().entity_memory
    for name in ("ACME Corp.", "acme corp", "Acme"):
        assert memory.get("acme", GLOBAL, name).entity_id == acme.entity_id, name
    globex_edges = memory.view("acme", GLOBAL, "Globex").relationships
    assert [(r.source_id, r.relation, r.target_id) for r in globex_edges] == [
        (acme.entity_id, "works_with", globex.entity_id)
    ]
    assert globex_edges[0].source_name == "Acme"
    assert memory.store.relationships("acme", GLOBAL, corp.entity_id) == []

    # The absorbed entity's document left the index; search finds only the survivor.
    assert corp.entity_id not in indexed_entity_ids("acme", "ACME Corp. Phoenix")
    assert acme.entity_id in indexed_entity_ids("acme", "ACME Corp. Phoenix")
    found = memory.search("acme", [GLOBAL], "ACME Corp. Phoenix", 10)
    assert {e.entity_id for e in found} <= set(left) and acme.entity_id in {e.entity_id for e in found}

    view = service().view("acme", job.job_id)
    assert view is not None
    merges = [c for c in view.changes if c.kind == "merge_entities"]
    assert [(c.kept, c.removed, c.applied) for c in merges] == [(acme.entity_id, [corp.entity_id], True)]

    assert tenant_items("globex") == globex_before  # another tenant is never touched
    assert len(entities("globex")) == 3


def test_a_dry_run_plans_the_merge_and_writes_nothing(aws: Aws) -> None:
    acme, corp, _ = seed_acme("acme")
    before = tenant_items("acme")

    job = curate("acme", namespace=GLOBAL, dry_run=True)

    assert job.status == "done" and job.dry_run
    assert tenant_items("acme") == before
    assert corp.entity_id in indexed_entity_ids("acme", "ACME Corp. Phoenix")
    view = service().view("acme", job.job_id)
    assert view is not None
    assert [(c.kind, c.kept, c.removed, c.applied) for c in view.changes] == [
        ("merge_entities", acme.entity_id, [corp.entity_id], False)
    ]


def test_entities_of_different_types_are_not_merged(aws: Aws) -> None:
    memory = deps.services().entity_memory
    person = memory.upsert("acme", GLOBAL, "Jordan", entity_type="person")
    project = memory.upsert("acme", GLOBAL, "Jordan Inc", entity_type="project")

    job = curate("acme", namespace=GLOBAL)

    assert job.status == "done" and job.progress.by_kind.get("merge_entities", 0) == 0
    assert set(entities("acme")) == {person.entity_id, project.entity_id}


def test_duplicates_merge_even_when_an_entity_of_another_type_shares_the_name(aws: Aws) -> None:
    """'Jordan Inc' and 'Jordan LLC' are both projects with the same name once legal words are set
    aside: they are duplicates, whatever the person 'Jordan' created before them."""
    memory = deps.services().entity_memory
    person = memory.upsert("acme", GLOBAL, "Jordan", entity_type="person")
    inc = memory.upsert("acme", GLOBAL, "Jordan Inc", entity_type="project")
    llc = memory.upsert("acme", GLOBAL, "Jordan LLC", entity_type="project")

    curate("acme", namespace=GLOBAL)

    left = entities("acme")
    assert person.entity_id in left
    assert len({inc.entity_id, llc.entity_id} & set(left)) == 1, "the two projects were not merged"


def test_undoing_a_merge_restores_the_absorbed_entity_and_its_edge(aws: Aws) -> None:
    acme, corp, globex = seed_acme("acme")
    job = curate("acme", namespace=GLOBAL)
    accepted = service().undo("acme", job.job_id)
    assert accepted is not None

    undo = run_to_end("acme", accepted.job_id)

    assert undo.status == "done" and undo.progress.by_kind == {"undone": 1}
    left = entities("acme")
    assert set(left) == {acme.entity_id, corp.entity_id, globex.entity_id}
    assert left[acme.entity_id].aliases == [] and left[acme.entity_id].merged == []
    memory = deps.services().entity_memory
    assert memory.get("acme", GLOBAL, "ACME Corp.").entity_id == corp.entity_id
    edges = memory.view("acme", GLOBAL, "Globex").relationships
    assert [(r.source_id, r.target_id) for r in edges] == [(corp.entity_id, globex.entity_id)]


def test_undoing_a_merge_keeps_the_survivors_own_identical_edge(aws: Aws) -> None:
    """Both duplicates worked with Globex before the merge: after the undo, both still do."""
    acme, corp, globex = seed_acme("acme")
    deps.services().entity_memory.relate("acme", GLOBAL, "Acme", "works_with", "Globex", provenance())
    job = curate("acme", namespace=GLOBAL)
    accepted = service().undo("acme", job.job_id)
    assert accepted is not None
    run_to_end("acme", accepted.job_id)

    edges = deps.services().entity_memory.view("acme", GLOBAL, "Globex").relationships
    assert sorted((r.source_id, r.target_id) for r in edges) == sorted(
        [(acme.entity_id, globex.entity_id), (corp.entity_id, globex.entity_id)]
    )


# -- knowledge ----------------------------------------------------------------------------------
TWIN = {"title": "Retry with jitter", "content": "Use exponential backoff with full jitter for DynamoDB."}
DIFFERENT = {"title": "Index outbox", "content": "Replay pending index writes when OpenSearch is back."}


def test_identical_insights_are_deduplicated_in_a_namespace(aws: Aws) -> None:
    knowledge = deps.services().learned_knowledge
    imported = knowledge.import_items(
        "acme",
        [
            (GLOBAL, ImportItem(item_id="twin-1", **TWIN)),
            (GLOBAL, ImportItem(item_id="twin-2", **TWIN)),
            (GLOBAL, ImportItem(item_id="other", **DIFFERENT)),
        ],
        provenance(),
    )
    first, second, different = imported.insight_ids
    before_different = knowledge.store.get("acme", GLOBAL, different)

    job = curate("acme", namespace=GLOBAL)

    assert job.status == "done"
    active = {i.insight_id: i for i in knowledge.store.in_namespace("acme", GLOBAL, "active")}
    twins = {first, second} & set(active)
    assert len(twins) == 1
    (kept,) = twins
    (gone,) = {first, second} - {kept}
    assert [m.item_id for m in active[kept].merged] == [gone]
    assert active[kept].merged[0].content == f"{TWIN['title']}: {TWIN['content']}"
    assert active[different] == before_different
    assert knowledge.store.get("acme", GLOBAL, gone) is None

    found = {i.insight_id for i in knowledge.search("acme", [GLOBAL], TWIN["content"], 10)}
    assert kept in found and gone not in found
    assert gone not in indexed_insight_ids("acme", TWIN["content"])
    view = service().view("acme", job.job_id)
    assert view is not None
    assert [(c.kind, c.kept, c.removed) for c in view.changes] == [("merge_insights", kept, [gone])]


def test_knowledge_is_deduplicated_a_chunk_at_a_time(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(namespace_curation, "KNOWLEDGE_CHUNK", 2)
    knowledge = deps.services().learned_knowledge
    others = [
        ImportItem(item_id=f"o-{n}", title=f"Rule {n}", content=f"Rotate secret number {n} monthly.")
        for n in range(3)
    ]
    twins = [ImportItem(item_id=f"twin-{n}", **TWIN) for n in range(2)]
    imported = knowledge.import_items("acme", [(GLOBAL, item) for item in [*others, *twins]], provenance())
    twin_ids = set(imported.insight_ids[3:])

    job = curate("acme", namespace=GLOBAL, operations=["dedupe_knowledge"])

    assert job.status == "done" and job.progress.by_kind == {"merge_insights": 1}
    active = {i.insight_id for i in knowledge.store.in_namespace("acme", GLOBAL, "active")}
    assert len(active & twin_ids) == 1 and set(imported.insight_ids[:3]) <= active


# -- sessions -----------------------------------------------------------------------------------
def seed_sessions(tenant: str, user: str) -> None:
    changes = ChangeSet(aws_table(), tenant, user)
    for session_id, age in (("s-old", 40), ("s-new", 5)):
        changes.put_session(
            None,
            SessionContext(
                session_id=session_id,
                user_id=user,
                summary=f"{session_id} summary",
                version=1,
                updated_at=days_ago(age),
            ),
        )
    changes.register_user()
    changes.commit()


def aws_table() -> str:
    from learning_machine.settings import get_settings

    return get_settings().data_table


@pytest.mark.parametrize(("retention", "dropped"), [(30, {"s-old"}), (60, set())])
def test_sessions_idle_past_the_retention_are_dropped(aws: Aws, retention: int, dropped: set[str]) -> None:
    seed_sessions("acme", "ada")
    configure("acme", session_retention_days=retention)

    job = curate("acme")

    assert job.status == "done"
    sessions = deps.services().session_store
    left = {s for s in ("s-old", "s-new") if sessions.get("acme", s) is not None}
    assert left == {"s-old", "s-new"} - dropped
    view = service().view("acme", job.job_id)
    assert view is not None
    assert {c.removed[0] for c in view.changes if c.kind == "drop_session"} == dropped


def test_undo_brings_a_dropped_session_back(aws: Aws) -> None:
    seed_sessions("acme", "ada")
    configure("acme", session_retention_days=30)
    old = deps.services().session_store.get("acme", "s-old")
    job = curate("acme")
    assert deps.services().session_store.get("acme", "s-old") is None

    accepted = service().undo("acme", job.job_id)
    assert accepted is not None
    undo = run_to_end("acme", accepted.job_id)

    assert undo.status == "done" and undo.progress.by_kind == {"undone": 1}
    assert deps.services().session_store.get("acme", "s-old") == old
    view = service().view("acme", job.job_id)
    assert view is not None
    (change,) = view.changes
    assert change.undone and change.undo_note == "session context restored"
    # It is found by user again (the by-user index entry came back too): a new run drops it again.
    again = curate("acme")
    assert again.progress.by_kind == {"drop_session": 1}


# -- API ----------------------------------------------------------------------------------------
def test_post_starts_a_job_and_get_follows_it(aws: Aws, call: Call) -> None:
    status, accepted = call("POST", "/v1/curate", {})
    assert status == 202
    assert accepted["status"] == "queued" and accepted["dry_run"] is False
    job_id = accepted["job_id"]
    bodies = [json.loads(m["Body"]) for m in aws.queue_messages(aws.settings.curation_queue_url)]
    assert bodies == [{"tenant_id": "acme", "job_id": job_id}]

    status, view = call("GET", f"/v1/curate/{job_id}")
    assert status == 200
    assert view["job"]["job_id"] == job_id and view["job"]["status"] == "queued"
    assert view["job"]["trigger"] == "api" and view["changes"] == []

    assert call("GET", f"/v1/curate/{job_id}", tenant="other")[0] == 404
    assert call("POST", f"/v1/curate/{job_id}/undo", tenant="other")[0] == 404


def test_post_resolves_the_user_namespace(aws: Aws, call: Call) -> None:
    status, accepted = call("POST", "/v1/curate", {"user_id": "ada", "namespace": "user", "dry_run": True})
    assert status == 202 and accepted["dry_run"] is True
    job = service().view("acme", accepted["job_id"])
    assert job is not None and job.job.namespace == "user:ada" and job.job.user_id == "ada"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"operations": ["explode"]}, ["body", "operations", 0]),
        ({"operations": []}, ["body", "operations"]),
        ({"namespace": "user"}, ["body", "user_id"]),
        ({"dry_run": "maybe"}, ["body", "dry_run"]),
        ({"namespace": "Bad Space"}, ["body", "namespace"]),
        ({"user_id": "bad id"}, ["body", "user_id"]),
        ({"tenant_id": "other"}, ["body", "tenant_id"]),
    ],
)
def test_post_refuses_bad_input(aws: Aws, call: Call, body: dict, loc: list) -> None:
    status, reply = call("POST", "/v1/curate", body)
    assert status == 422 and loc in locs(reply), reply
    assert aws.queue_messages(aws.settings.curation_queue_url) == []


def test_unknown_jobs_and_jobs_that_cannot_be_undone(aws: Aws, call: Call) -> None:
    status, reply = call("GET", "/v1/curate/cj-nope")
    assert status == 404 and locs(reply) == [["path", "job_id"]]
    status, reply = call("POST", "/v1/curate/cj-nope/undo")
    assert status == 404 and locs(reply) == [["path", "job_id"]]

    _, queued = call("POST", "/v1/curate", {})
    status, reply = call("POST", f"/v1/curate/{queued['job_id']}/undo")
    assert status == 409 and locs(reply) == [["path", "job_id"]]  # not finished yet

    _, dry = call("POST", "/v1/curate", {"dry_run": True})
    assert run_to_end("acme", dry["job_id"]).status == "done"
    status, reply = call("POST", f"/v1/curate/{dry['job_id']}/undo")
    assert status == 409 and locs(reply) == [["path", "job_id"]]

    _, real = call("POST", "/v1/curate", {})
    run_to_end("acme", real["job_id"])
    status, undo = call("POST", f"/v1/curate/{real['job_id']}/undo")
    assert status == 202 and undo["job_id"] != real["job_id"]
    run_to_end("acme", undo["job_id"])
    status, reply = call("POST", f"/v1/curate/{undo['job_id']}/undo")
    assert status == 409  # an undo is not undone


def test_openapi_lists_the_curate_routes(aws: Aws, call: Call) -> None:
    status, document = call("GET", "/v1/openapi.json")
    assert status == 200
    paths = document["paths"]
    assert {"/v1/curate", "/v1/curate/{job_id}", "/v1/curate/{job_id}/undo"} <= set(paths)
    assert "post" in paths["/v1/curate"] and "get" in paths["/v1/curate/{job_id}"]
    assert "post" in paths["/v1/curate/{job_id}/undo"]


# -- schedule -----------------------------------------------------------------------------------
def jobs_of(tenant: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(aws_table())
    items = table.query(KeyConditionExpression=Key("pk").eq(curation_pk(tenant)))["Items"]
    return [i for i in items if str(i["sk"]).startswith("JOB#")]


def test_the_schedule_starts_one_job_per_active_tenant_when_due(aws: Aws) -> None:
    keys = ApiKeyStore(aws.settings.keys_table)
    keys.create("t1")
    keys.create("t1")  # two keys, one tenant
    keys.create("t2")
    assert keys.revoke(keys.create("t3"))

    started = service().run_schedule()

    assert len(started) == 2
    owners = {
        job_id: [t for t in ("t1", "t2", "t3") if service().view(t, job_id) is not None] for job_id in started
    }
    assert sorted(t for found in owners.values() for t in found) == ["t1", "t2"]
    for job_id, (tenant,) in owners.items():
        view = service().view(tenant, job_id)
        assert view is not None and view.job.trigger == "schedule" and view.job.status == "queued"
    assert jobs_of("t3") == []
    bodies = [json.loads(m["Body"]) for m in aws.queue_messages(aws.settings.curation_queue_url)]
    assert sorted(b["tenant_id"] for b in bodies) == ["t1", "t2"]

    assert service().run_schedule() == []  # not due again yet
    assert len(jobs_of("t1")) == 1 and len(jobs_of("t2")) == 1


def test_a_tenant_can_turn_its_schedule_off(aws: Aws) -> None:
    keys = ApiKeyStore(aws.settings.keys_table)
    keys.create("t1")
    keys.create("t2")
    deps.services().config_store.put(
        "t2", TenantConfig(curation=CurationConfig(schedule=CurationSchedule(enabled=False)))
    )

    started = service().run_schedule()

    assert len(started) == 1 and service().view("t1", started[0]) is not None
    assert jobs_of("t2") == []


# -- the curate function ------------------------------------------------------------------------
class LongContext(FakeContext):
    """A fresh invocation of the curate function (timeout 300 s)."""

    def get_remaining_time_in_millis(self) -> int:
        return 290_000


def test_curate_function_events(aws: Aws) -> None:
    handler = load_handler("curate")
    ApiKeyStore(aws.settings.keys_table).create("demo-tenant")

    reply = handler.lambda_handler(event("curate/schedule.json"), FakeContext())
    assert list(reply) == ["jobs_started"] and len(reply["jobs_started"]) == 1
    (scheduled,) = reply["jobs_started"]
    assert handler.curation.jobs.get("demo-tenant", scheduled) is not None

    reply = handler.lambda_handler(event("curate/sqs_slice.json"), FakeContext())
    assert reply == {"batchItemFailures": []}  # an unknown job: nothing to do, nothing to retry

    reply = handler.lambda_handler(event("curate/curate_post.json"), FakeContext())
    assert reply["statusCode"] == 202, reply["body"]
    accepted = json.loads(reply["body"])
    assert accepted["dry_run"] is True
    job = handler.curation.jobs.get("demo-tenant", accepted["job_id"])
    assert job is not None and job.namespace == GLOBAL and job.trigger == "api"


def test_a_slice_message_runs_the_job(aws: Aws) -> None:
    seed_acme("demo-tenant")
    handler = load_handler("curate")
    accepted = handler.curation.start("demo-tenant", _request(namespace=GLOBAL))
    sqs_event = event("curate/sqs_slice.json")
    sqs_event["Records"][0]["body"] = json.dumps({"tenant_id": "demo-tenant", "job_id": accepted.job_id})

    reply = handler.lambda_handler(sqs_event, LongContext())

    assert reply == {"batchItemFailures": []}
    job = handler.curation.jobs.get("demo-tenant", accepted.job_id)
    assert job is not None and job.status == "done" and job.progress.by_kind == {"merge_entities": 1}
    assert len(entities("demo-tenant")) == 2


def _request(**fields: Any) -> Any:
    from learning_machine.models.curation import CurateRequest

    return CurateRequest(**fields)


def test_event_files_of_the_curate_function_exist() -> None:
    assert event("curate/schedule.json")["detail-type"] == "Scheduled Event"
    body = json.loads(event("curate/sqs_slice.json")["Records"][0]["body"])
    assert body == {"tenant_id": "demo-tenant", "job_id": "cj-example"}
    post = event("curate/curate_post.json")
    assert post["requestContext"]["authorizer"]["tenant_id"] == "demo-tenant"
    assert (post["httpMethod"], post["path"]) == ("POST", "/v1/curate")


def test_users_are_listed_a_page_at_a_time_and_only_the_tenants_own(aws: Aws, call: Call) -> None:
    for user in ("carol", "alice", "bob"):
        assert (
            call("POST", f"/v1/users/{user}/memories", {"layer": "profile", "content": f"{user} is here"})[0]
            == 201
        )
    call("POST", "/v1/users/mallory/memories", {"layer": "profile", "content": "other tenant"}, tenant="evil")

    status, first = call("GET", "/v1/users", query={"limit": "2"})
    assert status == 200 and first == {"users": ["alice", "bob"], "next_token": "bob"}
    status, rest = call("GET", "/v1/users", query={"limit": "2", "after": "bob"})
    assert rest == {"users": ["carol"], "next_token": None}
    assert call("GET", "/v1/users", tenant="evil")[1]["users"] == ["mallory"]
    status, body = call("GET", "/v1/users", query={"after": "bad id!"})
    assert status == 422 and locs(body) == [["query", "after"]]


# -- the index, embedded again -------------------------------------------------------------------
def own_similarities(tenant: str, kind: str, texts: dict[str, str], key: str) -> dict[str, float]:
    """Each indexed item's cosine to the vector of its own embedded text (1.0 once it is current)."""
    indexer = deps.services().indexer
    found: dict[str, float] = {}
    for item_id, text in texts.items():
        vector = indexer.embedder.embed([text])[0]
        for hit in indexer.search(tenant, [GLOBAL], [kind], text, 20, mode="vector", vector=vector):
            if hit.payload[key] == item_id:
                found[item_id] = round(hit.similarity or 0.0, 3)
    return found


def seed_stale_index(tenant: str) -> tuple[dict[str, str], dict[str, str]]:
    """Two entities and five insights (one of them rejected) whose index vectors were made by
    another embedder: every stored item is right, every vector in the index is not."""
    memory, knowledge = deps.services().entity_memory, deps.services().learned_knowledge
    entity_ids = [
        memory.upsert(tenant, GLOBAL, name, entity_type="company").entity_id for name in ("Acme", "Initech")
    ]
    items = [
        ImportItem(item_id=f"tip-{n}", title=f"Tip {n}", content=f"Pin dependency {n} in CI.")
        for n in range(5)
    ]
    insight_ids = knowledge.import_items(tenant, [(GLOBAL, item) for item in items], provenance()).insight_ids
    knowledge.propose(
        tenant, GLOBAL, ImportItem(item_id="p", title="Rejected tip", content="Never pin."), provenance()
    )
    rejected = knowledge.proposals(tenant, GLOBAL)[0]
    knowledge.reject(tenant, GLOBAL, rejected.insight_id, "reviewer", "wrong")
    indexer = deps.services().indexer
    stored_entities = [memory.get(tenant, GLOBAL, e) for e in entity_ids]
    stored_insights = [knowledge.store.get(tenant, GLOBAL, i) for i in insight_ids]
    other = [1.0] + [0.0] * (indexer.embedder.dimension - 1)  # what another model might have made
    indexer.put_entities(tenant, stored_entities, [other] * len(stored_entities))
    indexer.put_insights(tenant, stored_insights, [other] * len(stored_insights))
    entity_texts = {e.entity_id: entity_text(e) for e in stored_entities}
    insight_texts = {i.insight_id: embedded_insight_text(i) for i in stored_insights if i is not None}
    return entity_texts, insight_texts


def test_reindex_embeds_every_entity_and_insight_again_in_chunks(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    entity_texts, insight_texts = seed_stale_index("acme")
    assert set(own_similarities("acme", KNOWLEDGE, insight_texts, "insight_id").values()) != {1.0}
    monkeypatch.setattr(namespace_curation, "REINDEX_CHUNK", 3)

    job = curate("acme", namespace=GLOBAL, operations=["reindex"])

    assert job.status == "done"
    assert own_similarities("acme", ENTITY, entity_texts, "entity_id") == dict.fromkeys(entity_texts, 1.0)
    assert own_similarities("acme", KNOWLEDGE, insight_texts, "insight_id") == dict.fromkeys(
        insight_texts, 1.0
    )
    view = service().view("acme", job.job_id)
    assert view is not None
    # 2 entities, then 6 insights read 3 at a time; the rejected one stays out of the index
    found = [re.match(r"(\d+) entities and (\d+) insights embedded", c.reason) for c in view.changes]
    counts = [(int(m[1]), int(m[2])) for m in found if m]
    assert len(counts) == 3 and counts[0] == (2, 0)
    assert [entities for entities, _ in counts[1:]] == [0, 0] and sum(i for _, i in counts) == 5
    assert all(c.kind == "reindex" and c.namespace == GLOBAL for c in view.changes)
    hits = deps.services().indexer.search("acme", [GLOBAL], [KNOWLEDGE], "Never pin", 20)
    assert "Rejected tip" not in {h.payload.get("title") for h in hits}


def test_reindex_runs_only_when_asked_for_and_a_dry_run_writes_nothing(aws: Aws) -> None:
    _, insight_texts = seed_stale_index("acme")
    stale = own_similarities("acme", KNOWLEDGE, insight_texts, "insight_id")

    default = curate("acme", namespace=GLOBAL)
    plan = curate("acme", namespace=GLOBAL, operations=["reindex"], dry_run=True)

    assert "reindex" not in default.operations and "reindex" not in default.progress.by_kind
    assert plan.progress.by_kind == {"reindex": 2}  # a chunk of entities, then one of insights
    planned = service().view("acme", plan.job_id)
    assert planned is not None and [c.applied for c in planned.changes] == [False] * 2
    assert own_similarities("acme", KNOWLEDGE, insight_texts, "insight_id") == stale


def test_reindexing_one_tenant_leaves_another_tenants_index_as_it_was(aws: Aws) -> None:
    seed_stale_index("acme")
    _, globex_texts = seed_stale_index("globex")
    stale = own_similarities("globex", KNOWLEDGE, globex_texts, "insight_id")

    curate("acme", namespace=GLOBAL, operations=["reindex"])

    assert own_similarities("globex", KNOWLEDGE, globex_texts, "insight_id") == stale
    assert set(stale.values()) != {1.0}
