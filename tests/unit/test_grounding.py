"""The grounding screen: what a model proposes is applied only when the user's words support it."""

from __future__ import annotations

from datetime import UTC, datetime

from learning_machine.adapters.llm.grounding import grounded, screen_ungrounded, user_words
from learning_machine.models.common import Layer, Role
from learning_machine.models.extraction import (
    EntityOperation,
    ExtractionRequest,
    ExtractionResult,
    MemoryOperation,
    ModelReply,
    NumberedMessage,
    ProfileFieldUpdate,
    ShownEntity,
    ShownFact,
)
from learning_machine.models.transcripts import TokenUsage
from tests.unit.test_prompt import memory


def request(*turns: tuple[Role, str], entities: list[ShownEntity] | None = None) -> ExtractionRequest:
    return ExtractionRequest(
        transcript_id="t1",
        occurred_at=datetime(2025, 3, 1, tzinfo=UTC),
        messages=[
            NumberedMessage(role=role, content=text, turn_index=i) for i, (role, text) in enumerate(turns)
        ],
        profile_fields={},
        profile_schema={},
        memories=[],
        memories_total=0,
        previous_session=None,
        learn_profile=True,
        layers=list(Layer),
        learn_session=False,
        planning=False,
        learn_entities=True,
        entities=entities or [],
    )


def add(content: str) -> MemoryOperation:
    return MemoryOperation(
        op="add",
        memory_id=None,
        layer=Layer.PROFILE,
        category=None,
        content=content,
        polarity=None,
        turn_index=0,
    )


def reply(memories: list[MemoryOperation], entities: list[EntityOperation] | None = None) -> ModelReply:
    result = ExtractionResult(
        memory_operations=memories,
        profile_updates=[],
        session=None,
        entity_operations=entities or [],
        knowledge_operations=[],
    )
    return ModelReply(result=result, usage=TokenUsage(), model="m")


def test_a_memory_needs_half_its_content_words_from_the_user() -> None:
    said = user_words(request((Role.USER, "Please keep your answers concise, I read them between meetings.")))
    assert grounded("The user wants concise answers.", said)  # framing words need no grounding
    assert grounded("The user reads answers between meetings on a phone.", said)  # 2 of 3: read, meeti
    assert not grounded("The user prefers answers in French on weekdays.", said)  # french, weekd: none said
    assert not grounded("The user reads French news.", said)  # 1 of 3: under half


def test_what_only_the_assistant_said_is_held_and_reported() -> None:
    transcript = request(
        (Role.USER, "Can you format a date in Python?"),
        (Role.ASSISTANT, "You might prefer ISO 8601 everywhere and always use UTC."),
        (Role.USER, "ok thanks"),
    )
    delete = MemoryOperation(
        op="delete", memory_id="m1", layer=None, category=None, content=None, polarity=None, turn_index=0
    )
    screened = screen_ungrounded(reply([add("The user prefers ISO 8601 dates in UTC."), delete]), transcript)
    assert [op.op for op in screened.result.memory_operations] == ["delete"]  # no text: nothing to ground
    assert screened.held == [
        "add of a memory the user did not say: 'The user prefers ISO 8601 dates in UTC.'"
    ]


def test_a_reply_with_nothing_ungrounded_is_returned_as_it_is() -> None:
    original = reply([add("The user has two cats.")])
    assert screen_ungrounded(original, request((Role.USER, "I have two cats."))) is original


def test_a_redacted_placeholder_grounds_nothing() -> None:
    transcript = request((Role.USER, "Here is the staging login: [REDACTED:password], can you check it?"))
    screened = screen_ungrounded(reply([add("The user's password is redacted.")]), transcript)
    assert screened.result.memory_operations == [] and len(screened.held) == 1


def test_a_profile_value_needs_the_users_words() -> None:
    transcript = request((Role.USER, "I'm [REDACTED:name], a data engineer at Globex in Leeds."))
    transcript.profile_options["plan"] = ["free", "pro"]
    original = reply([])
    values = {
        "name": "[REDACTED:name]",  # only a placeholder: no value
        "preferred_name": "User",  # what the 1.5B model wrote in every field of a transcript
        "role": "Data engineer",
        "company": " [REDACTED:company]. ",
        "location": "Leeds, UK",  # half of its words said: kept
        "timezone": "Europe/Paris",  # a guess
        "plan": "pro",  # an option: left to the schema
        "on_call": "true",
    }
    updates = [ProfileFieldUpdate(field=f, value=v, turn_index=None) for f, v in values.items()]
    with_profile = original.model_copy(
        update={"result": original.result.model_copy(update={"profile_updates": updates})}
    )

    screened = screen_ungrounded(with_profile, transcript)

    kept = [u.field for u in screened.result.profile_updates]
    assert kept == ["role", "location", "plan", "on_call"]
    assert [line.split(":")[0] for line in screened.held] == [
        "profile name",
        "profile preferred_name",
        "profile company",
        "profile timezone",
    ]


def test_an_entity_needs_its_name_and_its_fact_from_the_user() -> None:
    transcript = request(
        (Role.USER, "At Acme we run everything on MySQL."),
        (Role.ASSISTANT, "Initech also uses MySQL."),
        entities=[ShownEntity(name="Acme Corp", entity_type="company", aliases=["ACME"])],
    )
    operations = [
        EntityOperation.of(
            "add_fact", "Acme Corp", content="Acme Corp runs everything on MySQL."
        ),  # shown name
        EntityOperation.of("add_fact", "Initech", content="Initech uses MySQL."),  # the assistant's
        EntityOperation.of(
            "add_fact", "Acme", content="Acme was founded in 1999 in Ohio."
        ),  # known elsewhere
        EntityOperation.of("relate", "Acme", relation="uses", target="PostgreSQL"),
        EntityOperation.of("relate", "Acme", relation="uses", target="MySQL"),
    ]
    screened = screen_ungrounded(reply([], operations), transcript)
    kept = [(op.entity, op.content or op.target) for op in screened.result.entity_operations]
    assert kept == [("Acme Corp", "Acme Corp runs everything on MySQL."), ("Acme", "MySQL")]
    assert len(screened.held) == 3
    assert "'Initech': the user did not name it" in screened.held[0]


def test_an_upsert_keeps_its_name_and_loses_an_invented_description() -> None:
    transcript = request((Role.USER, "Dana Reyes is our CTO."))
    upsert = EntityOperation.of(
        "upsert", "Dana Reyes", entity_type="person", description="A famous novelist from Spain."
    )
    screened = screen_ungrounded(reply([], [upsert]), transcript)
    assert [(op.entity, op.description) for op in screened.result.entity_operations] == [("Dana Reyes", None)]
    assert screened.held == ["description of 'Dana Reyes' the user did not say"]


def test_a_text_of_short_words_is_grounded_on_those_words() -> None:
    said = user_words(request((Role.USER, "Can you format a date in Python? I work in UTC.")))
    assert grounded("UTC", said)
    assert not grounded("ISO", said)  # only the assistant spoke of ISO 8601
    assert not grounded("The user is 16.", said)  # a number counts as a content word


def test_an_update_or_supersede_may_keep_the_words_of_what_it_replaces() -> None:
    fact = ShownFact(fact_id="f1", content="Acme Corp runs everything on MySQL.")
    transcript = request(
        (Role.USER, "Update: Acme Corp finished migrating to PostgreSQL this week."),
        entities=[ShownEntity(name="Acme Corp", entity_type="company", facts=[fact])],
    )
    transcript.memories = [memory("m1", Layer.PROFILE, "The user is vegetarian and cooks every evening.")]
    supersede = EntityOperation.of(
        "supersede_fact", "Acme Corp", content="Runs everything on PostgreSQL.", fact_id="f1"
    )
    new_fact = EntityOperation.of("add_fact", "Acme Corp", content="Runs everything on PostgreSQL.")
    update = MemoryOperation(
        op="update",
        memory_id="m1",
        layer=None,
        category=None,
        content="The user is vegetarian and cooks every evening with PostgreSQL.",
        polarity=None,
        turn_index=0,
    )
    screened = screen_ungrounded(
        reply([update, add("The user cooks every evening.")], [supersede, new_fact]), transcript
    )
    assert [op.op for op in screened.result.entity_operations] == [
        "supersede_fact"
    ]  # "runs everything": f1's
    assert [op.op for op in screened.result.memory_operations] == [
        "update"
    ]  # m1's words; the add has none said
    assert len(screened.held) == 2


def test_a_value_copied_down_from_an_earlier_field_is_held() -> None:
    transcript = request((Role.USER, "I'm Lena, a backend engineer at Finch Labs."))
    original = reply([])
    values = {"name": "Lena", "preferred_name": "Lena", "company": "Finch Labs", "location": "finch labs"}
    updates = [ProfileFieldUpdate(field=f, value=v, turn_index=None) for f, v in values.items()]
    with_profile = original.model_copy(
        update={"result": original.result.model_copy(update={"profile_updates": updates})}
    )

    screened = screen_ungrounded(with_profile, transcript)

    assert [u.field for u in screened.result.profile_updates] == ["name", "preferred_name", "company"]
    assert screened.held == ["profile location: the value of company again"]
