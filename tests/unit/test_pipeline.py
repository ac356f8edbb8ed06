"""The learning loop against moto: one model call, operations applied, history and status kept."""

from __future__ import annotations

import pytest

from learning_machine.adapters.llm.base import ModelError, ModelOutputError
from learning_machine.adapters.llm.scripted import ScriptedModel
from learning_machine.composition import Services
from learning_machine.extraction.pipeline import ExtractionPipeline
from learning_machine.models.common import Layer
from learning_machine.models.config import TenantConfig
from learning_machine.models.extraction import ExtractionRequest, ModelReply
from learning_machine.models.transcripts import TokenUsage
from learning_machine.stores.changes import ChangeSet
from tests.conftest import Aws
from tests.support.builders import envelope, op, result


def make(aws: Aws, *replies: object) -> tuple[ExtractionPipeline, ScriptedModel]:
    model = ScriptedModel(replies=list(replies))  # type: ignore[arg-type]
    return Services(aws.settings).extraction_pipeline(model=model), model


def test_one_model_call_learns_every_always_store(aws: Aws) -> None:
    pipeline, model = make(
        aws,
        result(
            op("add", "Prefers concise answers.", layer=Layer.POLICIES),
            op("add", "Works on the billing service.", layer=Layer.KNOWLEDGE, category="work/projects"),
            fields={"name": "Ada Lovelace", "role": "Engineer"},
            summary="Ada introduced herself.",
        ),
    )
    status = pipeline.process(envelope(text="I'm Ada, an engineer; keep it short."))
    assert model.calls == 1
    assert status.status == "done"
    assert {(o.store, o.action) for o in status.operations} == {
        ("memories", "add"),
        ("user_profile", "set"),
        ("session_context", "replace"),
    }
    state = pipeline.stores.users.load("acme", "u1")
    assert state.profile.fields == {"name": "Ada Lovelace", "role": "Engineer"}
    assert state.profile.field_provenance["name"].transcript_id == "t1"
    assert sorted(m.content for m in state.memories) == [
        "Prefers concise answers.",
        "Works on the billing service.",
    ]
    assert all(
        m.provenance.transcript_id == "t1" and m.provenance.model == "scripted" for m in state.memories
    )
    session = pipeline.stores.sessions.get("acme", "s1")
    assert session is not None and session.summary == "Ada introduced herself." and session.version == 1
    assert pipeline.stores.transcripts.get("acme", "t1").usage.prompt_tokens > 0  # type: ignore[union-attr]


def test_the_prompt_holds_current_memories_and_previous_session(aws: Aws) -> None:
    pipeline, model = make(
        aws,
        result(op("add", "Uses Python.", layer=Layer.KNOWLEDGE), summary="First."),
        result(summary="Second, built on first."),
    )
    pipeline.process(envelope(transcript_id="t1"))
    pipeline.process(envelope(transcript_id="t2", text="more about python"))
    second: ExtractionRequest = model.requests[1]
    assert [m.content for m in second.memories] == ["Uses Python."]
    assert second.previous_session is not None and second.previous_session.summary == "First."
    assert pipeline.stores.sessions.get("acme", "s1").summary == "Second, built on first."  # type: ignore[union-attr]


def test_update_keeps_the_superseded_value_in_history(aws: Aws) -> None:
    pipeline, model = make(aws, result(op("add", "Lives in Paris.", layer=Layer.PROFILE)))
    pipeline.process(envelope(transcript_id="t1"))
    memory = pipeline.stores.users.load("acme", "u1").memories[0]
    model.replies.append(result(op("update", "Lives in Berlin.", memory_id=memory.memory_id)))
    pipeline.process(envelope(transcript_id="t2"))
    versions = pipeline.stores.users.history("acme", "u1", memory.memory_id)
    assert [(v.version, v.change, v.content) for v in versions] == [
        (1, "created", "Lives in Paris."),
        (2, "updated", "Lives in Berlin."),
    ]
    assert versions[1].superseded_value == "Lives in Paris."
    assert versions[0].valid_to == versions[1].valid_from
    assert versions[1].provenance.transcript_id == "t2"


def test_delete_removes_the_memory_and_records_it(aws: Aws) -> None:
    pipeline, model = make(aws, result(op("add", "Has a cat.", layer=Layer.KNOWLEDGE)))
    pipeline.process(envelope(transcript_id="t1"))
    memory = pipeline.stores.users.load("acme", "u1").memories[0]
    model.replies.append(result(op("delete", memory_id=memory.memory_id)))
    pipeline.process(envelope(transcript_id="t2"))
    assert pipeline.stores.users.load("acme", "u1").memories == []
    assert pipeline.stores.users.history("acme", "u1", memory.memory_id)[-1].change == "deleted"


def test_a_duplicate_delivery_calls_the_model_once_and_changes_nothing(aws: Aws) -> None:
    pipeline, model = make(aws, result(op("add", "Likes tea.", layer=Layer.POLICIES)))
    first = pipeline.process(envelope())
    again = pipeline.process(envelope())
    assert model.calls == 1
    assert again.status == first.status == "done"
    assert len(pipeline.stores.users.load("acme", "u1").memories) == 1


def test_operations_the_rules_refuse_are_skipped_and_reported(aws: Aws) -> None:
    config = TenantConfig.model_validate(
        {"stores": {"user_profile": {"layers": {"feedback": {"enabled": False}}}}}
    )
    pipeline, _ = make(
        aws,
        result(
            op("add", "That answer was great.", layer=Layer.FEEDBACK, polarity="positive"),
            op("update", "Nope.", memory_id="m-does-not-exist"),
            op("add", "Keeps notes in Obsidian.", layer=Layer.KNOWLEDGE),
            fields={"favourite_colour": "blue"},
        ),
    )
    pipeline.stores.config.put("acme", config)
    status = pipeline.process(envelope())
    contents = [m.content for m in pipeline.stores.users.load("acme", "u1").memories]
    assert contents == ["Keeps notes in Obsidian."]
    assert len(status.skipped) == 3
    assert any("favourite_colour" in note for note in status.skipped)


def test_custom_schema_fields_are_validated(aws: Aws) -> None:
    config = TenantConfig.model_validate(
        {
            "stores": {
                "user_profile": {
                    "custom_schema": {
                        "type": "object",
                        "properties": {
                            "plan_tier": {
                                "type": "string",
                                "enum": ["free", "pro"],
                                "description": "Subscription tier",
                            },
                            "seats": {"type": "integer", "minimum": 1},
                        },
                    }
                }
            }
        }
    )
    pipeline, model = make(
        aws,
        result(fields={"plan_tier": "pro", "seats": "12"}),
        result(fields={"plan_tier": "platinum", "seats": "0"}),
    )
    pipeline.stores.config.put("acme", config)
    pipeline.process(envelope(transcript_id="t1"))
    status = pipeline.process(envelope(transcript_id="t2"))
    assert pipeline.stores.users.load("acme", "u1").profile.fields == {"plan_tier": "pro", "seats": 12}
    assert len(status.skipped) == 2
    assert model.requests[0].profile_schema["plan_tier"] == "Subscription tier"
    assert model.requests[0].profile_options == {"plan_tier": ["free", "pro"]}  # seats has no enum


def test_disabled_stores_and_layers_shape_the_request(aws: Aws) -> None:
    config = TenantConfig.model_validate(
        {
            "stores": {
                "user_profile": {
                    "prompt": "Track programming languages.",
                    "layers": {"knowledge": {"prompt": "Only work facts."}, "feedback": {"enabled": False}},
                },
                "session_context": {"planning": True, "prompt": "Note deadlines."},
            }
        }
    )
    pipeline, model = make(aws, result(summary="S.", goal="Ship v2", plan=["a", "b"], progress=["a"]))
    pipeline.stores.config.put("acme", config)
    pipeline.process(envelope())
    request = model.requests[0]
    assert Layer.FEEDBACK not in request.layers
    assert request.layer_prompts == {Layer.KNOWLEDGE: "Only work facts."}
    assert request.profile_prompt == "Track programming languages."
    assert request.planning and request.session_prompt == "Note deadlines."
    session = pipeline.stores.sessions.get("acme", "s1")
    assert session is not None and (session.goal, session.plan, session.progress) == (
        "Ship v2",
        ["a", "b"],
        ["a"],
    )


def test_nothing_on_means_no_model_call(aws: Aws) -> None:
    config = TenantConfig.model_validate(
        {
            "stores": {
                "user_profile": {"enabled": False},
                "session_context": {"enabled": False},
                "entity_memory": {"modes": ["agentic"]},
            }
        }
    )
    pipeline, model = make(aws)
    pipeline.stores.config.put("acme", config)
    assert pipeline.process(envelope()).status == "done"
    assert model.calls == 0


def test_prompt_memories_stay_within_the_budget_as_history_grows(aws: Aws) -> None:
    pipeline, model = make(aws, result(summary="x"))
    table = pipeline.stores.table
    for batch in range(10):
        changes = ChangeSet(table, "acme", "u1")
        for i in range(40):
            changes.add_memory(
                _memory(f"Fact {batch}-{i}: the user mentioned topic number {batch * 40 + i} once.")
            )
        changes.commit()
    pipeline.process(envelope(text="tell me about topic number 123"))
    request = model.requests[0]
    budget = TenantConfig().extraction.memory_budget_tokens
    from learning_machine.extraction.pipeline import memory_prompt_tokens

    assert request.memories_total == 400
    assert 0 < len(request.memories) < 400
    assert sum(memory_prompt_tokens(m) for m in request.memories) <= budget
    assert any("topic number 123 " in m.content for m in request.memories)


def _memory(content: str):  # type: ignore[no-untyped-def]
    from learning_machine.core.memory_rules import new_memory_id
    from learning_machine.models.memories import Memory
    from learning_machine.models.provenance import Provenance

    return Memory(
        memory_id=new_memory_id(),
        user_id="u1",
        layer=Layer.KNOWLEDGE,
        content=content,
        provenance=Provenance(source="import"),
    )


@pytest.mark.parametrize("failure", [ModelError("timeout"), ModelOutputError("not JSON")])
def test_a_model_failure_marks_the_transcript_failed_and_raises(aws: Aws, failure: Exception) -> None:
    pipeline, model = make(aws, failure, result(op("add", "Second try works.", layer=Layer.KNOWLEDGE)))
    with pytest.raises(ModelError):
        pipeline.process(envelope())
    status = pipeline.stores.transcripts.get("acme", "t1")
    assert status is not None and status.status == "failed" and status.error
    assert pipeline.stores.users.load("acme", "u1").memories == []
    retried = pipeline.process(envelope())
    assert retried.status == "done" and retried.attempts == 2
    assert model.calls == 2


def test_a_concurrent_write_is_not_lost(aws: Aws) -> None:
    """Another writer changes the profile between the read and the commit: both updates survive."""
    pipeline, model = make(aws)

    def reply_after_a_concurrent_edit(request: ExtractionRequest):  # type: ignore[no-untyped-def]
        from learning_machine.services.memory_admin import MemoryAdmin

        admin = MemoryAdmin(pipeline.stores.table, pipeline.stores.users)
        admin.patch_profile("acme", "u1", {"company": "Initech"}, TenantConfig())
        return result(op("add", "Drinks coffee.", layer=Layer.KNOWLEDGE), fields={"name": "Peter"})

    model.replies.append(reply_after_a_concurrent_edit)
    status = pipeline.process(envelope(text="I'm Peter."))
    assert status.status == "done"
    state = pipeline.stores.users.load("acme", "u1")
    assert state.profile.fields == {"company": "Initech", "name": "Peter"}
    assert state.profile.version == 2
    assert [m.content for m in state.memories] == ["Drinks coffee."]
    assert model.calls == 1


def test_tenants_never_share_a_user(aws: Aws) -> None:
    pipeline, _ = make(aws, result(fields={"name": "Alice"}), result(fields={"name": "Mallory"}))
    pipeline.process(envelope(tenant="acme", text="I'm Alice."))
    pipeline.process(envelope(tenant="globex", text="I'm Mallory."))
    assert pipeline.stores.users.load("acme", "u1").profile.fields == {"name": "Alice"}
    assert pipeline.stores.users.load("globex", "u1").profile.fields == {"name": "Mallory"}


# --- what a small model gets wrong: invented ids, repairs ------------------------------------


def test_an_invented_memory_id_is_reported_and_never_applied(aws: Aws) -> None:
    pipeline, model = make(aws, result(op("add", "Lives in Paris.", layer=Layer.PROFILE)))
    pipeline.process(envelope(transcript_id="t1"))
    (memory,) = pipeline.stores.users.load("acme", "u1").memories
    model.replies.append(
        result(
            op("update", "Lives in Rome.", memory_id="m_1"),  # an id the prompt never showed
            op("delete", memory_id="m_does_not_exist"),
            op("update", "Lives in Berlin.", memory_id=memory.memory_id),
        )
    )
    status = pipeline.process(envelope(transcript_id="t2", text="I moved from Paris to Berlin."))
    assert model.requests[1].memories[0].memory_id == memory.memory_id  # the one id shown
    assert [m.content for m in pipeline.stores.users.load("acme", "u1").memories] == ["Lives in Berlin."]
    invented = [line for line in status.skipped if "invented memory id" in line]
    assert len(invented) == 2 and "'m_1'" in invented[0]


def test_an_unshown_existing_memory_counts_as_invented(aws: Aws) -> None:
    # The memory exists but, its layer being off, the model was never shown it: no change to it.
    pipeline, model = make(aws, result(op("add", "Likes tea.", layer=Layer.FEEDBACK, polarity="positive")))
    pipeline.process(envelope(transcript_id="t1"))
    (memory,) = pipeline.stores.users.load("acme", "u1").memories
    feedback_off = {"stores": {"user_profile": {"layers": {"feedback": {"enabled": False}}}}}
    pipeline.stores.config.put("acme", TenantConfig.model_validate(feedback_off))
    model.replies.append(result(op("delete", memory_id=memory.memory_id)))
    status = pipeline.process(envelope(transcript_id="t2"))
    assert model.requests[1].memories == []
    assert [m.memory_id for m in pipeline.stores.users.load("acme", "u1").memories] == [memory.memory_id]
    assert any("invented memory id" in line for line in status.skipped)


def test_a_repaired_reply_is_counted_in_the_status(aws: Aws) -> None:
    repaired = ModelReply(
        result=result(op("add", "Prefers tea.", layer=Layer.POLICIES)),
        usage=TokenUsage(prompt_tokens=100, completion_tokens=20),
        model="small-model",
        calls=2,
        first_reply_error="the reply is not valid JSON",
        dropped=["add of a memory with blank content"],
        held=["add of a memory the user did not say: 'The user has a cat.'"],
    )

    class RepairingModel:
        name = "small-model"
        offline = False

        def extract(self, request: ExtractionRequest) -> ModelReply:
            return repaired

    pipeline = Services(aws.settings).extraction_pipeline(model=RepairingModel())
    status = pipeline.process(envelope())
    stored = pipeline.stores.transcripts.get("acme", "t1")
    assert stored is not None and stored == status
    assert (status.model_calls, status.repair_calls) == (2, 1)
    assert status.first_reply_error == "the reply is not valid JSON"
    assert "add of a memory with blank content" in status.skipped
    assert status.held == ["add of a memory the user did not say: 'The user has a cat.'"]
    assert [m.content for m in pipeline.stores.users.load("acme", "u1").memories] == ["Prefers tea."]


def test_a_first_valid_reply_counts_one_call(aws: Aws) -> None:
    pipeline, _ = make(aws, result(op("add", "Prefers tea.", layer=Layer.POLICIES)))
    status = pipeline.process(envelope())
    assert (status.model_calls, status.repair_calls, status.first_reply_error) == (1, 0, None)


def test_a_standard_profile_value_nobody_said_is_refused_and_reported(aws: Aws) -> None:
    pipeline, _ = make(
        aws, result(fields={"company": "Stripe", "timezone": "UTC", "language": "English", "name": None})
    )
    status = pipeline.process(envelope(text="I left Shopify and now work at Stripe."))
    assert pipeline.stores.users.load("acme", "u1").profile.fields == {"company": "Stripe"}
    refused = [line for line in status.skipped if "a value nobody said" in line]
    assert sorted(line.split(":")[0] for line in refused) == [
        "profile field language",
        "profile field timezone",
    ]


def test_usage_counts_a_failure_once_on_the_last_attempt_and_the_learned_transcript(aws: Aws) -> None:
    from learning_machine.models.common import utc_now
    from learning_machine.stores.usage import UsageStore

    failures = [ModelError("timeout")] * 3
    pipeline, _ = make(aws, *failures, result(op("add", "Fourth try works.", layer=Layer.KNOWLEDGE)))
    assert pipeline.stores.max_attempts == 3  # the queue's maxReceiveCount
    usage = UsageStore(aws.settings.data_table)
    today = utc_now().date()
    for attempt in range(1, 4):
        with pytest.raises(ModelError):
            pipeline.process(envelope())
        (day,) = usage.days("acme", today, today)
        assert day.transcripts_failed == (1 if attempt == 3 else 0)  # dead-lettered after the third
    pipeline.process(envelope())  # replayed from the DLQ: learned
    (day,) = usage.days("acme", today, today)
    assert (day.transcripts_failed, day.transcripts_learned, day.model_calls) == (1, 1, 1)


def test_a_new_memory_that_repeats_a_profile_value_is_refused(aws: Aws) -> None:
    summary = "The user joined Stripe and asked for short answers."
    pipeline, _ = make(
        aws,
        result(
            op("add", "Stripe", layer=Layer.KNOWLEDGE),
            op("add", "The user joined Stripe and asked for short answers", layer=Layer.PROFILE),
            op("add", "The user wants short answers.", layer=Layer.POLICIES),
            fields={"company": "Stripe"},
            summary=summary,
        ),
    )
    status = pipeline.process(envelope(text="I joined Stripe. Keep answers short, please."))
    memories = pipeline.stores.users.load("acme", "u1").memories
    # The memory worded as the summary is kept: when the session is about the user, it is a fact.
    assert sorted(m.content for m in memories) == [
        "The user joined Stripe and asked for short answers",
        "The user wants short answers.",
    ]
    assert status.skipped == ["add of a memory that repeats profile field company"]


def test_a_memory_shaped_as_a_profile_field_is_refused(aws: Aws) -> None:
    pipeline, _ = make(
        aws,
        result(
            op("add", "timezone: Redacted", layer=Layer.PROFILE),
            op("add", "name:null,role:null", layer=Layer.PROFILE),
            op("add", "Note: the user owns two cats.", layer=Layer.PROFILE),
        ),
    )
    status = pipeline.process(envelope(text="I have two cats."))
    memories = pipeline.stores.users.load("acme", "u1").memories
    assert [m.content for m in memories] == ["Note: the user owns two cats."]
    assert status.skipped == [
        "add of a memory that repeats profile field timezone",
        "add of a memory that repeats profile field name",
    ]


def test_a_wish_about_answers_filed_under_profile_or_knowledge_is_learned_as_a_policy(aws: Aws) -> None:
    pipeline, _ = make(
        aws,
        result(
            op("add", "no emojis in your answers please.", layer=Layer.PROFILE),
            op("add", "The user prefers concise replies.", layer=Layer.KNOWLEDGE),
            op("add", "The user answers support tickets in Spanish.", layer=Layer.PROFILE),
            op(
                "add",
                "The user found the long explanation unhelpful.",
                layer=Layer.FEEDBACK,
                polarity="negative",
            ),
        ),
    )

    pipeline.process(envelope(text="No emojis in your answers please, keep replies concise."))

    layers = {m.content: m.layer for m in pipeline.stores.users.load("acme", "u1").memories}
    assert layers == {
        "no emojis in your answers please.": Layer.POLICIES,
        "The user prefers concise replies.": Layer.POLICIES,
        "The user answers support tickets in Spanish.": Layer.PROFILE,  # answers, but not the assistant's
        "The user found the long explanation unhelpful.": Layer.FEEDBACK,  # feedback keeps its layer
    }


def test_a_wish_about_answers_stays_where_the_model_put_it_when_policies_are_off(aws: Aws) -> None:
    pipeline, _ = make(aws, result(op("add", "no emojis in your answers please.", layer=Layer.PROFILE)))
    off = {"stores": {"user_profile": {"layers": {"policies": {"enabled": False}}}}}
    pipeline.stores.config.put("acme", TenantConfig.model_validate(off))

    pipeline.process(envelope(text="No emojis in your answers please."))

    (memory,) = pipeline.stores.users.load("acme", "u1").memories
    assert memory.layer == Layer.PROFILE
