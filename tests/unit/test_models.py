"""Payload validation: what the API refuses, and why."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from learning_machine.models.common import MAX_MESSAGES
from learning_machine.models.config import TenantConfig
from learning_machine.models.extraction import MemoryOperation
from learning_machine.models.transcripts import TranscriptIn

GOOD = {"user_id": "u-1", "session_id": "s-1", "messages": [{"role": "user", "content": "hello"}]}


def error_locs(error: ValidationError) -> set[tuple]:
    return {tuple(e["loc"]) for e in error.errors()}


def test_a_valid_transcript_is_accepted_without_an_id() -> None:
    transcript = TranscriptIn.model_validate(GOOD)
    assert transcript.transcript_id is None
    assert transcript.messages[0].role == "user"


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"messages": []}, ("messages",)),
        ({"messages": [{"role": "wizard", "content": "x"}]}, ("messages", 0, "role")),
        ({"messages": [{"role": "user", "content": ""}]}, ("messages", 0, "content")),
        ({"user_id": "has space"}, ("user_id",)),
        ({"session_id": "x" * 200}, ("session_id",)),
        ({"user_id": 42}, ("user_id",)),
        ({"tenant_id": "other"}, ("tenant_id",)),
        ({"messages": [{"role": "user", "content": "x"}] * (MAX_MESSAGES + 1)}, ("messages",)),
    ],
)
def test_bad_transcripts_name_the_field(change: dict, loc: tuple) -> None:
    with pytest.raises(ValidationError) as caught:
        TranscriptIn.model_validate({**GOOD, **change})
    assert loc in error_locs(caught.value)


def test_config_defaults_are_level_one() -> None:
    config = TenantConfig()
    assert config.stores.user_profile.always and config.stores.session_context.always
    assert not config.stores.session_context.planning
    assert [layer.value for layer in config.stores.user_profile.enabled_layers()] == [
        "policies",
        "profile",
        "knowledge",
        "feedback",
    ]


@pytest.mark.parametrize(
    "document",
    [
        {"stores": {"user_profile": {"custom_schema": {"type": "array"}}}},
        {"stores": {"user_profile": {"custom_schema": {"type": "object", "properties": {"name": {}}}}}},
        {"stores": {"user_profile": {"modes": ["propose"]}}},
        {"stores": {"session_context": {"modes": ["agentic"]}}},
        {"context": {"max_tokens": 10}},
        {"tenant": "someone-else"},
    ],
)
def test_invalid_config_is_refused(document: dict) -> None:
    with pytest.raises(ValidationError):
        TenantConfig.model_validate(document)


def test_memory_operations_need_their_fields() -> None:
    base = {
        "memory_id": None,
        "layer": None,
        "category": None,
        "content": None,
        "polarity": None,
        "turn_index": None,
    }
    with pytest.raises(ValidationError):
        MemoryOperation.model_validate({**base, "op": "add", "content": "x"})
    with pytest.raises(ValidationError):
        MemoryOperation.model_validate({**base, "op": "update", "content": "x"})
    with pytest.raises(ValidationError):
        MemoryOperation.model_validate({**base, "op": "delete"})
    assert MemoryOperation.model_validate({**base, "op": "delete", "memory_id": "m1"}).op == "delete"
