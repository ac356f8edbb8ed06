"""The example agent loop, offline: a scripted chat-completions server plays the model, the real
handlers play the service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from openai import OpenAI

from learning_machine.client import LearningMachineClient
from learning_machine.examples.agent_loop import INSTRUCTIONS, MemoryAgent
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.support.transport import handler_transport


@pytest.fixture
def lm(aws: Any) -> Iterator[LearningMachineClient]:
    with LearningMachineClient("https://lm.test", "key", transport=handler_transport("acme")) as client:
        # Memory tools are AGENTIC only when the tenant says so.
        client.put_config({"stores": {"user_profile": {"modes": ["always", "agentic"]}}})
        yield client


@pytest.fixture
def model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def agent(lm: LearningMachineClient, model: FakeOpenAIServer) -> MemoryAgent:
    llm = OpenAI(base_url=model.base_url, api_key="test", max_retries=0)
    return MemoryAgent(lm, llm, user_id="ada", session_id="s1", model="fake-model")


def test_a_turn_uses_context_tools_and_posts_the_transcript(
    lm: LearningMachineClient, model: FakeOpenAIServer, aws: Any
) -> None:
    lm.create_memory("ada", "policies", "Prefers answers in French.")
    save = {"layer": "knowledge", "content": "Is migrating billing to Postgres."}
    model.enqueue(
        Reply(tool_name="save_memory", tool_arguments=json.dumps(save)),
        Reply(content="Noté : la migration vers Postgres."),
    )

    answer = agent(lm, model).turn("We are migrating billing to Postgres this quarter.")

    assert answer == "Noté : la migration vers Postgres."
    first, second = model.requests
    system = first["messages"][0]
    assert system["role"] == "system" and system["content"].startswith(INSTRUCTIONS)
    assert "<user_policies>" in system["content"] and "Prefers answers in French." in system["content"]
    assert "save_memory" in {tool["function"]["name"] for tool in first["tools"]}

    # The call ran in the service, for this user, and its result went back to the model.
    saved = [m for m in lm.list_memories("ada").memories if m.layer == "knowledge"]
    assert [(m.content, m.provenance.source) for m in saved] == [(save["content"], "tool")]
    call, result = second["messages"][-2:]
    assert call["role"] == "assistant" and call["tool_calls"][0]["function"]["name"] == "save_memory"
    assert result["role"] == "tool" and result["tool_call_id"] == call["tool_calls"][0]["id"]
    assert json.loads(result["content"])["memory"]["memory_id"] == saved[0].memory_id

    # The turn was posted to learn from: a status record, and the message on the queue.
    transcripts = lm.export_user("ada").transcripts
    assert [(t.session_id, t.status) for t in transcripts] == [("s1", "queued")]
    queued = json.loads(aws.queue_messages()[0]["Body"])["transcript"]["messages"]
    assert [(m["role"], m["content"]) for m in queued] == [
        ("user", "We are migrating billing to Postgres this quarter."),
        ("assistant", answer),
    ]


def test_a_refused_tool_call_goes_back_to_the_model(
    lm: LearningMachineClient, model: FakeOpenAIServer
) -> None:
    model.enqueue(
        Reply(tool_name="forget_memory", tool_arguments='{"memory_id": "m-none"}'),
        Reply(content="I had nothing to forget."),
    )
    bot = agent(lm, model)

    assert bot.turn("Forget my address.") == "I had nothing to forget."
    refusal = json.loads(model.requests[1]["messages"][-1]["content"])
    assert refusal["error"] == "memory not found"
    assert refusal["fields"][0]["loc"] == ["body", "arguments", "memory_id"]
    # The next turn carries the conversation so far.
    model.enqueue(Reply(content="Yes."))
    bot.turn("Still there?")
    history = [(m["role"], m["content"]) for m in model.requests[2]["messages"][1:]]
    assert history == [
        ("user", "Forget my address."),
        ("assistant", "I had nothing to forget."),
        ("user", "Still there?"),
    ]
