"""The openai SDK adapter against a fake OpenAI-compatible server on 127.0.0.1.

Retries and timeouts are the SDK's own; these tests check that the adapter configures them,
falls back between structured-output modes, and turns every failure into the right error.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openai
import pytest

from learning_machine.adapters import openai_endpoint
from learning_machine.adapters.llm import factory
from learning_machine.adapters.llm.base import ModelError, ModelOutputError
from learning_machine.adapters.llm.openai_model import OpenAIExtractionModel
from learning_machine.adapters.openai_endpoint import build_openai_client
from learning_machine.extraction_contract.prompt import TOOL_NAME, build_messages
from learning_machine.models.common import Layer, Role
from learning_machine.models.extraction import (
    EntityOperation,
    ExtractionReply,
    ExtractionRequest,
    ExtractionResult,
    KnowledgeOperation,
    MemoryOperation,
    NumberedMessage,
    ProfileFieldUpdate,
    SessionUpdate,
)
from learning_machine.models.transcripts import TokenUsage
from learning_machine.settings import Settings
from tests.fakes.openai_server import Delay, FakeOpenAIServer, HttpError, Malformed, Reply

RESULT = ExtractionResult(
    memory_operations=[
        MemoryOperation(
            op="add",
            memory_id=None,
            layer=Layer.POLICIES,
            category=None,
            content="The user wants answers in French.",
            polarity=None,
            turn_index=0,
        )
    ],
    profile_updates=[ProfileFieldUpdate(field="name", value="Ann", turn_index=None)],
    session=SessionUpdate(summary="Ann asked for answers in French.", goal=None, plan=[], progress=[]),
    entity_operations=[
        EntityOperation(
            op="add_fact",
            entity="Falcon",
            entity_type=None,  # an add_fact carries only its fact: types and aliases come with upsert
            aliases=[],
            description=None,
            content="Falcon runs on Postgres 16.",
            fact_id=None,
            date_text=None,
            relation=None,
            target=None,
            turn_index=0,
        )
    ],
    knowledge_operations=[
        KnowledgeOperation(
            title="French answers",
            content="Ask once which language a user wants.",
            context=None,
            tags=["language"],
            turn_index=0,
        )
    ],
)
# RESULT as a model writes it: one object per operation.
WIRE_RESULT = ExtractionReply.from_result(RESULT).model_dump_json()
FAST_RETRY = {"retry-after-ms": "10"}  # keeps the SDK's backoff short in tests
UNSUPPORTED = {
    "error": {"message": "response_format json_schema not supported", "type": "invalid_request_error"}
}


def make_request() -> ExtractionRequest:
    return ExtractionRequest(
        transcript_id="t1",
        occurred_at=datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
        messages=[
            # Every scripted operation is grounded in what the user says (grounding.py).
            NumberedMessage(
                role=Role.USER,
                content="I'm Ann; please answer in French. Falcon runs on Postgres 16.",
                turn_index=0,
            )
        ],
        profile_fields={},
        profile_schema={"name": "Full name of the user"},
        memories=[],
        memories_total=0,
        previous_session=None,
        learn_profile=True,
        layers=list(Layer),
        learn_session=True,
        planning=False,
    )


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(lambda body: RESULT) as fake:
        yield fake


def model_for(
    server: FakeOpenAIServer, mode: str = "auto", *, timeout: float = 10.0, max_retries: int = 2
) -> OpenAIExtractionModel:
    client = build_openai_client(server.base_url, "test-key", timeout=timeout, max_retries=max_retries)
    return OpenAIExtractionModel(client, "gpt-test", mode)


def mode_of(body: dict[str, Any]) -> str:
    if body.get("tools"):
        return "tools"
    return str(body.get("response_format", {}).get("type", "text"))


# --- the primary path -----------------------------------------------------------------------


def test_json_schema_request_is_strict(server: FakeOpenAIServer) -> None:
    model = model_for(server)
    request = make_request()
    reply = model.extract(request)

    assert reply.result == RESULT
    assert reply.model == "gpt-test"
    (body,) = server.requests
    assert body["model"] == "gpt-test"
    assert body["messages"] == build_messages(request)
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {
        "memory_operations",
        "profile",
        "session",
        "entity_operations",
        "knowledge_operations",
    }
    # One object per operation, each with exactly its own fields, all required.
    # No memory is shown: the only memory operation the schema admits is an add.
    assert schema["properties"]["memory_operations"]["items"] == {"$ref": "#/$defs/AddMemory"}
    for name in ("AddMemory", "AddFact", "Insight"):
        operation = schema["$defs"][name]
        assert operation["additionalProperties"] is False
        assert set(operation["required"]) == set(operation["properties"])
    assert body["max_completion_tokens"] == 2048
    assert model.structured_mode == "json_schema"


def test_model_protocol_properties(server: FakeOpenAIServer) -> None:
    model = model_for(server)
    assert model.name == "gpt-test"
    assert model.offline is False
    with pytest.raises(ValueError):
        OpenAIExtractionModel(build_openai_client(server.base_url, "k", 1.0, 0), "m", "xml")


# --- retries (the SDK's) and failures that survive them -------------------------------------


def test_rate_limit_with_retry_after_then_success(server: FakeOpenAIServer) -> None:
    server.enqueue(HttpError(429, headers={"Retry-After": "0"}))
    reply = model_for(server).extract(make_request())
    assert reply.result == RESULT
    assert len(server.requests) == 2


def test_server_errors_are_retried_within_max_retries(server: FakeOpenAIServer) -> None:
    server.enqueue(HttpError(500, headers=FAST_RETRY), HttpError(500, headers=FAST_RETRY))
    reply = model_for(server, max_retries=2).extract(make_request())
    assert reply.result == RESULT
    assert [mode_of(body) for body in server.requests] == ["json_schema"] * 3


@pytest.mark.parametrize(
    ("status", "mode", "sdk_error"),
    [(500, "json_schema", openai.InternalServerError), (429, "auto", openai.RateLimitError)],
)
def test_errors_beyond_max_retries_raise_model_error(
    server: FakeOpenAIServer, status: int, mode: str, sdk_error: type[Exception]
) -> None:
    server.enqueue(*[HttpError(status, headers=FAST_RETRY)] * 5)
    with pytest.raises(ModelError) as caught:
        model_for(server, mode, max_retries=1).extract(make_request())
    assert not isinstance(caught.value, ModelOutputError)
    assert isinstance(caught.value.__cause__, sdk_error)
    assert str(status) in str(caught.value)
    assert len(server.requests) == 2  # one call and max_retries=1 retry, no more


def test_timeout_raises_model_error(server: FakeOpenAIServer) -> None:
    server.enqueue(Delay(10), Delay(10))
    with pytest.raises(ModelError) as caught:
        model_for(server, timeout=0.3, max_retries=1).extract(make_request())
    assert isinstance(caught.value.__cause__, openai.APITimeoutError)
    assert len(server.requests) == 2


def test_unreachable_endpoint_raises_model_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = build_openai_client(f"http://127.0.0.1:{port}/v1", "k", timeout=0.5, max_retries=0)
    with pytest.raises(ModelError) as caught:
        OpenAIExtractionModel(client, "gpt-test").extract(make_request())
    assert isinstance(caught.value.__cause__, openai.APIConnectionError)


# --- replies that are not valid operations --------------------------------------------------

INVALID_OPERATION = json.dumps(
    {
        "memory_operations": [
            {
                "op": "add",
                "memory_id": None,
                "layer": None,
                "category": None,
                "content": "PRIVATE-DETAIL of the user",
                "polarity": None,
                "turn_index": 0,
            }
        ],
        "profile": {},
        "session": None,
    }
)


BAD_REPLIES = [
    (Malformed(), "not valid JSON"),
    (Reply(content=INVALID_OPERATION), "does not match the schema"),
    (Reply(content=INVALID_OPERATION, tool_arguments=INVALID_OPERATION), "does not match the schema"),
    (Reply(content=""), "empty"),
    (Reply(refusal="I can't help with that."), "refused"),
    (Reply(content=WIRE_RESULT, finish_reason="length"), "cut off"),
]


@pytest.mark.parametrize("mode", ["auto", "tools", "json_object"])
@pytest.mark.parametrize(("behaviour", "reason"), BAD_REPLIES)
def test_an_invalid_reply_gets_one_repair_call(
    server: FakeOpenAIServer, mode: str, behaviour: Any, reason: str
) -> None:
    server.enqueue(behaviour)  # then the default responder answers RESULT
    reply = model_for(server, mode).extract(make_request())
    assert reply.result == RESULT
    assert reply.calls == 2
    assert reply.first_reply_error is not None and reason in reply.first_reply_error
    assert "PRIVATE-DETAIL" not in reply.first_reply_error
    first, repair = server.requests
    assert repair["messages"][: len(first["messages"])] == first["messages"]
    assert reason in repair["messages"][-1]["content"] or "cut off" in repair["messages"][-1]["content"]
    assert repair["max_completion_tokens"] == first["max_completion_tokens"]


@pytest.mark.parametrize(("behaviour", "reason"), BAD_REPLIES)
def test_a_second_invalid_reply_raises_model_output_error(
    server: FakeOpenAIServer, behaviour: Any, reason: str
) -> None:
    server.enqueue(behaviour, behaviour)
    with pytest.raises(ModelOutputError) as caught:
        model_for(server, "json_schema").extract(make_request())
    message = str(caught.value)
    assert "after one repair call" in message and reason in message
    assert "PRIVATE-DETAIL" not in message and len(message) <= 240
    assert len(server.requests) == 2  # one call and one repair, never more


def test_a_complete_invalid_reply_is_shown_back_in_the_repair_call(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content=INVALID_OPERATION))
    model_for(server, "json_schema").extract(make_request())
    repair = server.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": INVALID_OPERATION}
    assert repair[-1]["role"] == "user" and "does not match the schema" in repair[-1]["content"]


def test_a_cut_off_reply_is_not_echoed_and_asks_for_less(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content='{"memory_operations": [', finish_reason="length"))
    model_for(server, "json_schema").extract(make_request())
    first, repair = server.requests
    assert len(repair["messages"]) == len(first["messages"]) + 1
    assert "cut off" in repair["messages"][-1]["content"]


def test_the_repair_of_a_cut_off_reply_is_held_to_fewer_operations(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content='{"memory_operations": [', finish_reason="length"))
    model_for(server, "json_schema").extract(make_request())
    first, repair = (request["response_format"]["json_schema"]["schema"] for request in server.requests)

    user_messages = sum(message.role == Role.USER for message in make_request().messages)
    assert repair["properties"]["memory_operations"]["maxItems"] == user_messages
    assert repair["properties"]["entity_operations"]["maxItems"] <= user_messages
    assert repair["properties"]["knowledge_operations"]["maxItems"] <= 1
    assert "maxItems" not in first["properties"]["memory_operations"] or (
        first["properties"]["memory_operations"]["maxItems"] > user_messages
    )


def test_a_body_that_is_not_a_chat_completion_is_not_repaired(server: FakeOpenAIServer) -> None:
    server.enqueue(Malformed(where="body"))
    with pytest.raises(ModelOutputError) as caught:
        model_for(server, "json_schema").extract(make_request())
    assert "not a chat completion" in str(caught.value)
    assert len(server.requests) == 1


def test_the_completion_cap_is_configurable(server: FakeOpenAIServer) -> None:
    client = build_openai_client(server.base_url, "k", timeout=1.0, max_retries=0)
    OpenAIExtractionModel(client, "m", "tools", max_completion_tokens=300).extract(make_request())
    assert server.requests[0]["max_completion_tokens"] == 300


def test_extra_body_fields_go_with_every_request_in_every_mode(server: FakeOpenAIServer) -> None:
    client = build_openai_client(server.base_url, "k", timeout=1.0, max_retries=0)
    for mode in ("json_schema", "tools", "json_object"):
        model = OpenAIExtractionModel(client, "m", mode, extra_body={"cache_prompt": False})
        model.extract(make_request())
        assert server.requests[-1]["cache_prompt"] is False, mode
    OpenAIExtractionModel(client, "m", "tools").extract(make_request())
    assert "cache_prompt" not in server.requests[-1]  # nothing of the kind unless configured


def test_extra_body_is_a_json_object_in_the_settings() -> None:
    assert Settings.from_env({"LM_LLM_EXTRA_BODY": '{"cache_prompt": false}'}).llm_extra_body == {
        "cache_prompt": False
    }
    assert Settings.from_env({"LM_LLM_EXTRA_BODY": ""}).llm_extra_body is None
    for invalid in ("{not json", "[1, 2]"):
        with pytest.raises(ValueError) as caught:
            Settings.from_env({"LM_LLM_EXTRA_BODY": invalid})
        assert "llm_extra_body" in str(caught.value)


def test_bounded_strings_reach_the_request_schema(server: FakeOpenAIServer) -> None:
    client = build_openai_client(server.base_url, "k", timeout=1.0, max_retries=0)
    request = rule_request("hello")  # shows one memory, so update, delete and noop are possible
    OpenAIExtractionModel(client, "m", "json_schema").extract(request)
    OpenAIExtractionModel(client, "m", "json_schema", bounded_strings=True).extract(request)
    plain, bounded = (json.dumps(r["response_format"]["json_schema"]["schema"]) for r in server.requests)
    assert "maxLength" not in plain and "maxLength" in bounded
    assert "KeepMemory" in plain and "KeepMemory" not in bounded
    plain_messages, bounded_messages = (r["messages"] for r in server.requests)
    assert plain_messages == bounded_messages  # the grammar alone leaves noop out


def test_output_error_in_auto_mode_still_settles_the_mode(server: FakeOpenAIServer) -> None:
    model = model_for(server)
    server.enqueue(Malformed(), Malformed())
    with pytest.raises(ModelOutputError):
        model.extract(make_request())
    assert model.structured_mode == "json_schema"


def test_code_fenced_json_object_reply_is_accepted(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content=f"```json\n{WIRE_RESULT}\n```"))
    assert model_for(server, "json_object").extract(make_request()).result == RESULT


# --- structured-output modes ----------------------------------------------------------------


def test_auto_falls_back_to_tools_and_remembers(server: FakeOpenAIServer) -> None:
    model = model_for(server)
    server.enqueue(HttpError(400, body=UNSUPPORTED))

    assert model.extract(make_request()).result == RESULT
    assert model.structured_mode == "tools"
    first, second = server.requests
    assert mode_of(first) == "json_schema"
    assert second["tool_choice"] == {"type": "function", "function": {"name": TOOL_NAME}}
    (tool,) = second["tools"]
    assert tool["function"]["name"] == TOOL_NAME
    assert tool["function"]["strict"] is True
    assert tool["function"]["parameters"]["additionalProperties"] is False
    assert "response_format" not in second

    assert model.extract(make_request()).result == RESULT
    assert [mode_of(body) for body in server.requests] == ["json_schema", "tools", "tools"]


def test_auto_falls_back_to_json_object_like_llama_cpp() -> None:
    # llama.cpp's server answers 500 to json_schema (the SDK retries it first); here tools fail too.
    with FakeOpenAIServer(lambda body: RESULT, reject_json_schema=500) as server:
        model = model_for(server, max_retries=1)
        server.enqueue(HttpError(400, body=UNSUPPORTED))
        assert model.extract(make_request()).result == RESULT
        assert model.structured_mode == "json_object"
        assert [mode_of(body) for body in server.requests] == [
            "json_schema",
            "json_schema",
            "tools",
            "json_object",
        ]
        system = server.requests[-1]["messages"][0]["content"]
        assert system.startswith(build_messages(make_request())[0]["content"])
        assert "JSON Schema" in system and '"memory_operations"' in system

        assert model.extract(make_request()).result == RESULT
        assert mode_of(server.requests[-1]) == "json_object"
        assert len(server.requests) == 5


def test_auto_gives_up_when_every_mode_is_rejected(server: FakeOpenAIServer) -> None:
    server.enqueue(*[HttpError(400, body=UNSUPPORTED)] * 3)
    model = model_for(server)
    with pytest.raises(ModelError) as caught:
        model.extract(make_request())
    assert isinstance(caught.value.__cause__, openai.BadRequestError)
    assert [mode_of(body) for body in server.requests] == ["json_schema", "tools", "json_object"]
    assert model.structured_mode == "auto"


@pytest.mark.parametrize("mode", ["json_schema", "tools", "json_object"])
def test_explicit_mode_uses_only_that_mode(server: FakeOpenAIServer, mode: str) -> None:
    model = model_for(server, mode)
    assert model.extract(make_request()).result == RESULT
    server.enqueue(HttpError(400, body=UNSUPPORTED))
    with pytest.raises(ModelError):
        model.extract(make_request())
    assert [mode_of(body) for body in server.requests] == [mode, mode]


# --- usage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "reply"),
    [
        ("json_schema", Reply(content=WIRE_RESULT, usage=(1234, 56))),
        ("tools", Reply(tool_arguments=WIRE_RESULT, usage=(1234, 56))),
        ("json_object", Reply(content=WIRE_RESULT, usage=(1234, 56))),
    ],
)
def test_usage_is_read_from_the_reply(server: FakeOpenAIServer, mode: str, reply: Reply) -> None:
    server.enqueue(reply)
    assert model_for(server, mode).extract(make_request()).usage == TokenUsage(
        prompt_tokens=1234, completion_tokens=56
    )


def test_usage_is_estimated_when_the_server_omits_it(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content=WIRE_RESULT, include_usage=False))
    usage = model_for(server).extract(make_request()).usage
    assert usage.prompt_tokens > 100 and usage.completion_tokens > 10


# --- factory ----------------------------------------------------------------------------------


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def settings(**values: Any) -> Settings:
    defaults: dict[str, Any] = {"llm_api_key": None, "llm_api_key_secret": None, "llm_base_url": None}
    return Settings(**{**defaults, **values})


@pytest.mark.usefixtures("no_env_key")
def test_factory_builds_the_openai_adapter_for_a_local_server(server: FakeOpenAIServer) -> None:
    model = factory.build_model(
        settings(
            llm_base_url=server.base_url, llm_model="local-model", llm_timeout_seconds=2, llm_max_retries=0
        )
    )
    assert isinstance(model, OpenAIExtractionModel)
    assert (model.name, model.offline) == ("local-model", False)
    assert model.extract(make_request()).result == RESULT  # no key needed: a placeholder is sent


@pytest.mark.usefixtures("no_env_key")
def test_api_key_sources_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters

    fetched: list[str] = []

    def get_secret(name: str, **options: Any) -> str:
        fetched.append(name)
        return '{"api_key": "sk-from-secret"}' if name == "json-secret" else "  sk-plain-secret\n"

    monkeypatch.setattr(parameters, "get_secret", get_secret)
    assert openai_endpoint.resolve_api_key(settings()) is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    assert openai_endpoint.resolve_api_key(settings()) == "sk-from-env"
    assert openai_endpoint.resolve_api_key(settings(llm_api_key_secret="plain-secret")) == "sk-plain-secret"
    assert openai_endpoint.resolve_api_key(settings(llm_api_key_secret="json-secret")) == "sk-from-secret"
    assert (
        openai_endpoint.resolve_api_key(settings(llm_api_key="sk-direct", llm_api_key_secret="x"))
        == "sk-direct"
    )
    assert fetched == ["plain-secret", "json-secret"]


@pytest.mark.usefixtures("no_env_key")
def test_describe_model() -> None:
    assert factory.describe_model(settings()) == factory.OFFLINE_DESCRIPTION
    assert factory.describe_model(settings(llm_api_key="sk-1")) == "gpt-4o-mini at https://api.openai.com/v1"
    local = settings(llm_base_url="http://user:secret@127.0.0.1:8080/v1", llm_model="qwen")
    assert factory.describe_model(local) == "qwen at http://127.0.0.1:8080/v1"


def test_importing_the_factory_does_not_import_openai() -> None:
    code = "import sys, learning_machine.adapters.llm.factory; print('openai' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


# --- the fake server's rule-based responder (integration tests rely on its rules) -------------


def rule_request(*texts: str, **overrides: Any) -> ExtractionRequest:
    from learning_machine.models.memories import Memory
    from learning_machine.models.provenance import Provenance

    atlas = Memory(
        memory_id="mem-atlas",  # shown to the model as m1; the adapter maps its reply back
        user_id="u1",
        layer=Layer.KNOWLEDGE,
        content="The user works on Atlas in Python.",
        provenance=Provenance(source="api"),
    )
    values: dict[str, Any] = {
        "messages": [
            NumberedMessage(role=Role.USER, content=text, turn_index=i) for i, text in enumerate(texts)
        ],
        "memories": [atlas],
        "memories_total": 1,
        "layers": [Layer.POLICIES, Layer.KNOWLEDGE, Layer.FEEDBACK],
    }
    return make_request().model_copy(update={**values, **overrides})


@pytest.fixture
def rule_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def test_rule_responder_memory_and_profile_rules(rule_server: FakeOpenAIServer) -> None:
    request = rule_request(
        "remember policies: Answer in French.",
        "remember profile: Not an enabled layer.",
        "remember feedback (negative): The tables were too long.",
        "remember knowledge: the user works on Atlas in PYTHON",
        "replace: Python => Rust",
        "set name: Ann",
        "set shoe_size: 42",
        "just chatting",
    )
    result = model_for(rule_server).extract(request).result
    assert [
        (o.op, o.memory_id, o.layer, o.content, o.polarity, o.turn_index) for o in result.memory_operations
    ] == [
        ("add", None, Layer.POLICIES, "Answer in French.", None, 0),
        ("add", None, Layer.FEEDBACK, "The tables were too long.", "negative", 2),
        ("noop", "mem-atlas", None, None, None, 3),
        ("update", "mem-atlas", None, "The user works on Atlas in Rust.", None, 4),
    ]
    assert [(u.field, u.value) for u in result.profile_updates] == [("name", "Ann")]

    forget = model_for(rule_server).extract(rule_request("forget: ATLAS")).result
    assert [(o.op, o.memory_id) for o in forget.memory_operations] == [("delete", "mem-atlas")]


def test_rule_responder_session_rules(rule_server: FakeOpenAIServer) -> None:
    from learning_machine.models.sessions import SessionContext

    previous = SessionContext(session_id="s1", user_id="u1", summary="Talked about Atlas.", plan=["old"])
    texts = ("goal: ship v2", "plan: write; test", "done: write")
    planned = model_for(rule_server).extract(rule_request(*texts, previous_session=previous, planning=True))
    assert planned.result.session == SessionUpdate(
        summary="Talked about Atlas. User: goal: ship v2; plan: write; test; done: write",
        goal="ship v2",
        plan=["write", "test"],
        progress=["write"],
    )
    plain = model_for(rule_server).extract(rule_request("hello", previous_session=previous)).result.session
    assert plain == SessionUpdate(summary="Talked about Atlas. User: hello", goal=None, plan=[], progress=[])
    off = model_for(rule_server).extract(rule_request("hello", learn_session=False)).result
    assert off.session is None


@pytest.mark.parametrize(
    ("marker", "error", "status"),
    [
        ("[[fail:500]]", ModelError, 500),
        ("[[fail:429]]", ModelError, 429),
        ("[[fail:malformed]]", ModelOutputError, 200),
    ],
)
def test_rule_responder_fault_markers(
    rule_server: FakeOpenAIServer, marker: str, error: type[Exception], status: int
) -> None:
    model = model_for(rule_server, "json_schema", max_retries=1)
    with pytest.raises(error):
        model.extract(rule_request("remember policies: Be brief.", f"assistant text {marker}"))
    # The marker fails every retry; a malformed reply gets its one repair call, malformed again.
    assert len(rule_server.requests) == 2


def test_fake_server_runs_as_a_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("fake-openai listening on http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[1].strip()
        client = build_openai_client(base_url, None, timeout=2, max_retries=0)
        reply = OpenAIExtractionModel(client, "gpt-test").extract(
            rule_request("remember policies: Be brief.")
        )
        assert [o.content for o in reply.result.memory_operations] == ["Be brief."]
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def test_what_the_user_did_not_say_is_held_back_and_reported(server: FakeOpenAIServer) -> None:
    invented = MemoryOperation(
        op="add",
        memory_id=None,
        layer=Layer.PROFILE,
        category=None,
        content="The user lives in Lisbon with two dogs.",
        polarity=None,
        turn_index=0,
    )
    server.enqueue(RESULT.model_copy(update={"memory_operations": [*RESULT.memory_operations, invented]}))
    reply = model_for(server).extract(make_request())
    assert reply.result == RESULT  # what the user said is applied
    assert reply.held == ["add of a memory the user did not say: 'The user lives in Lisbon with two dogs.'"]
    assert reply.calls == 1
