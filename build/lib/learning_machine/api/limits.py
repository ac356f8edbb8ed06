"""Request body limits: its size, and JSON that the handlers can hold."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from ..models.common import MAX_BODY_BYTES
from .errors import FieldDetail, error_response


def limit_body_size(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    body = app.current_event.body or ""
    size = len(body.encode()) if isinstance(body, str) else len(body)
    if size > MAX_BODY_BYTES:
        message = f"request body is {size} bytes; the limit is {MAX_BODY_BYTES}"
        return error_response(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            message,
            [FieldDetail(loc=["body"], type="too_large", msg=message)],
        )
    return next_middleware(app)


def read_json_body(text: str) -> Any:
    """json.loads for request bodies (the resolver's deserializer). Powertools answers a JSONDecodeError
    with a 422 on the body; what json.loads accepts or raises that nothing downstream can handle is made
    one: nesting past the recursion limit, and escaped lone surrogates, which are not text (they cannot
    be encoded to store or to answer)."""
    try:
        value = json.loads(text)
        json.dumps(value, ensure_ascii=False).encode()
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    except UnicodeEncodeError as error:
        raise json.JSONDecodeError("a lone surrogate is not text", text, 0) from error
    return value
