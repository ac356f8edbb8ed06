"""The Python client: typed calls through the real handlers, every error path, retries, async,
and custom profile schemas from a pydantic model and from a dataclass."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BaseModel, Field

from learning_machine.client import (
    AsyncLearningMachineClient,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    LearningMachineClient,
    LearningMachineError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    profile_schema,
    routes,
)
from learning_machine.client._http import RetryPolicy, retry_after
from learning_machine.models.api.entities import Entity, EntityView
from learning_machine.models.api.memories import Memory
from learning_machine.models.api.transcripts import TranscriptStatus
from learning_machine.models.context import ContextResponse
from tests.support.transport import handler_transport

BASE = "https://lm.test"


@pytest.fixture
def lm(aws: Any) -> Iterator[LearningMachineClient]:
    with LearningMachineClient(BASE, "key", transport=handler_transport("acme"), max_retries=0) as client:
        yield client


Answer = httpx.Response | Exception


def scripted(*answers: Answer) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport that gives these answers in order, and the requests it received."""
    queue, seen = list(answers), []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), seen


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits of both clients, recorded instead of slept."""
    waited: list[float] = []

    async def asleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr("learning_machine.client.sync.sleep", waited.append)
    monkeypatch.setattr("learning_machine.client.aio.sleep", asleep)
    return waited


def route_functions() -> dict[str, Callable[..., Any]]:
    return {
        name: f
        for name, f in vars(routes).items()
        if inspect.isfunction(f) and f.__module__ == routes.__name__ and not name.startswith("_")
    }


# -- the surface --------------------------------------------------------------------------------
def test_both_clients_have_a_method_for_every_route_with_its_signature() -> None:
    functions = route_functions()
    assert len(functions) >= 39
    for name, route in functions.items():
        expected = list(inspect.signature(route).parameters)
        for client in (LearningMachineClient, AsyncLearningMachineClient):
            method = getattr(client, name)
            assert list(inspect.signature(method).parameters) == ["self", *expected], (client, name)
            assert method.__doc__ == route.__doc__
        assert inspect.iscoroutinefunction(AsyncLearningMachineClient.__dict__[name])


def test_base_url_and_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LM_API_URL", "https://from-env.test/live/")
    monkeypatch.setenv("LM_API_KEY", "env-key")
    transport, seen = scripted(httpx.Response(200, json={"tools": []}))
    assert LearningMachineClient(transport=transport).list_tools().tools == []
    assert str(seen[0].url) == "https://from-env.test/live/v1/tools"
    assert seen[0].headers["Authorization"] == "Bearer env-key"
    monkeypatch.delenv("LM_API_KEY")
    with pytest.raises(ValueError, match="LM_API_KEY"):
        LearningMachineClient()


# -- typed calls through the real handlers ----------------------------------------------------
def test_the_handler_transport_answers_like_api_gateway(aws: Any) -> None:
    with httpx.Client(base_url=BASE, transport=handler_transport("acme")) as http:
        assert http.get("/v1/tools").status_code == 401
        reply = http.get("/v1/tools", headers={"Authorization": "Bearer key"})
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/json"
    assert "tools" in reply.json()


def test_memories_profile_context_and_history(lm: LearningMachineClient) -> None:
    memory = lm.create_memory("ada", "policies", "Prefers concise answers.", category="style")
    assert isinstance(memory, Memory) and memory.layer == "policies"
    updated = lm.update_memory("ada", memory.memory_id, content="Prefers very concise answers.")
    assert updated.version == 2
    history = lm.memory_history("ada", memory.memory_id).versions
    assert [(v.version, v.change) for v in history] == [(1, "created"), (2, "updated")]
    assert history[0].content == "Prefers concise answers." and history[0].valid_to == history[1].valid_from
    profile = lm.update_profile("ada", {"name": "Ada Lovelace", "role": "engineer"})
    assert profile.fields == {"name": "Ada Lovelace", "role": "engineer"}
    assert lm.get_profile("ada").fields["name"] == "Ada Lovelace"

    context = lm.get_context("ada", query="answers", max_tokens=500)
    assert isinstance(context, ContextResponse)
    assert "<user_policies>" in context.xml and "very concise" in context.xml
    assert lm.search("concise answers", user_id="ada").results[0].id == memory.memory_id
    assert lm.list_users().users == ["ada"]
    assert lm.export_user("ada").profile.fields["role"] == "engineer"

    lm.delete_memory("ada", memory.memory_id)
    assert lm.list_memories("ada").memories == []
    lm.forget_user("ada")
    with pytest.raises(NotFoundError):
        lm.get_profile("ada")


def test_transcripts_are_queued_and_their_status_read(lm: LearningMachineClient) -> None:
    accepted = lm.post_transcript("ada", "s1", [{"role": "user", "content": "Hi, I am Ada."}])
    assert accepted.status == "queued" and accepted.transcript_id.startswith("tr_")
    status = lm.get_transcript(accepted.transcript_id)
    assert isinstance(status, TranscriptStatus)
    assert (status.user_id, status.session_id, status.status) == ("ada", "s1", "queued")
    again = lm.post_transcript(
        "ada", "s1", [{"role": "user", "content": "Hi, I am Ada."}], transcript_id=accepted.transcript_id
    )
    assert again.duplicate is True


def test_entities_by_name_with_spaces_facts_events_and_relationships(lm: LearningMachineClient) -> None:
    acme = lm.upsert_entity("Acme Corp", entity_type="company", aliases=["Acme"], namespace="global")
    assert isinstance(acme, Entity)
    with_fact = lm.add_facts("Acme Corp", ["Uses Go."], namespace="global")
    fact_id = with_fact.facts[0].fact_id
    lm.add_facts("Acme", ["Uses Rust."], supersedes=[fact_id], namespace="global")
    lm.add_events(
        "acme corp", [{"content": "Signed the contract.", "date_text": "2024-03-01"}], namespace="global"
    )
    edges = lm.add_relationships("Acme Corp", [{"relation": "employs", "target": "Ada"}], namespace="global")
    assert [(e.source_name, e.relation, e.target_name) for e in edges] == [("Acme Corp", "employs", "Ada")]

    view = lm.get_entity("Acme Corp", namespace="global")
    assert isinstance(view, EntityView)
    assert [f.content for f in view.entity.current_facts()] == ["Uses Rust."]
    assert view.entity.events[0].content == "Signed the contract."
    assert len(view.relationships) == 1
    assert "Acme Corp" in [e.name for e in lm.search_entities("Acme", namespace="global").entities]
    current = view.entity.current_facts()[0].fact_id
    assert lm.forget_fact("Acme Corp", current, namespace="global").current_facts() == []
    lm.delete_entity("Acme Corp", namespace="global")
    assert "Acme Corp" not in [e.name for e in lm.list_entities(namespace="global").entities]


def test_knowledge_proposals_tools_sessions_and_curation(lm: LearningMachineClient) -> None:
    saved = lm.save_knowledge("Retries", "Retry 429s with backoff.", tags=["http"])
    assert saved.deduplicated is False
    imported = lm.import_knowledge([{"item_id": "kb-1", "title": "Timeouts", "content": "Keep them short."}])
    assert imported.imported == 1
    assert {i.title for i in lm.list_knowledge().insights} == {"Retries", "Timeouts"}

    proposal = lm.propose_knowledge("Pagination", "Use cursors, not offsets.")
    assert [p.insight_id for p in lm.list_proposals().insights] == [proposal.insight_id]
    assert lm.approve_proposal(proposal.insight_id, reviewer="lead").status == "active"
    rejected = lm.propose_knowledge("Tabs", "Indent with tabs.")
    assert lm.reject_proposal(rejected.insight_id, "style guide says spaces").status == "rejected"

    names = [t["function"]["name"] for t in lm.list_tools().tools]
    assert "remember_entity" in names
    result = lm.call_tool(
        "remember_entity", '{"name": "Initech", "facts": ["Makes TPS reports."]}', user_id="ada"
    )
    assert result.ok and result.result["entity"]["name"] == "Initech"
    assert lm.get_entity("Initech", namespace="user", user_id="ada").entity.facts[0].content == (
        "Makes TPS reports."
    )

    with pytest.raises(NotFoundError):
        lm.get_session_context("no-such-session")
    job = lm.start_curation(user_id="ada", dry_run=True)
    assert job.dry_run is True
    assert lm.get_curation(job.job_id).job.job_id == job.job_id
    assert "/v1/tools" in lm.openapi()["paths"]


# -- error paths ------------------------------------------------------------------------------
def test_invalid_request_names_the_fields_at_fault(lm: LearningMachineClient) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        lm.post_transcript("ada", "s1", [{"role": "robot", "content": "beep"}])
    error = caught.value
    assert error.status == 422
    assert error.fields == ["body.messages.0.role"]
    assert error.field_errors[0]["loc"] == ["body", "messages", 0, "role"]
    assert error.field_errors[0]["type"] == "enum"
    assert "body.messages.0.role" in error.message


def test_not_found_and_conflict(lm: LearningMachineClient) -> None:
    with pytest.raises(NotFoundError) as missing:
        lm.update_memory("ada", "m-none", content="x")
    assert missing.value.status == 404 and missing.value.field_errors[0]["loc"] == ["path", "memory_id"]

    proposal = lm.propose_knowledge("Pagination", "Use cursors.")
    lm.approve_proposal(proposal.insight_id)
    with pytest.raises(ConflictError) as conflict:
        lm.reject_proposal(proposal.insight_id, "too late")
    assert conflict.value.status == 409 and conflict.value.fields == ["path.insight_id"]

    job = lm.start_curation(user_id="ada", dry_run=True)
    with pytest.raises(ConflictError):
        lm.undo_curation(job.job_id)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (413, InvalidRequestError),
        (418, LearningMachineError),
        (500, ServerError),
    ],
)
def test_each_status_has_its_exception(status: int, kind: type[LearningMachineError]) -> None:
    transport, _ = scripted(httpx.Response(status, json={"message": "nope", "detail": []}))
    client = LearningMachineClient(BASE, "key", transport=transport, max_retries=0)
    with pytest.raises(kind) as caught:
        client.list_tools()
    assert type(caught.value) is kind and caught.value.status == status and caught.value.message == "nope"


def test_a_body_that_is_not_json_becomes_the_message() -> None:
    transport, _ = scripted(httpx.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(ServerError, match="Bad Gateway") as caught:
        LearningMachineClient(BASE, "key", transport=transport, max_retries=0).list_tools()
    assert caught.value.field_errors == []


# -- retries ----------------------------------------------------------------------------------
def tools_ok() -> httpx.Response:
    return httpx.Response(200, json={"tools": []})


def test_429_waits_as_long_as_retry_after_says(sleeps: list[float]) -> None:
    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "3"}), tools_ok())
    assert LearningMachineClient(BASE, "key", transport=transport).list_tools().tools == []
    assert len(seen) == 2 and sleeps == [3.0]


def test_503_backs_off_exponentially_then_succeeds(sleeps: list[float]) -> None:
    transport, seen = scripted(httpx.Response(503), httpx.Response(503), tools_ok())
    client = LearningMachineClient(BASE, "key", transport=transport, max_retries=2, backoff=1.0)
    assert client.list_tools().tools == []
    assert len(seen) == 3
    first, second = sleeps
    assert 0.75 <= first <= 1.0 and 1.5 <= second <= 2.0


def test_retries_stop_at_max_retries(sleeps: list[float]) -> None:
    transport, seen = scripted(*(httpx.Response(503, json={"message": "busy"}) for _ in range(4)))
    with pytest.raises(ServerError, match="busy"):
        LearningMachineClient(BASE, "key", transport=transport, max_retries=3).list_tools()
    assert len(seen) == 4 and len(sleeps) == 3

    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "0"}))
    with pytest.raises(RateLimitedError):
        LearningMachineClient(BASE, "key", transport=transport, max_retries=0).list_tools()
    assert len(seen) == 1


def test_client_errors_are_not_retried(sleeps: list[float]) -> None:
    transport, seen = scripted(httpx.Response(422, json={"message": "bad", "detail": []}))
    with pytest.raises(InvalidRequestError):
        LearningMachineClient(BASE, "key", transport=transport, max_retries=5).list_tools()
    assert len(seen) == 1 and sleeps == []


def test_network_errors_are_retried_then_raised(sleeps: list[float]) -> None:
    refused = httpx.ConnectError("connection refused")
    transport, seen = scripted(refused, tools_ok())
    assert LearningMachineClient(BASE, "key", transport=transport).list_tools().tools == []
    assert len(seen) == 2

    transport, seen = scripted(refused, refused)
    with pytest.raises(TransportError, match="refused") as caught:
        LearningMachineClient(BASE, "key", transport=transport, max_retries=1).list_tools()
    assert caught.value.status is None and len(seen) == 2


def test_a_retried_transcript_keeps_its_id(sleeps: list[float]) -> None:
    accepted = httpx.Response(202, json={"transcript_id": "x", "status": "queued"})
    transport, seen = scripted(httpx.Response(503), accepted)
    LearningMachineClient(BASE, "key", transport=transport).post_transcript(
        "ada", "s1", [{"role": "user", "content": "hi"}]
    )
    ids = {json.loads(request.content)["transcript_id"] for request in seen}
    assert len(seen) == 2 and len(ids) == 1


def test_retry_after_as_a_date_and_the_cap() -> None:
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert retry_after("soon") is None and retry_after(None) is None
    policy = RetryPolicy(max_retries=1, max_backoff=10.0)
    assert policy.delay(0, httpx.Response(429, headers={"Retry-After": "3600"})) == 10.0
    assert policy.delay(1, httpx.Response(429)) is None


# -- async ------------------------------------------------------------------------------------
def test_async_client_through_the_handlers(aws: Any) -> None:
    async def scenario() -> tuple[Memory, ContextResponse]:
        async with AsyncLearningMachineClient(BASE, "key", transport=handler_transport("acme")) as client:
            memory = await client.create_memory("ada", "profile", "Works on the billing service.")
            context = await client.get_context("ada", query="billing")
            with pytest.raises(NotFoundError):
                await client.get_profile("nobody")
            with pytest.raises(InvalidRequestError) as caught:
                await client.create_memory("ada", "diary", "Dear diary")
            assert caught.value.fields == ["body.layer"]
            return memory, context

    memory, context = asyncio.run(scenario())
    assert memory.layer == "profile"
    assert "billing service" in context.xml and context.memories["profile"][0].memory_id == memory.memory_id


def test_async_retries_honour_retry_after(sleeps: list[float]) -> None:
    transport, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(503), tools_ok()
    )

    async def scenario() -> list[dict[str, Any]]:
        async with AsyncLearningMachineClient(BASE, "key", transport=transport, backoff=0.1) as client:
            return (await client.list_tools()).tools

    assert asyncio.run(scenario()) == []
    assert len(seen) == 3 and sleeps[0] == 2.0 and 0.15 <= sleeps[1] <= 0.2  # the second retry: 0.1 * 2


# -- custom profile schema --------------------------------------------------------------------
class Tier(StrEnum):
    FREE = "free"
    PRO = "pro"


class Subscription(BaseModel):
    """Billing facts about the user."""

    plan_tier: Tier | None = Field(default=None, description="Subscription tier")
    seats: int | None = Field(default=None, ge=1, description="Seats paid for")


@dataclass
class Learner:
    favourite_language: Annotated[str | None, Field(description="Programming language they like best")] = None
    years_coding: Annotated[int | None, Field(description="Years of programming experience")] = None


def test_schema_from_a_model_keeps_types_and_descriptions() -> None:
    assert profile_schema(Subscription) == {
        "type": "object",
        "properties": {
            "plan_tier": {"type": "string", "enum": ["free", "pro"], "description": "Subscription tier"},
            "seats": {"type": "integer", "minimum": 1, "description": "Seats paid for"},
        },
    }


def test_custom_schema_from_a_pydantic_model_is_stored_and_enforced(lm: LearningMachineClient) -> None:
    stored = lm.set_profile_schema(Subscription)
    schema = lm.get_config().config.stores.user_profile.custom_schema
    assert schema == stored.config.stores.user_profile.custom_schema
    assert schema is not None and schema["properties"]["plan_tier"]["description"] == "Subscription tier"
    assert lm.update_profile("ada", {"plan_tier": "pro", "seats": 3}).fields == {
        "plan_tier": "pro",
        "seats": 3,
    }
    with pytest.raises(InvalidRequestError) as caught:
        lm.update_profile("ada", {"plan_tier": "gold"})
    assert caught.value.fields == ["body.fields.plan_tier"]


def test_custom_schema_from_a_dataclass_and_removing_it(lm: LearningMachineClient) -> None:
    before = lm.get_config()
    stored = lm.set_profile_schema(Learner)
    assert stored.version == before.version + 1
    properties = lm.get_config().config.stores.user_profile.custom_schema["properties"]  # type: ignore[index]
    assert properties == {
        "favourite_language": {"type": "string", "description": "Programming language they like best"},
        "years_coding": {"type": "integer", "description": "Years of programming experience"},
    }
    assert lm.update_profile("ada", {"years_coding": 12}).fields == {"years_coding": 12}
    assert lm.set_profile_schema(None).config.stores.user_profile.custom_schema is None


def test_a_schema_that_redefines_a_standard_field_is_refused(lm: LearningMachineClient) -> None:
    @dataclass
    class Clash:
        name: Annotated[str | None, Field(description="Shadowing the standard field")] = None

    with pytest.raises(InvalidRequestError) as caught:
        lm.set_profile_schema(Clash)
    assert caught.value.fields[0].startswith("body.stores.user_profile.custom_schema")


def test_usage_reads_back_the_tenants_days_typed(lm: LearningMachineClient) -> None:
    from datetime import timedelta

    from learning_machine.models.common import utc_now

    lm.post_transcript(user_id="ada", session_id="s1", messages=[{"role": "user", "content": "hi"}])
    today = utc_now().date()
    report = lm.get_usage(today - timedelta(days=1), today)
    assert [day.date for day in report.days] == [today - timedelta(days=1), today]
    assert report.total.transcripts_accepted == 1 and report.limits.burst >= 1
