"""`lm mcp`: the service's agent tools over the Model Context Protocol, on stdio.

The tools are those `GET /v1/tools` publishes for the tenant of LM_API_KEY, with the same JSON
schemas, read again at each listing so a configuration change shows at the next one; a call
runs `POST /v1/tools/call` through the async client (retries included).

Whose memory: the server acts for one user, fixed at launch (`--user` or LM_USER_ID), so the
model never chooses whose memory it reads or writes, as in the API, where `user_id` is never
taken from the tool's arguments. Without a fixed user (a host that serves several users),
every tool takes a required `user_id` argument instead. `--session` / LM_SESSION_ID is passed
along with each call.

A refusal (invalid arguments, unknown id) or an outage comes back as a tool result with
`isError` and the service's message and field errors, so that the model can correct the call.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from mcp import types
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server

from ..client import AsyncLearningMachineClient, LearningMachineError

SERVER_NAME = "learning-machine"
USER_ARGUMENT = "user_id"
INSTRUCTIONS = (
    "Long-term memory about the user: search it before answering questions that depend on the "
    "user, save what will matter in later conversations, and forget what the user asks you to forget."
)


def build_server(
    client: AsyncLearningMachineClient, *, user_id: str | None = None, session_id: str | None = None
) -> Server[Any]:
    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        definitions = (await client.list_tools()).tools
        return types.ListToolsResult(
            tools=[_tool(d["function"], ask_user=user_id is None) for d in definitions]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        arguments = dict(params.arguments or {})
        user = user_id or arguments.pop(USER_ARGUMENT, None)
        if not isinstance(user, str) or not user:
            return _error_result({"error": f"{USER_ARGUMENT} is required"})
        try:
            result = await client.call_tool(params.name, arguments, user_id=user, session_id=session_id)
        except LearningMachineError as error:
            return _error_result({"error": error.message, "fields": error.field_errors})
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(result.result))], structured_content=result.result
        )

    return Server(SERVER_NAME, instructions=INSTRUCTIONS, on_list_tools=list_tools, on_call_tool=call_tool)


def _tool(function: dict[str, Any], *, ask_user: bool) -> types.Tool:
    schema: dict[str, Any] = dict(function.get("parameters") or {"type": "object", "properties": {}})
    if ask_user:
        user = {"type": "string", "description": "The id of the user you act for"}
        schema["properties"] = {**schema.get("properties", {}), USER_ARGUMENT: user}
        schema["required"] = [*schema.get("required", []), USER_ARGUMENT]
    return types.Tool(name=function["name"], description=function.get("description"), input_schema=schema)


def _error_result(body: dict[str, Any]) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(body))], is_error=True)


async def serve_stdio(
    client: AsyncLearningMachineClient, user_id: str | None, session_id: str | None
) -> None:
    async with client:
        server = build_server(client, user_id=user_id, session_id=session_id)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def run(client: AsyncLearningMachineClient, user_id: str | None, session_id: str | None) -> None:
    """Serve until the host closes stdin."""
    anyio.run(serve_stdio, client, user_id, session_id)
