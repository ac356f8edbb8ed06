"""Scores with a meaning (issue 14): one calibrated scale for every store, query and tenant, and a
default `min_score` that leaves unrelated results out of search and of the context block.

Through the real handlers with the deterministic hashing embedder (tests/conftest.py); the same
probes with the real local model are in tests/unit/test_search_probes_local.py.
"""

from __future__ import annotations

from typing import Any

from learning_machine.core.scoring import DEFAULT_MIN_SCORE
from tests.conftest import Call

DEPLOY = {
    "title": "Deploy checklist",
    "content": "Run the database migrations before switching traffic to the new release.",
}
WEATHER = "what is the weather in Paris tomorrow"


def seed(call: Call, tenant: str = "acme") -> None:
    for layer, content in [
        ("policies", "Never use emojis in answers."),
        ("knowledge", "Their team uses PostgreSQL and Kafka for the payments service."),
    ]:
        assert (
            call("POST", "/v1/users/ada/memories", {"layer": layer, "content": content}, tenant=tenant)[0]
            == 201
        )
    assert call("POST", "/v1/knowledge", DEPLOY, tenant=tenant)[0] == 201
    entity = {"name": "Initech", "entity_type": "company", "description": "Builds payment software."}
    assert call("POST", "/v1/entities", {**entity, "namespace": "global"}, tenant=tenant)[0] in (200, 201)


def search(call: Call, query: str, tenant: str = "acme", **options: Any) -> list[dict[str, Any]]:
    status, reply = call("POST", "/v1/search", {"query": query, "user_id": "ada", **options}, tenant=tenant)
    assert status == 200, reply
    return reply["results"]


def test_an_unrelated_query_finds_nothing_by_default(call: Call) -> None:
    seed(call)

    assert search(call, WEATHER) == []
    # The candidates are still there, scored near 0 instead of stretched to 1 per store.
    candidates = search(call, WEATHER, min_score=0)
    assert candidates
    assert max(r["score"] for r in candidates) < DEFAULT_MIN_SCORE


def test_a_related_query_finds_the_item_above_the_default(call: Call) -> None:
    seed(call)

    (top, *_) = search(call, "deploy checklist for a release")

    assert (top["store"], top["title"]) == ("knowledge", "Deploy checklist")
    assert top["score"] >= DEFAULT_MIN_SCORE


def test_a_score_does_not_depend_on_what_else_the_query_found(call: Call) -> None:
    """Per-query normalization gave each store's best item 1.0; a calibrated score is the item's own."""
    seed(call)
    query = "deploy checklist for a release"

    alone = search(call, query, stores=["knowledge"], min_score=0)
    mixed = search(call, query, min_score=0)

    score = {(r["store"], r["id"]): r["score"] for r in mixed}
    assert all(score[("knowledge", r["id"])] == r["score"] for r in alone)
    assert len({r["store"] for r in mixed}) > 1
    assert [r["score"] for r in mixed] == sorted((r["score"] for r in mixed), reverse=True)


def test_scores_are_the_same_in_every_tenant(call: Call) -> None:
    seed(call, "acme")
    seed(call, "globex")
    call("POST", "/v1/knowledge", {"title": "Coffee", "content": "The coffee machine is on floor three."})
    query = "deploy checklist for a release"

    acme = {r["title"]: r["score"] for r in search(call, query, "acme") if r["store"] == "knowledge"}
    globex = {r["title"]: r["score"] for r in search(call, query, "globex") if r["store"] == "knowledge"}

    assert acme["Deploy checklist"] == globex["Deploy checklist"]


def test_min_score_is_validated_and_applied(call: Call) -> None:
    seed(call)

    assert call("POST", "/v1/search", {"query": "deploy", "min_score": 1.5})[0] == 422
    assert search(call, "deploy checklist for a release", min_score=1.0) == []


def test_get_context_with_an_unrelated_query_injects_no_entities_or_knowledge(call: Call) -> None:
    seed(call)

    status, context = call("GET", "/v1/context", query={"user_id": "ada", "query": WEATHER})
    assert status == 200
    assert (context["entities"], context["knowledge"]) == ([], [])
    assert "<entities>" not in context["xml"] and "<learned_knowledge>" not in context["xml"]
    # Memories are chosen by authority and recency, not by the query: the policy still applies.
    assert "Never use emojis" in context["xml"]

    status, everything = call(
        "GET", "/v1/context", query={"user_id": "ada", "query": WEATHER, "min_score": "0"}
    )
    assert status == 200
    assert everything["knowledge"] or everything["entities"]


def test_get_context_with_a_related_query_injects_the_related_knowledge(call: Call) -> None:
    seed(call)

    status, context = call(
        "GET", "/v1/context", query={"user_id": "ada", "query": "deploy checklist release"}
    )

    assert status == 200
    assert [k["title"] for k in context["knowledge"]] == ["Deploy checklist"]


def test_the_metered_embedder_keeps_the_models_own_scale() -> None:
    # The indexer meters every embedding call by wrapping the embedder; the wrapper must not hide the
    # model's calibration, or every score would be read on the default scale.
    from learning_machine.adapters.embeddings.base import MeteredEmbedder
    from learning_machine.adapters.embeddings.hashing import HASHING_SCALE, HashingEmbedder
    from learning_machine.core.scoring import DEFAULT_SCALE, scale_of

    assert HASHING_SCALE != DEFAULT_SCALE
    assert scale_of(MeteredEmbedder(HashingEmbedder(64))) == HASHING_SCALE
