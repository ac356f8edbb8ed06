"""Load a function's handler module fresh, the way Lambda does on a cold start."""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_counter = itertools.count()


def load_handler(function_dir: str) -> ModuleType:
    path = ROOT / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(f"lm_test_{function_dir}_{next(_counter)}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Routes served by their own function; everything else goes to the api function.
FUNCTION_FOR_PATH = {"/v1/context": "get_context", "/v1/search": "search"}


def function_for(path: str) -> str:
    """The function API Gateway sends a path to (as template.yaml routes it)."""
    return "curate" if path.startswith("/v1/curate") else FUNCTION_FOR_PATH.get(path, "api")


class FakeContext:
    function_name = "test-function"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def event(path: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / path).read_text())


def rest_event(
    method: str,
    path: str,
    *,
    tenant: str | None = "acme",
    body: Any = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event as the authorizer would let it through."""
    context: dict[str, Any] = {"httpMethod": method, "path": path, "stage": "live", "requestId": "r"}
    if tenant is not None:
        context["authorizer"] = {"principalId": tenant, "tenant_id": tenant}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "requestContext": context,
        "body": body if isinstance(body, str) or body is None else json.dumps(body),
        "isBase64Encoded": False,
    }
