"""The template's API on 127.0.0.1, as API Gateway (REST, Lambda proxy, TOKEN authorizer) serves it."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import re
import signal
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

from .iam import RoleCredentials, function_roles
from .lambda_runtime import ExecutionEnvironments, Invoker
from .provision import aws_client
from .template import (
    ACCOUNT_ID,
    DEFAULT_TEMPLATE,
    REGION,
    Authorizer,
    LocalTemplate,
    Route,
    TemplateError,
    UsagePlan,
    load_for_process,
)

log = logging.getLogger("local.api")
HEALTH_PATH = "/__health"
# The review page holds no data (its API calls carry the key): it is served without the authorizer.
REVIEW_PATHS = ("/review", "/review/")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"}


@dataclass(frozen=True)
class Grant:
    """What a TOKEN authorizer returned: cached per token for the authorizer's TTL."""

    principal_id: str
    policy: dict[str, Any]
    context: dict[str, str]
    usage_key: str | None = None


# (rate per second, burst) of the usage plan that holds a tenant's key.
PlanLimits = Callable[[str], tuple[float, int]]


class TokenBuckets:
    """API Gateway's usage-plan throttle: one token bucket per API key, `rate` tokens a second,
    holding at most `burst`; a request takes a token or is throttled (429)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, rate: float, burst: int) -> bool:
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            return allowed


def tenant_plan_limits(plan: UsagePlan, endpoint: str, table: str, cache_seconds: float = 2.0) -> PlanLimits:
    """The plan of a tenant's key: its own (an operator's override: the tenant's limits item, which
    `lm limits set` writes; in AWS it also moves the key to a plan of its own) or the API's."""
    dynamodb = aws_client("dynamodb", endpoint)
    cache: dict[str, tuple[float, tuple[float, int]]] = {}

    def limits(tenant: str) -> tuple[float, int]:
        now = time.monotonic()
        expires, found = cache.get(tenant, (0.0, (plan.rate_per_second, plan.burst)))
        if now < expires:
            return found
        item = dynamodb.get_item(
            TableName=table, Key={"pk": {"S": f"T#{tenant}#LIMITS"}, "sk": {"S": "current"}}
        ).get("Item")
        override = json.loads(item["doc"]["S"]) if item else {}
        found = (
            float(override.get("rate_per_second") or plan.rate_per_second),
            int(override.get("burst") or plan.burst),
        )
        cache[tenant] = (now + cache_seconds, found)
        return found

    return limits


class Denied(Exception):
    def __init__(self, status: int, message: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(status: int, payload: Any, request_id: str = "") -> Response:
    response = Response(json.dumps(payload), status=status, content_type="application/json")
    if request_id:
        response.headers["x-amzn-RequestId"] = request_id
    return response


def review_page() -> Response:
    """The static review page, read on each request so that an edited page shows on reload."""
    page = resources.files("learning_machine").joinpath("review", "index.html").read_bytes()
    response = Response(page, status=200, content_type="text/html; charset=utf-8")
    response.headers.update(
        {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
    )
    return response


def to_rule_path(path: str) -> str:
    """/users/{id} -> /users/<id>; a greedy {proxy+} takes the rest of the path, slashes included."""
    path = re.sub(r"\{(\w+)\+\}", r"<path:\1>", path)
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


def _arn_pattern(resource: str) -> re.Pattern[str]:
    # IAM wildcards: `*` any run of characters, `?` exactly one; a newline (%0A in a path) is one too.
    wildcards = {"*": ".*", "?": "."}
    return re.compile("".join(wildcards.get(c) or re.escape(c) for c in resource) + r"\Z", re.DOTALL)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_allows(policy: dict[str, Any], method_arn: str) -> bool:
    """IAM evaluation for execute-api:Invoke: an explicit Deny wins, otherwise an Allow must match."""
    allowed = False
    for statement in _as_list(policy.get("Statement", [])):
        actions = [str(a).lower() for a in _as_list(statement.get("Action", []))]
        if not any(a in ("*", "execute-api:*", "execute-api:invoke") for a in actions):
            continue
        if not any(_arn_pattern(str(r)).match(method_arn) for r in _as_list(statement.get("Resource", []))):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def context_value(value: Any) -> str:
    # API Gateway hands authorizer context values to the integration as strings.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class LocalApi:
    """A WSGI app: route, authorize, build the proxy event, invoke, map the result back."""

    def __init__(
        self, template: LocalTemplate, runtime: Invoker, plan_limits: PlanLimits | None = None
    ) -> None:
        self.template = template
        self.runtime = runtime
        plan = template.usage_plan
        self.plan_limits = plan_limits or (
            lambda tenant: (plan.rate_per_second, plan.burst) if plan else (0, 0)
        )
        self.buckets = TokenBuckets()
        self.routes = template.routes
        rules = [
            Rule(to_rule_path(r.path), endpoint=i, methods=None if r.method == "ANY" else [r.method])
            for i, r in enumerate(self.routes)
        ]
        self.url_map = Map(rules, strict_slashes=False, merge_slashes=False)
        self._grants: dict[tuple[str, str], tuple[float, Grant]] = {}
        self._grants_lock = threading.Lock()

    def preload(self) -> None:
        """Import every handler before serving, so a broken handler fails `make up`, not a request."""
        functions = {route.function for route in self.routes}
        functions |= {self.template.authorizers[r.authorizer].function for r in self.routes if r.authorizer}
        for function_id in sorted(functions):
            self.runtime.preload(function_id)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.dispatch(Request(environ))(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        if request.path == HEALTH_PATH and request.method == "GET":
            return json_response(200, {"status": "ok", "routes": len(self.routes)})
        if request.path in REVIEW_PATHS and request.method in ("GET", "HEAD"):
            return review_page()
        try:
            endpoint, matched = self.url_map.bind_to_environ(request.environ).match()
            route = self.routes[endpoint]
            if route.method != "ANY" and request.method != route.method:
                raise NotFound()  # werkzeug answers HEAD for GET rules; API Gateway does not
        except (NotFound, MethodNotAllowed):
            return json_response(403, {"message": "Missing Authentication Token"}, request_id)
        try:
            grant = self.authorize(request, route) if route.authorizer else None
        except Denied as denied:
            return json_response(denied.status, {"message": denied.message}, request_id)
        refused = self.meter(route, grant, request_id)
        if refused is not None:
            return refused
        event = self.build_event(request, route, {k: str(v) for k, v in matched.items()}, grant, request_id)
        try:
            result = self.runtime.invoke(route.function, event)
            return self.to_response(result, request_id)
        except Exception:
            log.exception("%s %s: %s failed", request.method, request.path, route.function)
            return json_response(502, {"message": "Internal server error"}, request_id)

    def meter(self, route: Route, grant: Grant | None, request_id: str) -> Response | None:
        """The usage plan's throttle for routes that require an API key (here: named by the
        authorizer); None lets the request through."""
        plan = self.template.usage_plan
        if not route.api_key_required or plan is None or plan.key_source != "AUTHORIZER":
            return None
        if grant is None or not grant.usage_key:
            return json_response(403, {"message": "Forbidden"}, request_id)  # no key: API Gateway's 403
        rate, burst = self.plan_limits(grant.principal_id)
        if self.buckets.take(grant.usage_key, rate, burst):
            return None
        return self.gateway_response("THROTTLED", 429, {"message": "Too Many Requests"}, request_id)

    def gateway_response(self, kind: str, status: int, default: Any, request_id: str) -> Response:
        configured = self.template.gateway_responses.get(kind)
        if configured is None:
            return json_response(status, default, request_id)
        body = configured.body if configured.body is not None else json.dumps(default)
        response = Response(body, status=configured.status or status, content_type="application/json")
        response.headers.update(configured.headers)
        response.headers["x-amzn-RequestId"] = request_id
        return response

    def method_arn(self, method: str, path: str) -> str:
        return (
            f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{self.template.api_id}/"
            f"{self.template.stage}/{method}/{path.lstrip('/')}"
        )

    def authorize(self, request: Request, route: Route) -> Grant:
        authorizer = self.template.authorizers[str(route.authorizer)]
        token = request.headers.get(authorizer.header)
        if not token:  # API Gateway answers without invoking the authorizer
            raise Denied(401, "Unauthorized")
        grant = self._cached_grant(authorizer, token) or self._invoke_authorizer(authorizer, token, request)
        if not policy_allows(grant.policy, self.method_arn(request.method, request.path)):
            raise Denied(403, "User is not authorized to access this resource")
        return grant

    def _cached_grant(self, authorizer: Authorizer, token: str) -> Grant | None:
        with self._grants_lock:
            expires, grant = self._grants.get((authorizer.name, token), (0.0, None))
            return grant if grant is not None and time.monotonic() < expires else None

    def _invoke_authorizer(self, authorizer: Authorizer, token: str, request: Request) -> Grant:
        event = {
            "type": "TOKEN",
            "authorizationToken": token,
            "methodArn": self.method_arn(request.method, request.path),
        }
        try:
            result = self.runtime.invoke(authorizer.function, event)
        except Exception as error:
            if str(error) == "Unauthorized":
                raise Denied(401, "Unauthorized") from None
            log.exception("authorizer %s failed", authorizer.function)
            raise Denied(500, None) from None  # API Gateway: AuthorizerConfigurationException
        if not isinstance(result, dict) or "principalId" not in result or "policyDocument" not in result:
            log.error("authorizer %s returned no principalId/policyDocument: %r", authorizer.function, result)
            raise Denied(500, None)
        context = {key: context_value(value) for key, value in (result.get("context") or {}).items()}
        usage_key = result.get("usageIdentifierKey")
        grant = Grant(
            str(result["principalId"]),
            result["policyDocument"],
            context,
            str(usage_key) if usage_key else None,
        )
        if authorizer.ttl_seconds > 0:
            # The whole policy is cached, so a policy that names only this route denies the next one.
            with self._grants_lock:
                self._grants[(authorizer.name, token)] = (time.monotonic() + authorizer.ttl_seconds, grant)
        return grant

    def build_event(
        self,
        request: Request,
        route: Route,
        path_parameters: dict[str, str],
        grant: Grant | None,
        request_id: str,
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            if value == "" and name in ("Content-Type", "Content-Length"):
                continue
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query = {key: values[-1] for key, values in request.args.lists()}
        multi_query = {key: values for key, values in request.args.lists()}
        raw = request.get_data()
        body: str | None = None
        is_base64 = False
        if raw:
            try:
                body = raw.decode("utf-8")
            except UnicodeDecodeError:
                body, is_base64 = base64.b64encode(raw).decode("ascii"), True
        now = datetime.now(UTC)
        context: dict[str, Any] = {
            "accountId": ACCOUNT_ID,
            "apiId": self.template.api_id,
            "resourceId": format(zlib.crc32(route.path.encode()), "08x")[:6],  # stable across runs
            "resourcePath": route.path,
            "httpMethod": request.method,
            "path": f"/{self.template.stage}{request.path}",
            "stage": self.template.stage,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "domainName": request.host,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.user_agent.string,
            },
        }
        if grant is not None:
            context["authorizer"] = {"principalId": grant.principal_id, **grant.context}
        return {
            "resource": route.path,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": context,
            "body": body,
            "isBase64Encoded": is_base64,
        }

    @staticmethod
    def to_response(result: Any, request_id: str) -> Response:
        if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
            log.error("malformed Lambda proxy response: %r", result)
            return json_response(502, {"message": "Internal server error"}, request_id)
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
        response = Response(data, status=result["statusCode"])
        response.headers.clear()
        multi = result.get("multiValueHeaders") or {}
        for name, values in multi.items():
            if name.lower() not in HOP_BY_HOP:
                for value in values:
                    response.headers.add(name, str(value))
        for name, value in (result.get("headers") or {}).items():
            if name.lower() not in HOP_BY_HOP and name not in response.headers:
                response.headers[name] = str(value)
        response.headers.setdefault("Content-Type", "application/json")  # API Gateway's default
        response.headers["x-amzn-RequestId"] = request_id
        return response


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve template.yaml's API locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LM_API_PORT", "3000")))
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        template, endpoint = load_for_process(args.template)
    except TemplateError as error:
        parser.error(str(error))
    # Each function in worker processes of its own, with its own role's credentials, as in Lambda.
    roles = RoleCredentials(endpoint, function_roles(template.path, template.parameters))
    runtime = ExecutionEnvironments(template, roles.environment)
    plan = template.usage_plan
    limits = tenant_plan_limits(plan, endpoint, template.tables["DataTable"].name) if plan else None
    app = LocalApi(template, runtime, limits)
    app.preload()

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # werkzeug's serve_forever closes the socket on it

    signal.signal(signal.SIGTERM, stop)
    log.info("serving %d routes on http://%s:%d", len(template.routes), args.host, args.port)
    try:
        run_simple(args.host, args.port, app, threaded=True, use_reloader=False)
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
