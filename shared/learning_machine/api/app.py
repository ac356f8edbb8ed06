"""Resolvers: one per function, each including only the routers that function serves."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from .errors import register_error_handlers
from .limits import limit_body_size

API_TITLE = "Learning Machine Serverless"
API_VERSION = "1.0.0"


def build_resolver(*routers: APIGatewayRouter) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    app.use(middlewares=[limit_body_size])
    register_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


def api_resolver() -> APIGatewayRestResolver:
    """The `api` function: every management route, and the OpenAPI document of the whole API.

    The context router is included so the document describes every route; API Gateway sends
    `/v1/context` to the `get_context` function, never here.
    """
    from .routes import config, context, sessions, transcripts, users

    app = build_resolver(transcripts.router, users.router, sessions.router, config.router, context.router)

    @app.get("/v1/openapi.json", include_in_schema=False)
    def openapi_document() -> Response[str]:
        document = app.get_openapi_json_schema(title=API_TITLE, version=API_VERSION)
        return Response(status_code=200, body=document, content_type="application/json")

    return app


def context_resolver() -> APIGatewayRestResolver:
    """The `get_context` function: one route, nothing that pulls in the model client."""
    from .routes import context

    return build_resolver(context.router)
