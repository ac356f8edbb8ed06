"""Agent tools: the function-calling definitions of the enabled AGENTIC stores, and one call."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ...models.tools import ToolCall, ToolList, ToolResult
from ...tools.definitions import definitions_for
from .. import deps
from ..tenancy import tenant_of

router = APIGatewayRouter()


@router.get("/v1/tools", tags=["tools"], summary="OpenAI function-calling definitions of the enabled tools")
def list_tools() -> ToolList:
    return ToolList(tools=definitions_for(deps.services().config_store.get(tenant_of(router)).config))


@router.post("/v1/tools/call", tags=["tools"], summary="Execute one tool call for a user of your tenant")
def call_tool(call: ToolCall) -> ToolResult:
    tenant = tenant_of(router)
    config = deps.services().config_store.get(tenant).config
    return deps.services().tool_executor.call(
        tenant, config, call.name, call.arguments, call.user_id, call.session_id
    )
