"""Semantic search over user memories (issue 14): memories are embedded when written (one
embedding call per transcript, with its entities and insights), the vector is stored beside the
memory and read with it in the same query, and it goes when the memory goes."""

from __future__ import annotations

from typing import Any

import pytest

from learning_machine.adapters import dynamodb
from learning_machine.adapters.embeddings.hashing import HashingEmbedder
from learning_machine.adapters.llm.scripted import ScriptedModel
from learning_machine.composition import Services
from learning_machine.models.common import Layer
from learning_machine.models.config import TenantConfig
from learning_machine.stores.user_memory import UserMemoryStore
from tests.conftest import Aws, Call
from tests.support.builders import entity_op, envelope, insight, op, result


@pytest.fixture
def embed_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The texts of every embedding call, in order."""
    calls: list[list[str]] = []
    original = HashingEmbedder.embed

    def counting(self: HashingEmbedder, texts: Any) -> list[list[float]]:
        calls.append(list(texts))
        return original(self, texts)

    monkeypatch.setattr(HashingEmbedder, "embed", counting)
    return calls


def memories(aws: Aws, user: str = "u1") -> dict[str, Any]:
    return {m.content: m for m in UserMemoryStore(aws.settings.data_table).load("acme", user).memories}


def test_a_transcript_embeds_its_memories_entities_and_insights_in_one_call(
    aws: Aws, embed_calls: list[list[str]]
) -> None:
    reply = result(
        op("add", "Has two cats named Miso and Tofu.", layer=Layer.PROFILE),
        op("add", "Never use emojis in answers.", layer=Layer.POLICIES),
        entities=[entity_op("upsert", "Falcon", entity_type="project")],
        insights=[insight("Pin the Postgres major version", "Pin it in CI.")],
    )
    pipeline = Services(aws.settings).extraction_pipeline(model=ScriptedModel(replies=[reply]))
    always = {"stores": {"learned_knowledge": {"modes": ["always", "agentic"]}}}
    pipeline.stores.config.put("acme", TenantConfig.model_validate(always))

    assert pipeline.process(envelope()).status == "done"

    # The first call embeds the transcript to find the entities to show the model (a query); the
    # writes are one more call: entities, insights and memories together.
    (_query, call) = embed_calls
    assert "Falcon" in call and "Pin it in CI." in call
    assert "Has two cats named Miso and Tofu." in call and "Never use emojis in answers." in call
    stored = memories(aws)
    embedder = HashingEmbedder(aws.settings.embedding_dimension)
    for text, memory in stored.items():
        assert memory.embedding() == pytest.approx(embedder.embed_one(text), abs=3e-3)  # one byte a value


def test_an_edit_re_embeds_only_a_changed_text(aws: Aws, call: Call, embed_calls: list[list[str]]) -> None:
    status, created = call("POST", "/v1/users/u1/memories", {"layer": "profile", "content": "Has a dog."})
    assert status == 201
    memory_id = created["memory_id"]
    assert "vector" not in created  # stored beside the memory, never in what the API returns

    call("PATCH", f"/v1/users/u1/memories/{memory_id}", {"layer": "knowledge"})
    call("PATCH", f"/v1/users/u1/memories/{memory_id}", {"content": "Has two cats named Miso and Tofu."})

    assert embed_calls == [["Has a dog."], ["Has two cats named Miso and Tofu."]]
    (memory,) = memories(aws).values()
    assert memory.layer == Layer.KNOWLEDGE and memory.embedding() is not None


def test_memories_are_found_by_meaning_as_well_as_words(call: Call) -> None:
    """With the hashing embedder, meaning is shared word pieces: enough to show the vector counts
    (the words alone score a single-word match below the default threshold)."""
    for layer, content in [
        ("policies", "Never use emojis in answers."),
        ("knowledge", "Their team uses PostgreSQL and Kafka for the payments service."),
    ]:
        call("POST", "/v1/users/ada/memories", {"layer": layer, "content": content})

    status, reply = call(
        "POST", "/v1/search", {"query": "which database does the team use", "user_id": "ada", "min_score": 0}
    )

    assert status == 200
    ranked = [r["content"] for r in reply["results"] if r["store"] == "memories"]
    assert ranked.index("Their team uses PostgreSQL and Kafka for the payments service.") < ranked.index(
        "Never use emojis in answers."
    )


def test_forgetting_a_memory_or_the_user_removes_its_vector(aws: Aws, call: Call) -> None:
    _, first = call("POST", "/v1/users/u1/memories", {"layer": "profile", "content": "Has a dog."})
    call("POST", "/v1/users/u1/memories", {"layer": "profile", "content": "Lives in Lyon."})
    table = dynamodb.table(aws.settings.data_table)

    def vectors() -> int:
        items = table.scan()["Items"]
        return sum(1 for item in items if "vec" in item)

    assert vectors() == 2
    assert call("DELETE", f"/v1/users/u1/memories/{first['memory_id']}")[0] == 204
    assert vectors() == 1
    assert call("DELETE", "/v1/users/u1")[0] in (200, 202, 204)
    assert vectors() == 0


def test_scoring_a_memory_gives_its_cosine_from_the_stored_bytes() -> None:
    """`QueryVector.dot` (the C-level distance form) agrees with the plain dot product, from a
    float vector and from the int8 bytes read back; a vector of another length scores 0."""
    import math
    import random

    from learning_machine.models.memories import Memory, QueryVector, pack_vector
    from learning_machine.models.provenance import Provenance

    rng = random.Random(7)

    def unit(values: list[float]) -> list[float]:
        norm = math.hypot(*values)
        return [value / norm for value in values]

    query = unit([rng.gauss(0, 1) for _ in range(384)])
    stored = unit([q + rng.gauss(0, 1) for q in query])
    exact = sum(q * s for q, s in zip(query, stored, strict=True))
    prepared = QueryVector.of(query)
    memory = Memory(
        memory_id="m", user_id="u", layer=Layer.KNOWLEDGE, content="x", provenance=Provenance(source="api")
    )

    assert prepared.dot(stored) == pytest.approx(exact, abs=1e-9)
    assert memory.with_packed_embedding(pack_vector(stored)).similarity(prepared) == pytest.approx(
        exact, abs=3e-3
    )
    assert memory.similarity(QueryVector.of(query[:100])) == 0.0
