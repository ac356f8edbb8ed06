"""The offline rule-based extractor: what it learns from realistic transcripts, and what it must not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from learning_machine.adapters.llm.base import ExtractionModel
from learning_machine.adapters.llm.offline import OfflineExtractionModel
from learning_machine.adapters.llm.offline.sessions import MAX_SUMMARY_CHARS, MAX_SUMMARY_SENTENCES
from learning_machine.models.common import Layer, Role
from learning_machine.models.extraction import (
    ExtractionRequest,
    ExtractionResult,
    MemoryOperation,
    NumberedMessage,
    SessionUpdate,
    ShownEntity,
    ShownFact,
)
from learning_machine.models.memories import Memory
from learning_machine.models.profile import STANDARD_FIELDS
from learning_machine.models.provenance import Provenance
from learning_machine.models.sessions import SessionContext

DEVELOPER = [
    (
        "user",
        "Hi! I'm Dana Whitfield, a senior backend engineer at Northwind Labs. Please keep answers concise.",
    ),
    ("assistant", "Nice to meet you, Dana. What are you working on?"),
    (
        "user",
        "I'm working on a Rust CLI called ferrite that parses build logs. "
        "We use Rust, Tokio and GitHub Actions.",
    ),
    (
        "assistant",
        "For slow parsing, try memory-mapping the log files with the memmap2 crate instead of reading them "
        "line by line.",
    ),
    ("user", "That worked, parsing is 3x faster now. Thanks!"),
]

CUSTOMER = [
    ("user", "Hi, this is Maria Santos. My order #A-48213 still hasn't arrived and it was due last Tuesday."),
    (
        "assistant",
        "I'm sorry about the delay. You can track the parcel with the link in your confirmation email.",
    ),
    (
        "user",
        "That didn't work, the tracking link says the order doesn't exist. "
        "I prefer email over phone calls, so please contact me by email.",
    ),
    ("assistant", "Understood. I have escalated the case and we will email you within a day."),
]

STUDENT_FIRST = [
    (
        "user",
        "Hi, I'm Lena, a computer science student at TU Munich. "
        "My goal is to pass the algorithms exam in July.",
    ),
    ("assistant", "Great goal! How would you like to structure your preparation?"),
    (
        "user",
        "I'm learning dynamic programming right now. "
        "The plan is: review sorting, practise graph algorithms, then solve past exam papers.",
    ),
    ("assistant", "Sounds good. Shall we start with sorting?"),
    ("user", "I prefer detailed explanations with worked examples."),
]

STUDENT_SECOND = [
    ("user", "I finished reviewing sorting yesterday. Now I'm stuck on Dijkstra's shortest paths."),
    ("assistant", "Let's walk through Dijkstra with a small graph."),
    ("user", "Thanks, perfect! I'm done with step 2 as well."),
]


def request(
    messages: list[tuple[str, str]],
    *,
    memories: list[Memory] | None = None,
    previous: SessionContext | None = None,
    **overrides: Any,
) -> ExtractionRequest:
    fields: dict[str, Any] = {
        "transcript_id": "tr-1",
        "occurred_at": datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        "messages": [
            NumberedMessage(role=Role(role), content=content, turn_index=index)
            for index, (role, content) in enumerate(messages)
        ],
        "profile_fields": {},
        "profile_schema": dict(STANDARD_FIELDS),
        "memories": memories or [],
        "memories_total": len(memories or []),
        "previous_session": previous,
        "learn_profile": True,
        "layers": list(Layer),
        "learn_session": True,
        "planning": False,
    }
    fields.update(overrides)
    return ExtractionRequest(**fields)


def memory(memory_id: str, layer: Layer, content: str) -> Memory:
    return Memory(
        memory_id=memory_id,
        user_id="u-1",
        layer=layer,
        content=content,
        provenance=Provenance(source="extraction", transcript_id="tr-0", model="offline-rules"),
    )


def extract(req: ExtractionRequest) -> ExtractionResult:
    reply = OfflineExtractionModel().extract(req)
    assert reply.model == "offline-rules"
    assert reply.usage.prompt_tokens == 0
    assert reply.usage.completion_tokens == 0
    return reply.result


def fields_of(result: ExtractionResult) -> dict[str, str | None]:
    return {update.field: update.value for update in result.profile_updates}


def added(result: ExtractionResult) -> list[tuple[Layer | None, str | None]]:
    return [(op.layer, op.content) for op in result.memory_operations if op.op == "add"]


def session_of(result: ExtractionResult) -> SessionUpdate:
    assert result.session is not None
    return result.session


def previous_session(update: SessionUpdate) -> SessionContext:
    return SessionContext(
        session_id="s-1",
        user_id="u-1",
        summary=update.summary,
        goal=update.goal,
        plan=update.plan,
        progress=update.progress,
    )


def all_text(result: ExtractionResult) -> str:
    return result.model_dump_json()


def test_it_says_what_it_is() -> None:
    model: ExtractionModel = OfflineExtractionModel()
    assert model.name == "offline-rules"
    assert model.offline is True


def test_developer_transcript() -> None:
    result = extract(request(DEVELOPER))

    assert fields_of(result) == {
        "name": "Dana Whitfield",
        "role": "senior backend engineer",
        "company": "Northwind Labs",
    }
    assert {update.turn_index for update in result.profile_updates} == {0}
    assert added(result) == [
        (Layer.POLICIES, "Prefers concise answers."),
        (Layer.KNOWLEDGE, "Is working on a Rust CLI called ferrite that parses build logs."),
        (Layer.KNOWLEDGE, "Their team uses Rust, Tokio and GitHub Actions."),
        (
            Layer.FEEDBACK,
            'Found the suggestion "For slow parsing, try memory-mapping the log files with the memmap2 crate '
            'instead of reading them line by line" helpful (parsing is 3x faster).',
        ),
    ]
    by_layer = {op.layer: op for op in result.memory_operations}
    assert by_layer[Layer.FEEDBACK].polarity == "positive"
    assert by_layer[Layer.FEEDBACK].turn_index == 4
    assert by_layer[Layer.KNOWLEDGE].category == "work/stack"
    assert [op.turn_index for op in result.memory_operations] == [0, 2, 2, 4]
    assert [op.category for op in result.memory_operations] == [
        "communication/style",
        "work/projects",
        "work/stack",
        None,
    ]
    # Only user messages are read: nothing the assistant said became a memory of the user.
    assert "Nice to meet you" not in all_text(result)


def test_support_customer_transcript() -> None:
    result = extract(request(CUSTOMER))

    assert fields_of(result) == {"name": "Maria Santos"}
    assert added(result) == [
        (Layer.KNOWLEDGE, "Reported that their order A-48213 still hasn't arrived."),
        (
            Layer.FEEDBACK,
            'Found the suggestion "You can track the parcel with the link in your confirmation email" '
            "unhelpful (the tracking link says the order doesn't exist).",
        ),
        (Layer.POLICIES, "Prefers to be contacted by email rather than phone calls."),
    ]
    feedback = next(op for op in result.memory_operations if op.layer == Layer.FEEDBACK)
    assert feedback.polarity == "negative"
    assert feedback.turn_index == 2
    summary = session_of(result).summary
    assert "order" in summary
    assert "A-48213" in summary


def test_student_plan_and_progress_across_two_transcripts() -> None:
    first = extract(request(STUDENT_FIRST, planning=True))

    assert fields_of(first) == {"name": "Lena", "role": "computer science student", "company": "TU Munich"}
    assert added(first) == [
        (Layer.PROFILE, "Is learning dynamic programming."),
        (Layer.POLICIES, "Prefers detailed explanations with worked examples."),
    ]
    session = session_of(first)
    assert session.goal == "Pass the algorithms exam in July"
    assert session.plan == ["Review sorting", "Practise graph algorithms", "Solve past exam papers"]
    assert session.progress == []
    assert session.summary.startswith("Talked about algorithms, exam")

    second = extract(request(STUDENT_SECOND, planning=True, previous=previous_session(session)))

    follow_up = session_of(second)
    assert follow_up.goal == session.goal
    assert follow_up.plan == session.plan
    # "reviewing sorting" is named by the plan step it matches; "step 2" by its number.
    assert follow_up.progress == ["Review sorting", "Practise graph algorithms"]
    assert follow_up.summary.startswith(session.summary)
    assert "dijkstra" in follow_up.summary.lower()
    assert added(second) == [
        (Layer.FEEDBACK, 'Found the suggestion "Let\'s walk through Dijkstra with a small graph" helpful.')
    ]


def test_plan_from_first_then_finally_and_from_a_numbered_list() -> None:
    chained = extract(
        request(
            [
                (
                    "user",
                    "I'm trying to ship the billing API by Friday. First I'll write the schema, then add the "
                    "endpoints, and finally deploy to staging. Sounds doable?",
                )
            ],
            planning=True,
        )
    )
    assert session_of(chained).goal == "Ship the billing API by Friday"
    assert session_of(chained).plan == ["Write the schema", "Add the endpoints", "Deploy to staging"]

    listed = extract(
        request(
            [
                (
                    "user",
                    "My goal is to learn Go. Steps:\n1. Read the tour\n2. Build a CLI\n3. Write tests for it",
                )
            ],
            planning=True,
        )
    )
    assert session_of(listed).goal == "Learn Go"
    assert session_of(listed).plan == ["Read the tour", "Build a CLI", "Write tests for it"]


def test_without_planning_only_the_summary_is_kept() -> None:
    session = session_of(extract(request(STUDENT_FIRST, planning=False)))
    assert session.summary
    assert (session.goal, session.plan, session.progress) == (None, [], [])


@pytest.mark.parametrize(
    ("statement", "existing"),
    [
        ("Please keep answers concise.", "Prefers concise answers."),
        ("I prefer concise answers.", "Prefers concise answers."),
        ("Keep it brief please.", "Prefers concise answers."),
        ("I'm working on a Rust CLI called ferrite.", "Is working on a Rust CLI called ferrite."),
        ("Always include type hints.", "Wants the assistant to always include type hints."),
    ],
)
def test_a_repeated_statement_is_a_noop_not_a_duplicate(statement: str, existing: str) -> None:
    layer = Layer.KNOWLEDGE if "ferrite" in existing else Layer.POLICIES
    result = extract(request([("user", statement)], memories=[memory("m-1", layer, existing)]))

    assert [(op.op, op.memory_id) for op in result.memory_operations] == [("noop", "m-1")]


@pytest.mark.parametrize(
    ("existing", "statement", "updated"),
    [
        (
            "Prefers concise answers.",
            "Actually, I prefer detailed explanations now.",
            "Prefers detailed explanations.",
        ),
        ("Prefers concise answers.", "Give me detailed answers from now on.", "Prefers detailed answers."),
        ("Prefers answers in Spanish.", "Please answer in Portuguese.", "Prefers answers in Portuguese."),
        ("Is working on a Rust CLI called ferrite.", "I just shipped ferrite!", "Has shipped ferrite."),
        ("Prefers tabs over spaces.", "I prefer spaces over tabs.", "Prefers spaces over tabs."),
        (
            "Wants the assistant to always include type hints.",
            "Don't include type hints.",
            "Does not want the assistant to include type hints.",
        ),
        (
            "Has 3 years of experience with Python.",
            "I have 5 years of experience with Python.",
            "Has 5 years of experience with Python.",
        ),
    ],
)
def test_a_changed_statement_updates_the_same_memory(existing: str, statement: str, updated: str) -> None:
    layer = (
        Layer.KNOWLEDGE if "ferrite" in existing else Layer.PROFILE if "years" in existing else Layer.POLICIES
    )
    result = extract(request([("user", statement)], memories=[memory("m-7", layer, existing)]))

    operations = [op for op in result.memory_operations if op.op != "noop"]
    assert [(op.op, op.memory_id, op.content) for op in operations] == [("update", "m-7", updated)]


def test_a_language_preference_sets_the_field_and_a_policy() -> None:
    result = extract(request([("user", "I prefer Spanish, please.")]))

    assert fields_of(result) == {"language": "Spanish"}
    assert added(result) == [(Layer.POLICIES, "Prefers answers in Spanish.")]


def test_forget_that_deletes_the_matching_memory_and_learns_nothing_new() -> None:
    memories = [
        memory("m-1", Layer.POLICIES, "Prefers concise answers."),
        memory("m-2", Layer.KNOWLEDGE, "Is working on a Rust CLI called ferrite."),
    ]
    result = extract(request([("user", "Please forget that I'm working on ferrite.")], memories=memories))

    assert [(op.op, op.memory_id) for op in result.memory_operations] == [("delete", "m-2")]


def test_a_polite_forget_request_also_deletes() -> None:
    memories = [memory("m-3", Layer.POLICIES, "Prefers to be contacted by email rather than phone calls.")]
    result = extract(request([("user", "Could you forget that I prefer email?")], memories=memories))

    assert [(op.op, op.memory_id) for op in result.memory_operations] == [("delete", "m-3")]


def test_an_order_number_is_knowledge() -> None:
    result = extract(request([("user", "My order number is B-99120.")]))

    assert [(op.layer, op.category, op.content) for op in result.memory_operations] == [
        (Layer.KNOWLEDGE, "support/order", "Their order number is B-99120.")
    ]


def test_forget_removes_a_profile_field_holding_the_value() -> None:
    result = extract(
        request(
            [("user", "Forget that I live in Lisbon.")], profile_fields={"location": "Lisbon", "name": "Ana"}
        )
    )
    assert fields_of(result) == {"location": None}
    assert result.memory_operations == []


def test_a_statement_forgotten_in_the_same_transcript_is_not_added() -> None:
    result = extract(request([("user", "I prefer dark mode. Actually, forget that I prefer dark mode.")]))
    assert result.memory_operations == []


def test_disabled_layers_and_session_produce_nothing() -> None:
    result = extract(
        request(DEVELOPER, layers=[Layer.POLICIES], learn_session=False, learn_profile=False, planning=True)
    )

    assert {op.layer for op in result.memory_operations} == {Layer.POLICIES}
    assert result.profile_updates == []
    assert result.session is None


def test_forget_never_touches_a_memory_of_a_disabled_layer() -> None:
    memories = [memory("m-2", Layer.KNOWLEDGE, "Is working on a Rust CLI called ferrite.")]
    result = extract(
        request([("user", "Forget that I'm working on ferrite.")], memories=memories, layers=[Layer.POLICIES])
    )
    assert result.memory_operations == []


def test_fields_outside_the_schema_are_never_set() -> None:
    schema = {"name": "Full name", "favorite_editor": "The editor the user works in"}
    transcript = [
        ("user", "I'm Dana Whitfield, a senior backend engineer at Northwind Labs. I live in Lisbon."),
        ("user", "My favorite editor is Neovim and my timezone is Europe/Lisbon. Please answer in French."),
    ]
    result = extract(request(transcript, profile_schema=schema))

    assert fields_of(result) == {"name": "Dana Whitfield", "favorite_editor": "Neovim"}


def test_profile_fields_from_the_other_phrasings() -> None:
    transcript = [
        ("user", "My name is Daniel Okafor, but please call me Dan."),
        ("user", "I work at Acme Corp as a data engineer. I'm based in Berlin and I'm on CET."),
    ]
    result = extract(request(transcript))

    assert fields_of(result) == {
        "name": "Daniel Okafor",
        "preferred_name": "Dan",
        "role": "data engineer",
        "company": "Acme Corp",
        "location": "Berlin",
        "timezone": "CET",
    }


def test_known_values_are_not_set_again() -> None:
    result = extract(
        request(
            [("user", "I'm Dana. I live in Lisbon.")],
            profile_fields={"name": "Dana Whitfield", "location": "lisbon"},
        )
    )
    assert result.profile_updates == []


@pytest.mark.parametrize(
    "sentence",
    [
        "I'm a bit confused about lifetimes.",  # not a job title
        "This is Python code, not Java.",  # not a name
        "Can you call me back tomorrow?",  # a question, and "back" is not a name
        "I don't know how it works.",  # not feedback, not a rule
        "How do I keep answers short in a chatbot?",  # a question about something else
    ],
)
def test_ordinary_sentences_are_not_mistaken_for_facts(sentence: str) -> None:
    result = extract(request([("user", sentence)]))
    assert result.profile_updates == []
    assert result.memory_operations == []


def test_secrets_never_reach_any_memory_field_or_summary() -> None:
    transcript = [
        ("user", "My password is hunter2, please remember it. I prefer tabs over spaces."),
        (
            "assistant",
            "I would rather not store that. Your key sk-proj-abc123def456ghi789jkl is also sensitive.",
        ),
        ("user", "Here is my API key: sk-proj-abc123def456ghi789jkl for the staging project."),
        ("user", "That worked. I'm working on the payments service, card 4111 1111 1111 1111 failed."),
        ("user", "My name is Ana Costa and my token is ghp_abcdefghijklmnopqrstuvwxyz0123456789."),
    ]
    result = extract(request(transcript, planning=True))
    text = all_text(result)

    for secret in ("hunter2", "sk-proj", "4111", "ghp_", "password", "API key"):
        assert secret not in text
    assert added(result)[0] == (Layer.POLICIES, "Prefers tabs over spaces.")
    assert fields_of(result) == {}


def test_feedback_without_a_preceding_assistant_message() -> None:
    result = extract(request([("user", "That didn't help at all.")]))
    assert added(result) == [(Layer.FEEDBACK, "Found the assistant's answer unhelpful (at all).")]


def test_the_summary_stays_bounded_over_many_transcripts() -> None:
    previous: SessionContext | None = None
    topics = [
        "kafka consumer lag",
        "postgres vacuum tuning",
        "terraform state locking",
        "react hydration errors",
    ]
    for number in range(30):
        topic = topics[number % len(topics)]
        transcript = [
            (
                "user",
                f"Today I need help with {topic} in service number {number}, it keeps failing in production.",
            ),
            ("assistant", "Let's look at the logs first."),
            ("user", f"The {topic} problem only happens under load."),
        ]
        update = session_of(extract(request(transcript, previous=previous)))
        previous = previous_session(update)

    assert previous is not None
    summary = previous.summary
    assert len(summary) <= MAX_SUMMARY_CHARS
    assert summary.count("Talked about") <= MAX_SUMMARY_SENTENCES
    assert "number 29" in summary  # the newest transcript is there ...
    assert "number 0," not in summary  # ... and the oldest was dropped first


def test_operations_are_valid_for_the_schema() -> None:
    """Every operation round-trips through the strict output model the real model must satisfy."""
    for transcript in (DEVELOPER, CUSTOMER, STUDENT_FIRST, STUDENT_SECOND):
        result = extract(request(transcript, planning=True))
        assert ExtractionResult.model_validate_json(result.model_dump_json()) == result
        for op in result.memory_operations:
            assert isinstance(op, MemoryOperation)
            assert op.content is None or (op.content.endswith(".") and op.content[0].isupper())


def test_the_same_request_gives_the_same_result() -> None:
    req = request(DEVELOPER, planning=True)
    assert extract(req) == extract(req)


# --- entities ---------------------------------------------------------------------------------


def shown(
    name: str, *facts: tuple[str, str], writable: bool = True, aliases: list[str] | None = None
) -> ShownEntity:
    return ShownEntity(
        name=name,
        entity_type="project",
        aliases=aliases or [],
        facts=[ShownFact(fact_id=fact_id, content=content) for fact_id, content in facts],
        writable=writable,
    )


def entity_ops(result: ExtractionResult) -> list[tuple[str, str, str | None]]:
    return [(op.op, op.entity, op.content or op.entity_type) for op in result.entity_operations]


def test_entities_from_stock_phrasings() -> None:
    transcript = [
        ("user", "I work at Acme Corp as a data engineer. Falcon is our payments service written in Go."),
        ("user", "Falcon runs on Postgres 15, and Falcon uses Kafka and Redis."),
        ("user", "Last Friday we launched Falcon to production."),
    ]
    result = extract(request(transcript, learn_entities=True))

    assert entity_ops(result) == [
        ("upsert", "Acme Corp", "company"),
        ("add_fact", "Acme Corp", "Acme Corp employs the user as a data engineer."),
        ("upsert", "Falcon", "project"),
        ("add_fact", "Falcon", "Falcon runs on Postgres 15."),
        ("add_fact", "Falcon", "Falcon uses Kafka and Redis."),
        ("add_event", "Falcon", "The user's team launched Falcon to production."),
    ]
    assert result.entity_operations[2].description == "Falcon is the user's payments service written in Go."
    assert result.entity_operations[-1].date_text == "Last Friday"
    assert result.knowledge_operations == []  # never offline, even when the store is on


def test_a_changed_fact_supersedes_the_shown_one_by_id() -> None:
    falcon = shown("Falcon", ("f-15", "Falcon runs on Postgres 15."), ("f-k", "Falcon uses Kafka."))
    result = extract(
        request(
            [("user", "Falcon-API now runs on Postgres 16. Falcon uses Redis. Falcon uses Kafka.")],
            learn_entities=True,
            entities=[falcon.model_copy(update={"aliases": ["falcon-api"]})],
        )
    )
    superseding, added = result.entity_operations
    assert (superseding.op, superseding.entity, superseding.fact_id, superseding.content) == (
        "supersede_fact",
        "Falcon",  # resolved through the alias to the shown name
        "f-15",
        "Falcon-API runs on Postgres 16.",
    )
    # "uses" holds many values: Redis joins Kafka; the shown Kafka fact is not repeated.
    assert (added.op, added.content) == ("add_fact", "Falcon uses Redis.")


def test_a_shared_entity_is_never_superseded() -> None:
    falcon = shown("Falcon", ("f-15", "Falcon runs on Postgres 15."), writable=False)
    result = extract(
        request([("user", "Falcon runs on Postgres 16.")], learn_entities=True, entities=[falcon])
    )
    assert entity_ops(result) == [("add_fact", "Falcon", "Falcon runs on Postgres 16.")]


def test_events_keep_the_date_as_said() -> None:
    result = extract(
        request(
            [("user", "On March 3 we migrated Falcon to Postgres 16. I shipped Nimbus yesterday.")],
            learn_entities=True,
        )
    )
    assert [(op.op, op.entity, op.content, op.date_text) for op in result.entity_operations] == [
        ("add_event", "Falcon", "The user's team migrated Falcon to Postgres 16.", "March 3"),
        ("add_event", "Nimbus", "The user shipped Nimbus.", "yesterday"),
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "Does Falcon run on Postgres 15?",  # a question
        "It runs on Postgres 15.",  # no name
        "We use Postgres.",  # about the user's team: a memory, not an entity fact
        "We launched it yesterday.",  # no named entity
    ],
)
def test_no_entity_from_ordinary_sentences(sentence: str) -> None:
    assert extract(request([("user", sentence)], learn_entities=True)).entity_operations == []


def test_no_entities_when_the_store_is_off() -> None:
    assert extract(request([("user", "Falcon runs on Postgres 15.")])).entity_operations == []
