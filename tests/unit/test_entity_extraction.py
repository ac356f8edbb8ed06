"""Entity memory and learned knowledge in the one extraction call: shown, applied, re-applied safely."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from learning_machine.adapters.index.base import IndexUnavailableError
from learning_machine.adapters.llm.scripted import ScriptedModel
from learning_machine.composition import Services
from learning_machine.extraction import pipeline as pipeline_module
from learning_machine.extraction.indexed_stores import IndexedStores
from learning_machine.extraction.pipeline import ExtractionPipeline
from learning_machine.extraction_contract.prompt import ENTITIES_OFF_LINE, build_messages
from learning_machine.models.common import Layer
from learning_machine.models.config import TenantConfig
from learning_machine.models.entities import Entity
from learning_machine.models.extraction import (
    MAX_SHOWN_ENTITIES,
    MAX_SHOWN_FACTS,
    ExtractionRequest,
    ExtractionResult,
)
from learning_machine.models.provenance import Provenance
from learning_machine.services.entity_memory import EntityMemory
from learning_machine.services.indexing import ENTITY, Indexer
from learning_machine.services.learned_knowledge import LearnedKnowledge
from learning_machine.stores.knowledge import KnowledgeStore
from tests.conftest import Aws
from tests.support.builders import entity_op, envelope, insight, op, result

KNOWLEDGE_ALWAYS = {"stores": {"learned_knowledge": {"modes": ["always", "agentic"]}}}
USER_NS = "user:u1"


def make(
    aws: Aws, *replies: object, config: dict[str, Any] | None = None
) -> tuple[ExtractionPipeline, ScriptedModel]:
    model = ScriptedModel(replies=list(replies))  # type: ignore[arg-type]
    pipeline = Services(aws.settings).extraction_pipeline(model=model)
    if config is not None:
        pipeline.stores.config.put("acme", TenantConfig.model_validate(config))
    return pipeline, model


def entities(pipeline: ExtractionPipeline) -> EntityMemory:
    assert pipeline.indexed is not None
    return pipeline.indexed.entities()


def falcon(pipeline: ExtractionPipeline, namespace: str = USER_NS) -> Entity:
    return entities(pipeline).get("acme", namespace, "falcon")


@pytest.fixture
def index_queries(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The kinds of every index search made, in order."""
    made: list[tuple[str, ...]] = []
    original = Indexer.search

    def counting(self: Indexer, tenant: str, namespaces: Any, kinds: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(tuple(kinds))
        return original(self, tenant, namespaces, kinds, *args, **kwargs)

    monkeypatch.setattr(Indexer, "search", counting)
    return made


def test_one_model_call_learns_memories_entities_and_knowledge(aws: Aws) -> None:
    reply = result(
        op("add", "Works on Falcon.", layer=Layer.KNOWLEDGE),
        entities=[
            entity_op("upsert", "Falcon", entity_type="project", aliases=["falcon-api"]),
            entity_op("add_fact", "falcon", "Falcon runs on Postgres 15."),
            entity_op("add_event", "Falcon", "Falcon launched to production.", date_text="yesterday"),
            entity_op("relate", "Falcon", relation="depends on", target="Kafka"),
        ],
        insights=[insight("Pin the Postgres major version", "Pin it in CI.", tags=["Postgres DB", "ci"])],
    )
    pipeline, model = make(aws, reply, config=KNOWLEDGE_ALWAYS)
    occurred = datetime(2025, 3, 7, 12, 0, tzinfo=UTC)
    status = pipeline.process(envelope(text="Falcon runs on Postgres 15.", occurred_at=occurred))

    assert model.calls == 1 and status.status == "done" and status.skipped == []
    assert [(o.store, o.action) for o in status.operations] == [
        ("memories", "add"),
        ("session_context", "replace"),
        ("entity_memory", "upsert"),
        ("entity_memory", "add_fact"),
        ("entity_memory", "add_event"),
        ("entity_memory", "relate"),
        ("learned_knowledge", "add"),
    ]
    request = model.requests[0]
    assert request.learn_entities and request.learn_knowledge and request.entities == []

    entity = falcon(pipeline)
    assert (entity.name, entity.entity_type, entity.aliases) == ("Falcon", "project", ["falcon-api"])
    (fact,) = entity.facts
    assert fact.content == "Falcon runs on Postgres 15."
    assert (fact.provenance.source, fact.provenance.transcript_id, fact.provenance.model) == (
        "extraction",
        "t1",
        "scripted",
    )
    (event,) = entity.events
    assert (event.date_text, event.date) == ("yesterday", date(2025, 3, 6))
    view = entities(pipeline).view("acme", USER_NS, "Falcon")
    assert [(r.relation, r.target_name) for r in view.relationships] == [("depends_on", "Kafka")]

    (saved,) = KnowledgeStore(aws.settings.data_table).in_namespace("acme", "global")
    assert saved.title == "Pin the Postgres major version" and saved.tags == ["postgres-db", "ci"]
    assert saved.provenance.transcript_id == "t1" and saved.provenance.source == "extraction"
    # Both stores are searchable: the entity (with its fact) and the insight were indexed.
    hits = entities(pipeline).indexer.search(
        "acme", [USER_NS, "global"], [ENTITY, "knowledge"], "Postgres", 5
    )
    assert {h.kind for h in hits} == {"entity", "knowledge"}


def test_a_contradicting_fact_supersedes_the_shown_one(
    aws: Aws, index_queries: list[tuple[str, ...]]
) -> None:
    def supersede_the_shown_fact(request: ExtractionRequest) -> ExtractionResult:
        (shown,) = request.entities
        (old,) = shown.facts
        assert old.content == "Falcon runs on Postgres 15."
        return result(
            entities=[
                entity_op("supersede_fact", "FALCON", "Falcon runs on Postgres 16.", fact_id=old.fact_id)
            ]
        )

    pipeline, model = make(
        aws,
        result(entities=[entity_op("add_fact", "Falcon", "Falcon runs on Postgres 15.")]),
        supersede_the_shown_fact,
    )
    pipeline.process(envelope(transcript_id="t1", text="Falcon runs on Postgres 15."))
    status = pipeline.process(envelope(transcript_id="t2", text="Falcon now runs on Postgres 16."))

    assert model.calls == 2 and index_queries == [(ENTITY,), (ENTITY,)]  # one index query per transcript
    assert [(o.store, o.action) for o in status.operations if o.store == "entity_memory"] == [
        ("entity_memory", "supersede_fact")
    ]
    old, new = falcon(pipeline).facts
    assert old.content == "Falcon runs on Postgres 15." and old.valid_to is not None
    assert old.superseded_by == new.fact_id
    assert new.content == "Falcon runs on Postgres 16." and new.current
    assert new.provenance.transcript_id == "t2"
    assert [f.content for f in falcon(pipeline).current_facts()] == ["Falcon runs on Postgres 16."]
    # The index follows: the entity's searchable facts are the current ones.
    (hit,) = entities(pipeline).indexer.search("acme", [USER_NS], [ENTITY], "Falcon Postgres", 1)
    assert hit.payload["facts"] == ["Falcon runs on Postgres 16."]


REPLAYED = result(
    entities=[
        entity_op("upsert", "Falcon", entity_type="project"),
        entity_op("add_fact", "Falcon", "Falcon runs on Postgres 15."),
        entity_op("add_event", "Falcon", "Falcon launched.", date_text="last Friday"),
        entity_op("relate", "Falcon", relation="uses", target="Kafka"),
    ],
    insights=[insight("Retry idempotently", "Key every side effect on the message id.")],
)


def _crash_at_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    original = pipeline_module.commit_with_retry
    calls = {"n": 0}

    def crash_once(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the container died before the final commit")
        original(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "commit_with_retry", crash_once)


def _index_down_once(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Indexer.put_entities
    calls = {"n": 0}

    def fail_once(self: Indexer, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise IndexUnavailableError("index unreachable")
        original(self, *args, **kwargs)

    monkeypatch.setattr(Indexer, "put_entities", fail_once)


@pytest.mark.parametrize("failure", [_crash_at_commit, _index_down_once], ids=["crash", "index-outage"])
def test_a_retry_after_a_failure_between_entity_writes_and_commit_duplicates_nothing(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, failure: Callable[[pytest.MonkeyPatch], None]
) -> None:
    pipeline, model = make(aws, REPLAYED, REPLAYED, config=KNOWLEDGE_ALWAYS)
    failure(monkeypatch)
    with pytest.raises((RuntimeError, IndexUnavailableError)):
        pipeline.process(envelope(text="Falcon runs on Postgres 15."))
    failed = pipeline.stores.transcripts.get("acme", "t1")
    assert failed is not None and failed.status == "failed"
    assert len(falcon(pipeline).facts) == 1  # the entity writes happened before the failure

    retried = pipeline.process(envelope(text="Falcon runs on Postgres 15."))
    assert retried.status == "done" and model.calls == 2
    entity = falcon(pipeline)
    assert [f.content for f in entity.facts] == ["Falcon runs on Postgres 15."]
    assert [e.content for e in entity.events] == ["Falcon launched."]
    assert len(entities(pipeline).view("acme", USER_NS, "Falcon").relationships) == 1
    assert len(entities(pipeline).store.in_namespace("acme", USER_NS)) == 2  # Falcon and Kafka
    assert len(KnowledgeStore(aws.settings.data_table).in_namespace("acme", "global")) == 1
    # The retry reports what this transcript applied, not "already known".
    assert retried.skipped == []
    assert {o.action for o in retried.operations if o.store == "entity_memory"} == {
        "upsert",
        "add_fact",
        "add_event",
        "relate",
    }
    hits = entities(pipeline).indexer.search("acme", [USER_NS], [ENTITY], "Falcon", 5)
    assert any(h.payload["name"] == "Falcon" for h in hits)  # indexed despite the first failure


def test_entity_memory_off_means_no_entity_section_and_no_index_query(
    aws: Aws, index_queries: list[tuple[str, ...]]
) -> None:
    reply = result(entities=[entity_op("add_fact", "Falcon", "Falcon runs on Postgres 15.")])
    pipeline, model = make(aws, reply, config={"stores": {"entity_memory": {"modes": ["agentic"]}}})
    status = pipeline.process(envelope(text="Falcon runs on Postgres 15."))

    request = model.requests[0]
    assert not request.learn_entities and request.entities == []
    system, user = (m["content"] for m in build_messages(request))
    assert ENTITIES_OFF_LINE in system and "<entities" not in user
    assert index_queries == []
    assert status.skipped == ["1 entity operations while entity memory is off"]
    assert entities(pipeline).store.in_namespace("acme", USER_NS) == []


def test_a_pipeline_without_indexed_stores_still_learns_the_user(aws: Aws) -> None:
    model = ScriptedModel(replies=[result(op("add", "Likes tea.", layer=Layer.POLICIES))])
    pipeline = ExtractionPipeline(Services(aws.settings).extraction_stores, model, aws.settings.write_retries)
    status = pipeline.process(envelope())
    assert status.status == "done" and not model.requests[0].learn_entities
    assert [m.content for m in pipeline.stores.users.load("acme", "u1").memories] == ["Likes tea."]


def test_the_entities_shown_are_bounded(aws: Aws, index_queries: list[tuple[str, ...]]) -> None:
    pipeline, model = make(aws, result())
    memory = entities(pipeline)
    origin = Provenance(source="api")
    for i in range(MAX_SHOWN_ENTITIES + 6):
        memory.upsert("acme", USER_NS, f"Service{i}", entity_type="system")
        memory.add_facts(
            "acme", USER_NS, f"Service{i}", [f"Service{i} talks to the billing gateway."], origin
        )
    memory.add_facts("acme", USER_NS, "Service0", [f"Service0 fact number {n}." for n in range(30)], origin)
    index_queries.clear()

    names = " ".join(f"Service{i}" for i in range(MAX_SHOWN_ENTITIES + 6))
    pipeline.process(envelope(text=f"{names} all talk to the billing gateway."))
    shown = model.requests[0].entities
    assert 0 < len(shown) <= MAX_SHOWN_ENTITIES
    assert all(len(e.facts) <= MAX_SHOWN_FACTS for e in shown)
    assert index_queries == [(ENTITY,)]
    service0 = next((e for e in shown if e.name == "Service0"), None)
    if service0 is not None:  # its latest current facts, not its first ones
        assert service0.facts[-1].content == "Service0 fact number 29."


def test_refused_operations_are_skipped_and_reported(aws: Aws) -> None:
    pipeline, _ = make(
        aws,
        result(entities=[entity_op("add_fact", "Falcon", "Falcon runs on Postgres 15.")]),
        result(
            entities=[
                entity_op("supersede_fact", "Falcon", "Falcon runs on Postgres 17.", fact_id="f-invented"),
                entity_op("supersede_fact", "Nimbus", "Nimbus is gone.", fact_id="f-other"),
                entity_op("relate", "Falcon", relation="part_of", target="falcon"),
                entity_op("relate", "Falcon", relation="!!!", target="Kafka"),
                entity_op("add_fact", "Falcon", "falcon runs on postgres 15"),
                entity_op("add_fact", "F" * 300, "Too long a name."),
            ],
            insights=[insight("Off", "Knowledge is not learned by extraction here.")],
        ),
    )
    pipeline.process(envelope(transcript_id="t1"))
    status = pipeline.process(envelope(transcript_id="t2"))

    assert status.status == "done"
    assert [o for o in status.operations if o.store in ("entity_memory", "learned_knowledge")] == []
    assert len(status.skipped) == 7, status.skipped
    assert any("f-invented" in note for note in status.skipped)
    assert any("already known" in note for note in status.skipped)
    assert any("while learned knowledge is off" in note for note in status.skipped)
    entity = falcon(pipeline)
    assert [f.content for f in entity.current_facts()] == ["Falcon runs on Postgres 15."]


def test_two_users_same_named_entities_never_collide(aws: Aws) -> None:
    pipeline, _ = make(
        aws,
        result(entities=[entity_op("add_fact", "Falcon", "Falcon is a bird feeder.")]),
        result(entities=[entity_op("add_fact", "Falcon", "Falcon is a rocket.")]),
    )
    pipeline.process(envelope(transcript_id="t1", user="u1", session="s1"))
    pipeline.process(envelope(transcript_id="t2", user="u2", session="s2"))
    assert [f.content for f in falcon(pipeline, "user:u1").facts] == ["Falcon is a bird feeder."]
    assert [f.content for f in falcon(pipeline, "user:u2").facts] == ["Falcon is a rocket."]


def test_knowledge_saves_deduplicate_across_transcripts(aws: Aws) -> None:
    same = insight("Retry idempotently", "Key every side effect on the message id.")
    pipeline, _ = make(aws, result(insights=[same]), result(insights=[same]), config=KNOWLEDGE_ALWAYS)
    pipeline.process(envelope(transcript_id="t1"))
    status = pipeline.process(envelope(transcript_id="t2"))
    assert [(o.store, o.action) for o in status.operations if o.store == "learned_knowledge"] == [
        ("learned_knowledge", "update")
    ]
    assert len(KnowledgeStore(aws.settings.data_table).in_namespace("acme", "global")) == 1


def test_the_indexed_stores_are_built_only_when_used(aws: Aws) -> None:
    built: list[str] = []
    model = ScriptedModel(replies=[result()])
    real = Services(aws.settings).extraction_pipeline(model=model).indexed
    assert real is not None

    def entity_memory() -> EntityMemory:
        built.append("entities")
        return real.entities()

    def knowledge() -> LearnedKnowledge:
        built.append("knowledge")
        return real.knowledge()

    pipeline = ExtractionPipeline(
        Services(aws.settings).extraction_stores, model, 3, indexed=IndexedStores(entity_memory, knowledge)
    )
    off = {"stores": {"entity_memory": {"enabled": False}}}
    pipeline.stores.config.put("acme", TenantConfig.model_validate(off))
    assert pipeline.process(envelope()).status == "done"
    assert model.calls == 1 and built == []


def test_a_retried_supersede_keeps_one_successor(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline, model = make(
        aws, result(entities=[entity_op("add_fact", "Falcon", "Falcon runs on Postgres 15.")])
    )
    pipeline.process(envelope(transcript_id="t1"))
    old_id = falcon(pipeline).facts[0].fact_id
    # The same reply on the retry: the worst case, since the old fact is no longer current.
    replayed = result(
        entities=[entity_op("supersede_fact", "Falcon", "Falcon runs on Postgres 16.", fact_id=old_id)]
    )
    model.replies.extend([replayed, replayed])
    _crash_at_commit(monkeypatch)
    with pytest.raises(RuntimeError):
        pipeline.process(envelope(transcript_id="t2"))
    assert pipeline.process(envelope(transcript_id="t2")).status == "done"

    old, new = falcon(pipeline).facts
    assert old.fact_id == old_id and old.superseded_by == new.fact_id and old.valid_to is not None
    assert new.content == "Falcon runs on Postgres 16." and new.current
