"""The model sees short positional ids (m1, f1) and its reply is mapped back to stored ids."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from learning_machine.extraction.pipeline import screen_invented_ids
from learning_machine.extraction_contract.prompt import build_messages
from learning_machine.extraction_contract.shown_ids import ShownIds
from learning_machine.models.common import Layer
from learning_machine.models.extraction import ModelReply, ShownEntity, ShownFact
from learning_machine.models.transcripts import TokenUsage
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.builders import entity_op, op, result
from tests.unit.test_openai_model import model_for, rule_request
from tests.unit.test_prompt import make_request, memory


def _falcon(fact_id: str = "fact-pg15") -> ShownEntity:
    return ShownEntity(
        name="Falcon",
        entity_type="project",
        facts=[ShownFact(fact_id=fact_id, content="Falcon runs on Postgres 15.")],
    )


@pytest.fixture
def rule_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def test_shown_ids_number_the_enabled_layers_memories_and_every_shown_fact() -> None:
    request = make_request(layers=[Layer.POLICIES, Layer.FEEDBACK], learn_entities=True, entities=[_falcon()])
    ids = ShownIds.of(request)
    assert dict(ids.memories) == {"m-pol": "m1", "m-fb": "m2"}  # m-kno's layer is off: not shown
    assert dict(ids.facts) == {"fact-pg15": "f1"}


def test_the_same_transcript_over_other_stored_ids_gives_the_same_prompt() -> None:
    """Two runs store the same memories under different random ids: the model sees one prompt."""
    first = make_request(
        memories=[memory("m-run1-a", Layer.POLICIES, "Wants short answers.")],
        learn_entities=True,
        entities=[_falcon("fact-run1")],
    )
    second = first.model_copy(
        update={
            "memories": [memory("m-run2-a", Layer.POLICIES, "Wants short answers.")],
            "entities": [_falcon("fact-run2")],
        }
    )
    assert build_messages(first) == build_messages(second)


def test_resolve_maps_shown_ids_back_and_leaves_unknown_ones_for_the_screen() -> None:
    request = make_request(learn_entities=True, entities=[_falcon()])
    shown = result(
        op("update", "The user's project is Atlas 2.", memory_id="m2"),
        op("delete", memory_id="m7"),  # never shown
        op("add", "The user wants tables.", layer=Layer.POLICIES),
        entities=[entity_op("supersede_fact", "Falcon", "Falcon runs on Postgres 16.", fact_id="f1")],
    )
    resolved = ShownIds.of(request).resolve(shown)
    assert [(op.op, op.memory_id) for op in resolved.memory_operations] == [
        ("update", "m-kno"),
        ("delete", "m7"),
        ("add", None),
    ]
    assert [op.fact_id for op in resolved.entity_operations] == ["fact-pg15"]

    reply = ModelReply(result=resolved, usage=TokenUsage(prompt_tokens=1, completion_tokens=1), model="m")
    screened = screen_invented_ids(reply, request)
    assert [op.memory_id for op in screened.result.memory_operations] == ["m-kno", None]
    assert screened.dropped == ["delete of invented memory id 'm7' (not shown to the model)"]


def test_a_supersede_through_the_openai_adapter_names_the_stored_fact(rule_server: FakeOpenAIServer) -> None:
    request = rule_request(
        "supersede Falcon: Falcon runs on Postgres 15. => Falcon runs on Postgres 16.",
        learn_entities=True,
        entities=[_falcon()],
    )
    result = model_for(rule_server).extract(request).result
    assert [(op.op, op.fact_id) for op in result.entity_operations] == [("supersede_fact", "fact-pg15")]
    assert "fact-pg15" not in str(rule_server.requests[-1])  # the model never saw the stored id
