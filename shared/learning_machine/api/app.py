"""Resolvers: one per function, each including only the routers that function serves."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from .errors import register_error_handlers
from .limits import limit_body_size, read_json_body

API_TITLE = "Learning Machine Serverless"
API_VERSION = "1.0.0"


# Keys are bearer tokens, never cookies: a page on any origin (the review page) may call with its key.
CORS = CORSConfig(allow_origin="*", max_age=600)


def build_resolver(*routers: APIGatewayRouter) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(cors=CORS, enable_validation=True, json_body_deserializer=read_json_body)
    app.use(middlewares=[limit_body_size])
    register_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


def api_resolver() -> APIGatewayRestResolver:
    """The `api` function: every management route, and the OpenAPI document of the whole API.

    The context and search routers are included so the document describes every route; API
    Gateway sends `/v1/context` and `/v1/search` to their own functions, never here.
    """
    from .routes import (
        config,
        context,
        curate,
        entities,
        knowledge,
        search,
        sessions,
        tools,
        transcripts,
        usage,
        users,
    )

    app = build_resolver(
        curate.router,
        transcripts.router,
        usage.router,
        users.router,
        sessions.router,
        config.router,
        tools.router,
        entities.router,
        knowledge.router,
        context.router,
        search.router,
    )

    @app.get("/v1/openapi.json", include_in_schema=False)
    def openapi_document() -> Response[str]:
        document = app.get_openapi_json_schema(title=API_TITLE, version=API_VERSION)
        return Response(status_code=200, body=document, content_type="application/json")

    return app


def context_resolver() -> APIGatewayRestResolver:
    """The `get_context` function: one route, nothing that pulls in the model client."""
    from .routes import context

    return build_resolver(context.router)


def search_resolver() -> APIGatewayRestResolver:
    """The `search` function: one route."""
    from .routes import search

    return build_resolver(search.router)


def curate_resolver() -> APIGatewayRestResolver:
    """The `curate` function's routes: start, follow and undo jobs."""
    from .routes import curate

    return build_resolver(curate.router)
