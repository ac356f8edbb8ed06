"""The probes of issue 14 with a real semantic model (all-MiniLM-L6-v2, installed by `make install`),
through the real handlers: scores with a meaning, memories found by meaning, unrelated queries
that find and inject nothing. Behaviour only: which items come back, in which order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from learning_machine.adapters import dynamodb
from learning_machine.adapters.embeddings.factory import local_model_installed
from tests.conftest import Aws, Call, reset_clients
from tests.support.curation import curate

pytestmark = pytest.mark.skipif(
    not local_model_installed(), reason="the local sentence model is not installed"
)

EMOJIS = "Never use emojis in answers."
POSTGRES = "Their team uses PostgreSQL and Kafka for the payments service."
CATS = "Has two cats named Miso and Tofu."
WEATHER = "what is the weather in Paris tomorrow"


@pytest.fixture
def local(call: Call, monkeypatch: pytest.MonkeyPatch) -> Iterator[Call]:
    monkeypatch.setenv("LM_EMBEDDING_BACKEND", "local")
    reset_clients()
    for layer, content in [
        ("policies", EMOJIS),
        ("knowledge", POSTGRES),
        ("profile", CATS),
        ("profile", "Works as a data engineer at Initech."),
    ]:
        assert call("POST", "/v1/users/ada/memories", {"layer": layer, "content": content})[0] == 201
    deploy = {"title": "Deploy checklist", "content": "Run the database migrations before switching traffic."}
    assert call("POST", "/v1/knowledge", deploy)[0] == 201
    initech = {"name": "Initech", "entity_type": "company", "description": "Builds payment software."}
    assert call("POST", "/v1/entities", {**initech, "namespace": "global"})[0] in (200, 201)
    yield call


def contents(call: Call, query: str) -> list[str]:
    status, reply = call("POST", "/v1/search", {"query": query, "user_id": "ada"})
    assert status == 200, reply
    results: list[dict[str, Any]] = reply["results"]
    return [r["content"] for r in results]


def test_an_unrelated_question_finds_nothing(local: Call) -> None:
    assert contents(local, WEATHER) == []


def test_the_database_question_finds_the_postgres_memory_first_and_not_the_emoji_policy(local: Call) -> None:
    found = contents(local, "which database does the team use")
    assert found[0] == POSTGRES
    assert EMOJIS not in found


def test_a_memory_is_found_by_meaning(local: Call) -> None:
    assert contents(local, "what pets does the user have")[0] == CATS
    assert contents(local, "how should replies be formatted")[0] == EMOJIS


def test_get_context_with_an_unrelated_query_injects_no_entities_or_knowledge(local: Call) -> None:
    status, context = local("GET", "/v1/context", query={"user_id": "ada", "query": WEATHER})
    assert status == 200
    assert (context["entities"], context["knowledge"]) == ([], [])


def test_get_context_puts_the_memory_the_query_is_about_first_within_its_layer(local: Call) -> None:
    status, context = local(
        "GET", "/v1/context", query={"user_id": "ada", "query": "what pets does the user have"}
    )
    assert status == 200
    assert context["memories"]["profile"][0]["content"] == CATS


def test_a_question_naming_an_entity_finds_it_first(local: Call) -> None:
    """Names are left out of the query's embedding; an entity the query names counts as meant."""
    status, reply = local("POST", "/v1/search", {"query": "Tell me about Initech", "user_id": "ada"})
    assert status == 200 and reply["results"][0]["title"] == "Initech"
    assert reply["results"][0]["score"] == 1.0
    status, reply = local(
        "POST", "/v1/search", {"query": "who builds payment software at Initech?", "user_id": "ada"}
    )
    assert reply["results"][0]["title"] == "Initech"


def test_a_memory_written_before_memories_had_vectors_is_found_by_meaning_once_curated(
    local: Call, aws: Aws
) -> None:
    """An upgrade: the cats memory as it was stored before memories were embedded (no `vec`) is
    found by words only, and "pets" is not among them; the curation job gives it its vector."""
    table = dynamodb.table(aws.settings.data_table)
    items = table.scan()["Items"]
    cats = next(i for i in items if '"Has two cats named Miso and Tofu."' in str(i.get("doc", "")))
    table.update_item(Key={"pk": cats["pk"], "sk": cats["sk"]}, UpdateExpression="REMOVE vec")
    reset_clients()  # a new container: nothing kept from the reads before
    assert CATS not in contents(local, "what pets does the user have")

    job = curate("acme", user_id="ada", operations=["embed_memories"])

    assert job.progress.by_kind == {"embed_memories": 1}
    assert contents(local, "what pets does the user have")[0] == CATS
