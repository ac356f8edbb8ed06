"""Error responses: every 4xx names the field at fault, in the shape Powertools uses for 422.

Domain errors (`core/errors.py`) become HTTP here and nowhere else: their kind gives the status,
their `argument` the location, found in the route's path parameters, else its query string (GET,
DELETE) or its body.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel

from ..core.errors import (
    ConflictError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    TooLargeError,
    UnavailableError,
)
from ..models.limits import QuotaExceededError

STATUS_OF_KIND: dict[type[DomainError], HTTPStatus] = {
    NotFoundError: HTTPStatus.NOT_FOUND,
    ConflictError: HTTPStatus.CONFLICT,
    InvalidInputError: HTTPStatus.UNPROCESSABLE_ENTITY,
    TooLargeError: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    UnavailableError: HTTPStatus.SERVICE_UNAVAILABLE,
}


class FieldDetail(BaseModel):
    loc: list[str | int]
    type: str
    msg: str | None = None


class ErrorBody(BaseModel):
    """Body of every error the API answers."""

    statusCode: int
    message: str
    detail: list[FieldDetail] = []


class ApiError(Exception):
    def __init__(
        self, status: HTTPStatus, message: str, loc: list[str | int] | None = None, kind: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = (
            [FieldDetail(loc=loc, type=kind or status.phrase.lower().replace(" ", "_"), msg=message)]
            if loc
            else []
        )


def not_found(what: str, loc: list[str | int]) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, f"{what} not found", loc, "not_found")


def error_response(status: HTTPStatus, message: str, detail: list[FieldDetail]) -> Response[Any]:
    body = ErrorBody(statusCode=status.value, message=message, detail=detail)
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump_json(),
    )


def validation_response(errors: Sequence[Any], within: Sequence[str | int] = ()) -> Response[Any]:
    """422 for pydantic's errors, located `within` a part of the request."""
    # Location, type and pydantic's message name the field; input values are not echoed back.
    detail = [FieldDetail(loc=[*within, *e["loc"]], type=e["type"], msg=e.get("msg")) for e in errors]
    fields = ", ".join(".".join(str(part) for part in d.loc) for d in detail)
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, f"invalid request: {fields}", detail)


def _location(app: APIGatewayRestResolver, argument: str) -> list[str | int]:
    request = app.request  # the matched route's parameters (API Gateway's are the proxy's)
    if argument in request.path_parameters:
        return ["path", argument]
    where = "query" if request.method in ("GET", "DELETE") else "body"
    return [where, *argument.split(".")] if argument else [where]


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response[Any]:
        return error_response(error.status, error.message, error.detail)

    @app.exception_handler(QuotaExceededError)
    def _over_limit(error: QuotaExceededError) -> Response[Any]:
        # Nothing was accepted: the client retries after Retry-After seconds.
        return Response(
            status_code=HTTPStatus.TOO_MANY_REQUESTS.value,
            content_type=content_types.APPLICATION_JSON,
            body=error.body().model_dump_json(),
            headers={"Retry-After": str(error.retry_after)},
        )

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response[Any]:
        return validation_response(error.errors())

    @app.exception_handler(DomainError)
    def _domain_error(error: DomainError) -> Response[Any]:
        status = next((s for kind, s in STATUS_OF_KIND.items() if isinstance(error, kind)), None)
        if status is None:
            raise error  # a DomainError of no kind above is a bug: a server error, as any other
        loc = None if error.argument is None else _location(app, error.argument)
        errors = getattr(error, "errors", None)  # pydantic's, for a value nested in the request
        if errors and loc:
            return validation_response(errors, within=loc)
        if isinstance(error, UnavailableError):
            message = f"{error.what} is unavailable; retry"  # the backend's own words stay in the logs
        elif isinstance(error, NotFoundError):
            message = f"{error.what} not found"
        else:
            message = str(error)
        detail = [FieldDetail(loc=loc, type=error.kind, msg=message)] if loc else []
        return error_response(status, message, detail)

    @app.exception_handler(UnicodeDecodeError)
    def _undecodable_body(error: UnicodeDecodeError) -> Response[Any]:
        # Powertools decodes a base64 body as UTF-8 before its JSON check, so bytes that are not UTF-8
        # raise here instead of failing validation; from anywhere else it stays a server error.
        if not app.current_event.is_base64_encoded:
            raise error
        detail = [FieldDetail(loc=["body"], type="json_invalid", msg="the body is not UTF-8 text")]
        return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid request: body", detail)
