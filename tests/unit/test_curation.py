"""Curation of a user's memories: merges with provenance, prune rules at their boundaries,
history retention, dry runs, resumed jobs, concurrent extraction, tenants and undo."""

from __future__ import annotations

from typing import Any

import pytest

from learning_machine.adapters import dynamodb
from learning_machine.adapters.llm.scripted import ScriptedModel
from learning_machine.api import deps
from learning_machine.composition import Services
from learning_machine.curation.sessions import SessionCuration
from learning_machine.curation.unit import Unit
from learning_machine.extraction.pipeline import ExtractionPipeline
from learning_machine.models.common import Layer
from learning_machine.models.config import CurationConfig, LayerRetention, TenantConfig
from learning_machine.models.memories import pack_vector
from learning_machine.stores.keys import MEMORY_PREFIX, memory_sk
from tests.conftest import Aws
from tests.support.builders import envelope, op, result
from tests.support.curation import (
    curate,
    days_ago,
    delete_memory,
    revise_memory,
    run_to_end,
    seed_memory,
    service,
    start,
    tenant_items,
)

DUPLICATE = "The user prefers short answers written in French"
DUPLICATE_2 = "The user prefers short answers written in French please"
OTHER = "The user runs Postgres 16 on Kubernetes in production"


def memories(tenant: str, user: str) -> dict[str, Any]:
    return {m.memory_id: m for m in deps.services().user_store.load(tenant, user).memories}


def configure(tenant: str, **curation: Any) -> None:
    deps.services().config_store.put(tenant, TenantConfig(curation=CurationConfig(**curation)))


def test_near_duplicates_merge_into_one_keeping_every_provenance(aws: Aws) -> None:
    older = seed_memory("acme", "ada", DUPLICATE, at=days_ago(10), transcript_id="tr-old")
    newer = seed_memory("acme", "ada", DUPLICATE_2, at=days_ago(1), transcript_id="tr-new")
    other = seed_memory("acme", "ada", OTHER, at=days_ago(5))

    job = curate("acme", user_id="ada")

    assert job.status == "done"
    left = memories("acme", "ada")
    assert set(left) == {newer.memory_id, other.memory_id}
    survivor = left[newer.memory_id]
    assert survivor.content == DUPLICATE_2  # curation never rewrites text
    assert [(i.item_id, i.content, i.provenance.transcript_id) for i in survivor.merged] == [
        (older.memory_id, DUPLICATE, "tr-old")
    ]
    assert survivor.provenance.transcript_id == "tr-new"  # its value still comes from its transcript
    history = deps.services().user_store.history("acme", "ada", older.memory_id)
    assert history[-1].change == "merged" and history[-1].merged_into == newer.memory_id
    kept_history = deps.services().user_store.history("acme", "ada", newer.memory_id)
    assert (kept_history[-1].change, kept_history[-1].provenance.job_id) == ("merged", job.job_id)
    view = service().view("acme", job.job_id)
    assert view is not None
    (change,) = view.changes
    assert (change.kind, change.kept, change.removed, change.applied) == (
        "merge_memories",
        newer.memory_id,
        [older.memory_id],
        True,
    )


def test_prune_by_age_keeps_the_boundary_and_drops_what_is_past_it(aws: Aws) -> None:
    configure("acme", layers={Layer.KNOWLEDGE: LayerRetention(max_age_days=30)})
    inside = seed_memory("acme", "ada", "The user deploys on Fridays", at=days_ago(29.9))
    past = seed_memory("acme", "ada", "The user used Jenkins for builds", at=days_ago(30.1))
    other_layer = seed_memory(
        "acme", "ada", "Always answer in English", layer=Layer.POLICIES, at=days_ago(400)
    )

    job = curate("acme", user_id="ada", operations=["prune_memories"])

    assert set(memories("acme", "ada")) == {inside.memory_id, other_layer.memory_id}
    assert job.progress.by_kind == {"prune_memory": 1}
    history = deps.services().user_store.history("acme", "ada", past.memory_id)
    assert history[-1].change == "pruned" and "30 days" in (history[-1].reason or "")


def test_prune_by_count_removes_the_least_confirmed_first(aws: Aws) -> None:
    configure(
        "acme",
        layers={Layer.KNOWLEDGE: LayerRetention(max_count=2, prune_order="least_confirmed")},
    )
    seeded = [
        seed_memory(
            "acme", "ada", f"Fact number {n} about the user's {topic}", confirmations=n, at=days_ago(n)
        )
        for n, topic in enumerate(["boat", "garden", "violin", "chess"])
    ]
    exactly_at_limit = [
        seed_memory("acme", "bob", f"Bob fact {n} on {t}") for n, t in enumerate(["tea", "golf"])
    ]

    curate("acme", operations=["prune_memories"])

    assert set(memories("acme", "ada")) == {seeded[2].memory_id, seeded[3].memory_id}
    assert set(memories("acme", "bob")) == {m.memory_id for m in exactly_at_limit}


def test_prune_by_count_least_recently_used_counts_confirmations_as_use(aws: Aws) -> None:
    configure("acme", layers={Layer.FEEDBACK: LayerRetention(max_count=1)})
    old_but_confirmed = seed_memory(
        "acme",
        "ada",
        "Short bullet answers worked well",
        layer=Layer.FEEDBACK,
        at=days_ago(1),
        confirmations=3,
    )
    newer = seed_memory("acme", "ada", "Long essays were not helpful", layer=Layer.FEEDBACK, at=days_ago(2))

    curate("acme", user_id="ada", operations=["prune_memories"])

    assert set(memories("acme", "ada")) == {old_but_confirmed.memory_id}
    assert newer.memory_id not in memories("acme", "ada")


def test_history_past_retention_goes_and_the_rest_stays(aws: Aws) -> None:
    configure("acme", history_retention_days=90)
    memory = seed_memory("acme", "ada", "The user lives in Lyon", at=days_ago(200))
    memory = revise_memory("acme", "ada", memory, "The user lives in Paris", at=days_ago(95))
    memory = revise_memory("acme", "ada", memory, "The user lives in Berlin", at=days_ago(10))
    gone_long_ago = seed_memory("acme", "ada", "The user owns a cat", at=days_ago(300))
    delete_memory("acme", "ada", gone_long_ago, at=days_ago(100))
    gone_recently = seed_memory("acme", "ada", "The user owns a dog", at=days_ago(300))
    delete_memory("acme", "ada", gone_recently, at=days_ago(80))

    curate("acme", user_id="ada", operations=["prune_history"])

    # Lyon was superseded 95 days ago (past retention); Paris only 10 days ago; Berlin is current.
    versions = deps.services().user_store.history("acme", "ada", memory.memory_id)
    assert [v.content for v in versions] == ["The user lives in Paris", "The user lives in Berlin"]
    assert deps.services().user_store.history("acme", "ada", gone_long_ago.memory_id) == []
    assert [v.change for v in deps.services().user_store.history("acme", "ada", gone_recently.memory_id)] == [
        "created",
        "deleted",
    ]
    assert memories("acme", "ada")[memory.memory_id].content == "The user lives in Berlin"


def test_dry_run_writes_nothing_and_plans_exactly_what_a_run_does(aws: Aws) -> None:
    configure("acme", layers={Layer.KNOWLEDGE: LayerRetention(max_age_days=30)})
    seed_memory("acme", "ada", DUPLICATE, at=days_ago(3))
    seed_memory("acme", "ada", DUPLICATE_2, at=days_ago(2))
    seed_memory("acme", "ada", "The user used Jenkins for builds", at=days_ago(45))
    before = tenant_items("acme")

    plan = curate("acme", user_id="ada", dry_run=True)

    assert tenant_items("acme") == before
    planned = service().view("acme", plan.job_id)
    assert planned is not None and all(not c.applied for c in planned.changes)
    assert {c.kind for c in planned.changes} == {"merge_memories", "prune_memory"}

    run = curate("acme", user_id="ada")
    made = service().view("acme", run.job_id)
    assert made is not None and all(c.applied for c in made.changes)
    shape = [(c.kind, c.kept, c.removed, c.reason) for c in planned.changes]
    assert [(c.kind, c.kept, c.removed, c.reason) for c in made.changes] == shape
    assert tenant_items("acme") != before


def test_an_interrupted_job_resumes_and_does_nothing_twice(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    users = [f"user{n:02d}" for n in range(9)]
    for user in users:
        seed_memory("acme", user, DUPLICATE, at=days_ago(2))
        seed_memory("acme", user, DUPLICATE_2, at=days_ago(1))
    curation = service()
    curation.runner.units_per_slice = 2
    job_id = start("acme", operations=["merge_memories", "drop_sessions"])

    first = curation.runner.run_slice("acme", job_id, lambda: 60.0)
    assert first is not None and first.status == "running" and first.cursor.after == users[1]

    # The next slice dies inside a unit, after that user's merge was committed.
    calls = {"n": 0}
    real_run = SessionCuration.run

    def crash_on_second(self: SessionCuration, unit: Any, user: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("Lambda timed out")
        real_run(self, unit, user)

    monkeypatch.setattr(SessionCuration, "run", crash_on_second)
    with pytest.raises(RuntimeError):
        curation.runner.run_slice("acme", job_id, lambda: 60.0)
    interrupted = curation.jobs.get("acme", job_id)
    assert interrupted is not None
    assert (interrupted.status, interrupted.failures, interrupted.lease_until) == ("running", 1, None)
    assert interrupted.cursor.after == users[2]  # user03's unit was cut short after its merge
    monkeypatch.setattr(SessionCuration, "run", real_run)

    job = run_to_end("acme", job_id)

    assert job.status == "done" and job.progress.slices >= 5
    for user in users:
        assert [m.content for m in memories("acme", user).values()] == [DUPLICATE_2]
    view = service().view("acme", job_id, limit=100)
    assert view is not None
    assert sorted(c.user_id or "" for c in view.changes) == users  # one merge per user, none twice


def test_a_slice_always_makes_progress_even_without_time_left(aws: Aws) -> None:
    for user in ("ann", "ben", "cid"):
        seed_memory("acme", user, OTHER)
    job_id = start("acme", operations=["merge_memories"])
    job = service().runner.run_slice("acme", job_id, lambda: 0.0)
    assert job is not None and job.cursor.after == "ann" and job.status == "running"


def extraction(aws: Aws, reply: Any) -> ExtractionPipeline:
    return Services(aws.settings).extraction_pipeline(model=ScriptedModel(default=reply))


def test_an_extraction_landing_mid_curation_is_kept_and_the_merge_replanned(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = seed_memory("acme", "ada", DUPLICATE, at=days_ago(3))
    newer = seed_memory("acme", "ada", DUPLICATE_2, at=days_ago(2))
    corrected = "The user prefers short answers written in French, with code in English"
    pipeline = extraction(
        aws,
        result(
            op("update", corrected, memory_id=newer.memory_id, layer=Layer.KNOWLEDGE),
            op("add", "The user has a dog named Rex", layer=Layer.KNOWLEDGE),
        ),
    )
    real_commit = Unit.commit_memory_changes
    raced = {"done": False}

    def extraction_wins_the_race(self: Unit, changes: Any, records: Any) -> None:
        if not raced["done"]:  # the transcript commits after curation planned, before it commits
            raced["done"] = True
            pipeline.process(envelope(user="ada", transcript_id="t-race"))
        real_commit(self, changes, records)

    monkeypatch.setattr(Unit, "commit_memory_changes", extraction_wins_the_race)

    job = curate("acme", user_id="ada", operations=["merge_memories"])

    contents = sorted(m.content for m in memories("acme", "ada").values())
    assert "The user has a dog named Rex" in contents and corrected in contents
    assert job.progress.conflicts_retried >= 1
    for seeded in (older, newer):  # each one is either still there or merged into one that is
        left = memories("acme", "ada")
        assert seeded.memory_id in left or any(
            seeded.memory_id in [i.item_id for i in m.merged] for m in left.values()
        )


def test_an_extraction_planned_before_a_merge_updates_the_survivor(aws: Aws) -> None:
    older = seed_memory("acme", "ada", DUPLICATE, at=days_ago(3))
    newer = seed_memory("acme", "ada", DUPLICATE_2, at=days_ago(2))
    corrected = "The user now prefers short answers written in German"

    def merge_while_the_model_thinks(request: Any) -> Any:
        curate("acme", user_id="ada", operations=["merge_memories"])  # merges older into newer
        return result(op("update", corrected, memory_id=older.memory_id, layer=Layer.KNOWLEDGE))

    status = extraction(aws, merge_while_the_model_thinks).process(envelope(user="ada", transcript_id="t1"))

    assert status.status == "done"
    (survivor,) = memories("acme", "ada").values()
    assert survivor.memory_id == newer.memory_id
    assert survivor.content == corrected  # the update aimed at the merged-away id was not lost
    assert older.memory_id in [i.item_id for i in survivor.merged]


def test_another_tenant_is_never_touched(aws: Aws) -> None:
    for tenant in ("acme", "globex"):
        seed_memory(tenant, "ada", DUPLICATE, at=days_ago(3))
        seed_memory(tenant, "ada", DUPLICATE_2, at=days_ago(2))
        configure(tenant, layers={Layer.KNOWLEDGE: LayerRetention(max_count=1)})
    untouched = tenant_items("globex")

    job = curate("acme")

    assert job.progress.changes >= 1 and len(memories("acme", "ada")) == 1
    assert tenant_items("globex") == untouched
    assert service().view("globex", job.job_id) is None
    assert service().undo("globex", job.job_id) is None


def test_undo_brings_merged_and_pruned_memories_back(aws: Aws) -> None:
    configure("acme", layers={Layer.KNOWLEDGE: LayerRetention(max_age_days=30)})
    older = seed_memory("acme", "ada", DUPLICATE, at=days_ago(3), transcript_id="tr-1")
    newer = seed_memory("acme", "ada", DUPLICATE_2, at=days_ago(2))
    stale = seed_memory("acme", "ada", "The user used Jenkins for builds", at=days_ago(45))
    before = {m.memory_id: (m.content, m.layer) for m in memories("acme", "ada").values()}
    job = curate("acme", user_id="ada")
    assert len(memories("acme", "ada")) == 1

    accepted = service().undo("acme", job.job_id)
    assert accepted is not None
    undo = run_to_end("acme", accepted.job_id)

    assert undo.status == "done" and undo.progress.by_kind == {"undone": 2}
    after = memories("acme", "ada")
    assert {m.memory_id: (m.content, m.layer) for m in after.values()} == before
    assert after[newer.memory_id].merged == []
    assert after[older.memory_id].provenance.transcript_id == "tr-1"  # back with its own provenance
    restored = deps.services().user_store.history("acme", "ada", stale.memory_id)[-1]
    assert (restored.change, restored.provenance.job_id) == ("restored", accepted.job_id)
    view = service().view("acme", job.job_id)
    assert view is not None and all(c.undone and c.undo_note for c in view.changes)


def test_a_user_learned_from_transcripts_is_found_by_a_whole_tenant_job(aws: Aws) -> None:
    replies = result(
        op("add", DUPLICATE, layer=Layer.KNOWLEDGE), op("add", DUPLICATE_2, layer=Layer.KNOWLEDGE)
    )
    extraction(aws, replies).process(envelope(user="zoe", transcript_id="t-zoe"))
    assert deps.services().registry.users("acme") == ["zoe"]  # registered in the extraction's own transaction

    job = curate("acme", operations=["merge_memories"])

    assert job.progress.by_kind == {"merge_memories": 1} and len(memories("acme", "zoe")) == 1


# -- vectors for memories written before memories were embedded --------------------------------------
def history_lengths(tenant: str, user: str) -> dict[str, int]:
    store = deps.services().user_store
    return {m: len(store.history(tenant, user, m)) for m in memories(tenant, user)}


def stored_vectors(tenant: str) -> dict[str, Any]:
    """Each memory item's stored vector bytes, by sort key, as DynamoDB holds them."""
    return {i["sk"]: i.get("vec") for i in tenant_items(tenant) if str(i["sk"]).startswith(MEMORY_PREFIX)}


def test_memories_without_a_vector_get_one_and_keep_their_text_version_and_history(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = [seed_memory("acme", "ada", text, embedded=False) for text in (OTHER, "The user has two cats")]
    recent = seed_memory("acme", "ada", "The user deploys on Fridays")
    histories = history_lengths("acme", "ada")
    recent_vector = stored_vectors("acme")[memory_sk(recent.memory_id)]
    embedder = deps.services().indexer.embedder
    embedded: list[list[str]] = []
    real_embed = Unit.embed

    def recording(self: Unit, texts: Any) -> list[list[float]]:
        embedded.append(list(texts))
        return real_embed(self, texts)

    monkeypatch.setattr(Unit, "embed", recording)

    job = curate("acme", user_id="ada", operations=["embed_memories"])

    assert len(embedded) == 1 and sorted(embedded[0]) == sorted(m.content for m in [*old, recent])
    after = memories("acme", "ada")
    for memory in old:
        stored = after[memory.memory_id]
        assert (stored.content, stored.version) == (memory.content, memory.version)
        assert stored.embedding() == pytest.approx(embedder.embed([memory.content])[0], abs=3e-3)
    assert stored_vectors("acme")[memory_sk(recent.memory_id)] == recent_vector  # already its own: kept
    assert history_lengths("acme", "ada") == histories  # no new version: the text did not change
    assert job.progress.by_kind == {"embed_memories": 1}
    view = service().view("acme", job.job_id)
    assert view is not None
    (change,) = view.changes
    assert (change.kind, change.user_id, change.removed, change.applied) == (
        "embed_memories",
        "ada",
        [],
        True,
    )
    assert change.reason.startswith("2 memories without the vector")

    again = curate("acme", user_id="ada", operations=["embed_memories"])
    assert again.progress.changes == 0  # found nothing left to embed


def store_vector(aws: Aws, memory_id: str, vector: list[float]) -> None:
    """The memory's vector as another embedder wrote it."""
    item = next(i for i in tenant_items("acme") if i["sk"] == memory_sk(memory_id))
    dynamodb.table(aws.settings.data_table).update_item(
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET vec = :v",
        ExpressionAttributeValues={":v": pack_vector(vector)},
    )


def test_a_vector_another_model_made_is_replaced_even_of_the_same_dimension(aws: Aws) -> None:
    memory = seed_memory("acme", "ada", OTHER, embedded=False)
    embedder = deps.services().indexer.embedder
    other_model = embedder.embed(["a text about something else entirely"])[0]  # same length, other meaning
    store_vector(aws, memory.memory_id, other_model)
    assert len(memories("acme", "ada")[memory.memory_id].embedding() or []) == embedder.dimension

    curate("acme", user_id="ada", operations=["embed_memories"])

    stored = memories("acme", "ada")[memory.memory_id].embedding()
    assert stored == pytest.approx(embedder.embed([OTHER])[0], abs=3e-3)


def test_a_vector_of_another_dimension_is_replaced(aws: Aws) -> None:
    memory = seed_memory("acme", "ada", OTHER, embedded=False)
    store_vector(aws, memory.memory_id, [0.6, 0.8])  # as an embedder of 2 dimensions wrote it
    assert len(memories("acme", "ada")[memory.memory_id].embedding() or []) == 2

    curate("acme", user_id="ada", operations=["embed_memories"])

    assert (
        len(memories("acme", "ada")[memory.memory_id].embedding() or []) == aws.settings.embedding_dimension
    )


def test_a_dry_run_plans_vectors_and_writes_none(aws: Aws) -> None:
    memory = seed_memory("acme", "ada", OTHER, embedded=False)
    before = tenant_items("acme")

    plan = curate("acme", user_id="ada", dry_run=True, operations=["embed_memories"])

    assert tenant_items("acme") == before
    assert memories("acme", "ada")[memory.memory_id].embedding() is None
    planned = service().view("acme", plan.job_id)
    assert planned is not None and [(c.kind, c.applied) for c in planned.changes] == [
        ("embed_memories", False)
    ]


def test_a_memory_changed_while_it_is_embedded_is_embedded_from_its_new_text(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = seed_memory("acme", "ada", "The user lives in Lyon", embedded=False)
    moved = "The user lives in Berlin"
    real_commit = Unit.commit
    raced = {"done": False}

    def an_edit_wins_the_race(self: Unit, items: Any, record: Any) -> None:
        if not raced["done"]:  # the text changes after curation read it, before its vector lands
            raced["done"] = True
            revise_memory("acme", "ada", memory, moved, at=days_ago(0))
        real_commit(self, items, record)

    monkeypatch.setattr(Unit, "commit", an_edit_wins_the_race)

    job = curate("acme", user_id="ada", operations=["embed_memories"])

    stored = memories("acme", "ada")[memory.memory_id]
    assert stored.content == moved and job.progress.conflicts_retried == 1
    embedder = deps.services().indexer.embedder
    assert stored.embedding() == pytest.approx(embedder.embed([moved])[0], abs=3e-3)


def test_undoing_a_job_keeps_the_vectors_it_wrote(aws: Aws) -> None:
    memory = seed_memory("acme", "ada", OTHER, embedded=False)
    job = curate("acme", user_id="ada", operations=["embed_memories"])

    accepted = service().undo("acme", job.job_id)
    assert accepted is not None
    undo = run_to_end("acme", accepted.job_id)

    assert undo.progress.by_kind == {"kept": 1}
    assert memories("acme", "ada")[memory.memory_id].embedding() is not None
    view = service().view("acme", job.job_id)
    assert view is not None and all(c.undone and "vectors kept" in (c.undo_note or "") for c in view.changes)


def test_embedding_one_tenants_memories_never_touches_another_tenants(aws: Aws) -> None:
    for tenant in ("acme", "globex"):
        seed_memory(tenant, "ada", OTHER, embedded=False)
    untouched = tenant_items("globex")

    curate("acme", operations=["embed_memories"])

    assert all(vector is not None for vector in stored_vectors("acme").values())
    assert tenant_items("globex") == untouched
