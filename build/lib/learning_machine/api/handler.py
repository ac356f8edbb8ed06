"""The Lambda entry point shared by every API Gateway function: logging, tracing, resolve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def rest_handler(app: APIGatewayRestResolver, traced: bool = True) -> Handler:
    """`traced=False` leaves out Powertools' Tracer and the X-Ray SDK it loads (about 90 ms of cold
    import): the read path's functions keep Lambda's own active tracing of each invocation."""
    logger = Logger()

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.resolve(event, context)

    if not traced:
        return lambda_handler
    from aws_lambda_powertools import Tracer

    return Tracer().capture_lambda_handler(lambda_handler)
