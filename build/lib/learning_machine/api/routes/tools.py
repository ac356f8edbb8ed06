"""Agent tools: the function-calling definitions of the enabled AGENTIC stores, and one call."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ...adapters.index.base import IndexUnavailableError
from ...models.tools import ToolCall, ToolList, ToolResult
from ...tools.definitions import definitions_for
from ...tools.executor import (
    ArgumentConflictError,
    InvalidArgumentsError,
    TargetNotFoundError,
    UnknownToolError,
)
from .. import deps
from ..errors import ApiError, not_found
from ..tenancy import tenant_of

router = APIGatewayRouter()


@router.get("/v1/tools", tags=["tools"], summary="OpenAI function-calling definitions of the enabled tools")
def list_tools() -> ToolList:
    return ToolList(tools=definitions_for(deps.config_store().get(tenant_of(router)).config))


@router.post("/v1/tools/call", tags=["tools"], summary="Execute one tool call for a user of your tenant")
def call_tool(call: ToolCall) -> ToolResult:
    tenant = tenant_of(router)
    config = deps.config_store().get(tenant).config
    arguments: list[str | int] = ["body", "arguments"]
    try:
        return deps.tool_executor().call(
            tenant, config, call.name, call.arguments, call.user_id, call.session_id
        )
    except UnknownToolError as error:
        raise not_found("tool", ["body", "name"]) from error
    except InvalidArgumentsError as error:
        # The same 422 shape as a bad body, located inside the arguments.
        raise RequestValidationError([{**e, "loc": (*arguments, *e["loc"])} for e in error.errors]) from error
    except TargetNotFoundError as error:
        raise not_found(error.what, [*arguments, error.argument]) from error
    except ArgumentConflictError as error:
        raise ApiError(HTTPStatus.CONFLICT, str(error), [*arguments, error.argument], "conflict") from error
    except IndexUnavailableError as error:
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "the knowledge index is unavailable; retry") from error
