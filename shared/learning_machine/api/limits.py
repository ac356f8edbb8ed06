"""Request size limit, checked before any parsing."""

from __future__ import annotations

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
