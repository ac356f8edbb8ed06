"""`lm mcp`: the service's agent tools through the MCP SDK's own client, in process and over stdio,
with the real handlers behind them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from mcp import Client, StdioServerParameters

from learning_machine.cli.mcp_server import build_server
from learning_machine.client import AsyncLearningMachineClient, LearningMachineClient
from tests.support.handlers import ROOT
from tests.support.transport import HandlerBridge, handler_transport

T = TypeVar("T")
INITECH = {"name": "Initech", "entity_type": "company", "facts": ["Makes TPS reports."]}


@pytest.fixture
def lm(aws: Any) -> Iterator[LearningMachineClient]:
    with LearningMachineClient("https://lm.test", "key", transport=handler_transport("acme")) as client:
        yield client


def with_mcp(scenario: Callable[[Client], Awaitable[T]], **identity: str) -> T:
    """Run `scenario` against `build_server` through an in-memory MCP session."""

    async def run() -> T:
        lm = AsyncLearningMachineClient("https://lm.test", "key", transport=handler_transport("acme"))
        async with lm, Client(build_server(lm, **identity)) as client:
            return await scenario(client)

    return asyncio.run(run())


def test_tools_are_the_services_with_their_schemas(lm: LearningMachineClient) -> None:
    published = {t["function"]["name"]: t["function"] for t in lm.list_tools().tools}

    async def scenario(client: Client) -> Any:
        return (await client.list_tools()).tools

    tools = with_mcp(scenario, user_id="ada")
    assert {tool.name: tool.input_schema for tool in tools} == {
        name: function["parameters"] for name, function in published.items()
    }
    assert {tool.name: tool.description for tool in tools} == {
        name: function["description"] for name, function in published.items()
    }


def test_a_call_runs_in_the_service_for_the_configured_user(lm: LearningMachineClient) -> None:
    async def scenario(client: Client) -> Any:
        return await client.call_tool("remember_entity", INITECH)

    result = with_mcp(scenario, user_id="ada", session_id="s1")
    assert result.is_error is False
    assert result.structured_content["entity"]["name"] == "Initech"
    assert json.loads(result.content[0].text) == result.structured_content
    entity = lm.get_entity("Initech", namespace="user", user_id="ada").entity
    assert [f.content for f in entity.facts] == ["Makes TPS reports."]
    assert entity.facts[0].provenance.source == "tool"


def test_a_refusal_is_a_tool_error_naming_the_argument(lm: LearningMachineClient) -> None:
    async def scenario(client: Client) -> Any:
        return await client.call_tool(
            "record_entity_event", {"entity": "Nobody Inc", "content": "Went bust."}
        )

    result = with_mcp(scenario, user_id="ada")
    assert result.is_error is True
    body = json.loads(result.content[0].text)
    assert body["error"] == "entity not found"
    assert body["fields"][0]["loc"] == ["body", "arguments", "entity"]


def test_without_a_fixed_user_each_call_names_one(lm: LearningMachineClient) -> None:
    async def scenario(client: Client) -> Any:
        tools = (await client.list_tools()).tools
        named = await client.call_tool("remember_entity", {**INITECH, "user_id": "bob"})
        unnamed = await client.call_tool("remember_entity", INITECH)
        return tools, named, unnamed

    tools, named, unnamed = with_mcp(scenario)
    assert all("user_id" in tool.input_schema["required"] for tool in tools)
    assert named.is_error is False
    assert lm.get_entity("Initech", namespace="user", user_id="bob").entity.name == "Initech"
    assert unnamed.is_error is True and "user_id is required" in unnamed.content[0].text


def test_lm_mcp_over_stdio(lm: LearningMachineClient, tmp_path: Path) -> None:
    """The console command as an MCP host starts it, against the handlers on a local port."""
    with HandlerBridge("acme") as bridge:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT / "shared"),
            "LM_API_URL": bridge.base_url,
            "LM_API_KEY": "key",
            "LM_USER_ID": "ada",
        }
        server = StdioServerParameters(
            command=sys.executable,
            args=["-m", "learning_machine.cli.main", "mcp"],
            env=env,
            cwd=str(tmp_path),  # no .local/env here to fill in anything else
        )

        async def scenario() -> tuple[list[str], Any]:
            async with Client(server) as client:
                names = [tool.name for tool in (await client.list_tools()).tools]
                return names, await client.call_tool("remember_entity", INITECH)

        names, result = asyncio.run(scenario())

    assert "remember_entity" in names and result.is_error is False
    assert lm.get_entity("Initech", namespace="user", user_id="ada").entity.facts[0].content == (
        "Makes TPS reports."
    )
