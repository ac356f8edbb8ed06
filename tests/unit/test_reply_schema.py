"""The JSON schema a model's reply is held to says what the validator accepts, narrowed per request.

Every reply the schema admits must validate (constrained decoding then cannot produce a reply the
pipeline refuses), and the narrowing must leave the model no id, layer or field it was not shown.
"""

from __future__ import annotations

import json
from typing import Any

import fastjsonschema
import pytest
from pydantic import ValidationError

from learning_machine.extraction_contract.schema import DEFAULT_STRING_LIMIT, STRING_LIMITS, reply_schema
from learning_machine.models.common import Layer
from learning_machine.models.extraction import ExtractionReply, ShownEntity, ShownFact
from learning_machine.models.profile import STANDARD_FIELDS
from tests.unit.test_prompt import make_request

# make_request's profile schema: the standard fields and team_size, none of them stated.
NOT_STATED: dict[str, Any] = dict.fromkeys([*STANDARD_FIELDS, "team_size"])


def validator(**overrides: Any) -> Any:
    return fastjsonschema.compile(reply_schema(make_request(**overrides)))


def reply(**parts: Any) -> dict[str, Any]:
    empty: dict[str, Any] = {
        "memory_operations": [],
        "profile": NOT_STATED,
        "session": {"summary": "Talked.", "goal": None, "plan": [], "progress": []},
        "entity_operations": [],
        "knowledge_operations": [],
    }
    return {**empty, **parts}


# make_request shows m-pol, m-kno and m-fb in that order: the model knows them as m1, m2 and m3.
ADD = {"op": "add", "layer": "policies", "category": None, "content": "x", "polarity": None, "turn_index": 0}
UPDATE = {"op": "update", "memory_id": "m1", "content": "The user wants short answers.", "turn_index": 0}
DELETE = {"op": "delete", "memory_id": "m2", "turn_index": None}
FACT = {"op": "add_fact", "entity": "Atlas", "content": "Atlas is written in Go.", "turn_index": 0}
SUPERSEDE = {
    "op": "supersede_fact",
    "entity": "Atlas",
    "fact_id": "f1",
    "content": "Atlas uses Rust.",
    "turn_index": 0,
}


@pytest.mark.parametrize(
    "candidate",
    [
        reply(memory_operations=[ADD, UPDATE, DELETE]),
        reply(profile={**NOT_STATED, "team_size": "4"}),
        reply(memory_operations=[{"op": "noop", "memory_id": "m3", "turn_index": None}]),
    ],
)
def test_what_the_schema_admits_validates(candidate: dict[str, Any]) -> None:
    validator()(candidate)
    ExtractionReply.model_validate_json(json.dumps(candidate))


@pytest.mark.parametrize(
    ("candidate", "why"),
    [
        (reply(memory_operations=[{**UPDATE, "content": None}]), "an update without content"),
        (
            reply(memory_operations=[{k: v for k, v in UPDATE.items() if k != "content"}]),
            "update: no content",
        ),
        (reply(memory_operations=[{**ADD, "layer": None}]), "an add without a layer"),
        (reply(memory_operations=[{**DELETE, "memory_id": None}]), "a delete without an id"),
        (reply(memory_operations=[{**ADD, "memory_id": "m1"}]), "an add with an id"),
    ],
)
def test_what_the_validator_refuses_the_schema_refuses_too(candidate: dict[str, Any], why: str) -> None:
    with pytest.raises(fastjsonschema.JsonSchemaException):
        validator()(candidate)
    with pytest.raises(ValidationError):
        ExtractionReply.model_validate_json(json.dumps(candidate))


def test_ids_layers_and_fields_are_only_those_shown() -> None:
    check = validator(layers=[Layer.POLICIES, Layer.KNOWLEDGE])
    check(reply(memory_operations=[UPDATE, DELETE]))
    for invalid in (
        [{**UPDATE, "memory_id": "m9"}],  # an invented id
        [{**UPDATE, "memory_id": "m-pol"}],  # a stored id: the model is shown m1 for it
        [{**DELETE, "memory_id": "m3"}],  # a memory of a layer that is off (not shown, not numbered)
        [{**ADD, "layer": "feedback"}],  # a layer that is off
    ):
        with pytest.raises(fastjsonschema.JsonSchemaException):
            check(reply(memory_operations=invalid))
    with pytest.raises(fastjsonschema.JsonSchemaException):
        check(reply(profile={**NOT_STATED, "favourite_colour": "blue"}))
    with pytest.raises(fastjsonschema.JsonSchemaException):  # every field is named, if only as null
        check(reply(profile={"name": "Ann"}))


def test_without_shown_memories_only_adds_are_possible() -> None:
    schema = reply_schema(make_request(memories=[]))
    assert schema["properties"]["memory_operations"]["items"] == {"$ref": "#/$defs/AddMemory"}
    assert "UpdateMemory" not in schema["$defs"]  # unused definitions are dropped
    with pytest.raises(fastjsonschema.JsonSchemaException):
        fastjsonschema.compile(schema)(reply(memory_operations=[UPDATE]))


def test_stores_that_are_off_get_nothing() -> None:
    check = validator(learn_session=False, learn_profile=False, layers=[])

    def off(**parts: Any) -> dict[str, Any]:
        return reply(**{"session": None, "profile": {}, **parts})

    check(off())
    for invalid in (
        off(session={"summary": "x", "goal": None, "plan": [], "progress": []}),
        off(memory_operations=[ADD]),
        off(profile={"name": "Ann"}),
        off(entity_operations=[FACT]),
        off(
            knowledge_operations=[
                {"title": "t", "content": "c", "context": None, "tags": [], "turn_index": 0}
            ]
        ),
    ):
        with pytest.raises(fastjsonschema.JsonSchemaException):
            check(invalid)


def test_planning_off_means_no_goal_or_plan_and_on_means_a_session_is_required() -> None:
    off = validator(planning=False)
    with pytest.raises(fastjsonschema.JsonSchemaException):
        off(reply(session={"summary": "x", "goal": "Ship", "plan": ["a"], "progress": []}))
    on = validator(planning=True)
    on(reply(session={"summary": "x", "goal": "Ship", "plan": ["a"], "progress": []}))
    with pytest.raises(fastjsonschema.JsonSchemaException):
        on(reply(session=None))


def test_entity_variants_and_shown_fact_ids() -> None:
    atlas = ShownEntity(
        name="Atlas", entity_type="project", facts=[ShownFact(fact_id="f-go", content="Atlas uses Go.")]
    )  # shown as f1
    check = validator(learn_entities=True, entities=[atlas])
    check(reply(entity_operations=[FACT, SUPERSEDE]))
    with pytest.raises(fastjsonschema.JsonSchemaException):
        check(reply(entity_operations=[{**SUPERSEDE, "fact_id": "f9"}]))
    with pytest.raises(fastjsonschema.JsonSchemaException):
        check(reply(entity_operations=[{**FACT, "relation": "uses"}]))  # a field add_fact does not have
    no_facts = validator(learn_entities=True, entities=[])
    with pytest.raises(fastjsonschema.JsonSchemaException):
        no_facts(reply(entity_operations=[SUPERSEDE]))


def test_blank_text_is_dropped_and_reported_not_a_failed_reply() -> None:
    parsed = ExtractionReply.model_validate(
        reply(
            memory_operations=[{**ADD, "content": "  "}, ADD],
            entity_operations=[
                {**FACT, "content": ""},
                {"op": "relate", "entity": "Atlas", "relation": "", "target": "Go", "turn_index": 0},
            ],
        )
    )
    result, dropped = parsed.to_result()
    assert [op.content for op in result.memory_operations] == ["x"]
    assert result.entity_operations == []
    assert len(dropped) == 3 and dropped[0] == "add of a memory with blank content"


def test_a_memory_of_punctuation_only_is_dropped_as_blank() -> None:
    parsed = ExtractionReply.model_validate(reply(memory_operations=[{**ADD, "content": " { "}, ADD]))
    result, dropped = parsed.to_result()
    assert [op.content for op in result.memory_operations] == ["x"]
    assert dropped == ["add of a memory with blank content"]


def test_a_result_round_trips_through_the_reply_format() -> None:
    parsed = ExtractionReply.model_validate(
        reply(memory_operations=[ADD, UPDATE], entity_operations=[FACT, SUPERSEDE])
    )
    result, dropped = parsed.to_result()
    assert dropped == []
    assert ExtractionReply.from_result(result) == parsed.model_copy(update={"profile": {}})


def test_profile_slots_become_updates_for_the_values_stated() -> None:
    stated = {**NOT_STATED, "name": " Ann Lee ", "company": "null", "role": "", "team_size": "4"}
    validator()(reply(profile=stated))
    result, _ = ExtractionReply.model_validate(reply(profile=stated)).to_result()
    assert [(u.field, u.value) for u in result.profile_updates] == [("name", "Ann Lee"), ("team_size", "4")]
    assert ExtractionReply.from_result(result).profile == {"name": "Ann Lee", "team_size": "4"}


def test_bounded_strings_cap_free_text_but_not_enums() -> None:
    request = make_request(planning=True)
    assert "maxLength" not in json.dumps(reply_schema(request))
    schema = reply_schema(request, bounded_strings=True)
    add = schema["$defs"]["AddMemory"]["properties"]
    assert add["content"]["maxLength"] == STRING_LIMITS["content"]
    assert "maxLength" not in add["layer"]
    plan = schema["$defs"]["SessionUpdate"]["properties"]["plan"]["items"]
    assert plan["maxLength"] == DEFAULT_STRING_LIMIT
    check = fastjsonschema.compile(schema)
    check(reply(memory_operations=[{**ADD, "content": "x" * STRING_LIMITS["content"]}]))
    with pytest.raises(fastjsonschema.JsonSchemaException):  # a loop inside a string ends at the cap
        check(reply(memory_operations=[{**ADD, "content": "AI Assistant " * 100}]))


def test_the_bounded_schema_leaves_out_noop() -> None:
    """A small model marked retracted and changed memories as confirmed (noop) instead of
    deleting or updating them."""
    keep = reply(memory_operations=[{"op": "noop", "memory_id": "m3", "turn_index": None}])
    validator()(keep)
    bounded = fastjsonschema.compile(reply_schema(make_request(), bounded_strings=True))
    with pytest.raises(fastjsonschema.JsonSchemaException):
        bounded(keep)
    bounded(reply(memory_operations=[DELETE]))
    bounded_without_memories = reply_schema(make_request(memories=[]), bounded_strings=True)
    assert bounded_without_memories["properties"]["memory_operations"]["items"] == {
        "$ref": "#/$defs/AddMemory"
    }


def test_a_field_with_options_takes_one_of_them_or_null() -> None:
    schema = {**STANDARD_FIELDS, "team_size": "integer", "plan_tier": "Subscription tier"}
    check = validator(profile_schema=schema, profile_options={"plan_tier": ["free", "pro"]})
    slots = {**NOT_STATED, "plan_tier": None}
    check(reply(profile={**slots, "plan_tier": "pro"}))
    check(reply(profile=slots))
    with pytest.raises(fastjsonschema.JsonSchemaException):
        check(reply(profile={**slots, "plan_tier": "Pro plan"}))  # a phrase, not an option
    check(reply(profile={**slots, "team_size": "any text"}))  # fields without options: free text


def test_bounded_schema_keeps_turns_in_the_transcript_and_a_few_operations_per_user_message() -> None:
    request = make_request(learn_entities=True)  # two messages, one of them the user's
    assert "minimum" not in json.dumps(reply_schema(request))  # hosted strict modes: unbounded
    schema = reply_schema(request, bounded_strings=True)
    assert schema["properties"]["memory_operations"]["maxItems"] == 4
    assert schema["properties"]["entity_operations"]["maxItems"] == 6
    check = fastjsonschema.compile(schema)
    check(reply(memory_operations=[{**ADD, "turn_index": 1}] * 4))
    for invalid in ([{**ADD, "turn_index": 2}], [{**ADD, "turn_index": -1}], [ADD] * 5):
        with pytest.raises(fastjsonschema.JsonSchemaException):
            check(reply(memory_operations=invalid))
    off = reply_schema(make_request(layers=[]), bounded_strings=True)
    assert off["properties"]["memory_operations"]["maxItems"] == 0  # a store that is off stays off


def test_a_session_that_repeats_itself_keeps_each_sentence_and_step_once() -> None:
    looped = "Marco ordered item 48213. It arrived damaged. "
    session = {
        "summary": looped * 4 + "A replacement is on its way.",
        "goal": None,
        "plan": ["send replacement", "Send replacement ", "email Marco"],
        "progress": ["send replacement", "send replacement"],
    }
    result, _ = ExtractionReply.model_validate(reply(session=session)).to_result()
    assert result.session is not None
    assert (
        result.session.summary == "Marco ordered item 48213. It arrived damaged. A replacement is on its way."
    )
    assert result.session.plan == ["send replacement", "email Marco"]
    assert result.session.progress == ["send replacement"]
