"""The local API in this process: the template's routes, the TOKEN authorizer and the same handlers
that `make up` serves on port 3000, invoked without the socket, against the stack's moto server.

Benchmarks use it to time a handler alone (`invoke`) or to call the API as a client would
(`call`, through routing and the authorizer), with an index file and embedder of their choosing.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Request

from learning_machine.cli.target import load_local_env
from local.api_server import Grant, LocalApi
from local.lambda_runtime import LambdaRuntime
from local.stack import create_api_key
from local.template import DEFAULT_TEMPLATE, LocalTemplate

RATE_LIMIT_RETRIES = 30
STACK_INDEX = Path(__file__).resolve().parents[1] / ".local" / "index.db"


class CallError(RuntimeError):
    pass


@dataclass
class InProcessApi:
    local: LocalApi
    client: Client
    tenant: str
    api_key: str

    @classmethod
    def start(cls, tenant: str, index_path: Path = STACK_INDEX, **env: str) -> InProcessApi:
        """Settings as the stack's API process gets them; `env` overrides (embedder, config cache)."""
        load_local_env()
        moto_url = os.environ.get("AWS_ENDPOINT_URL")
        if not moto_url:
            sys.exit("run `make up` first: this benchmark uses the local stack's moto server")
        os.environ.update(
            {
                "AWS_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                "LM_INDEX_ENGINE": "embedded",
                "LM_INDEX_PATH": str(index_path),
                "POWERTOOLS_TRACE_DISABLED": "true",
                **env,
            }
        )
        template = LocalTemplate.load(DEFAULT_TEMPLATE, endpoint_url=moto_url, env=os.environ)
        for key, value in template.function_environment().items():
            os.environ.setdefault(key, value)
        local = LocalApi(template, LambdaRuntime(template))
        key = create_api_key(moto_url, os.environ["LM_KEYS_TABLE"], tenant, label="bench")
        return cls(local, Client(local), tenant, key)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        """One request through the local API (routing, authorizer, handler); raises on 4xx/5xx.

        A 429 (the tenant's request rate, which seeding on a quiet machine reaches) is retried
        after its `retry_after`, as a client would."""
        for _ in range(RATE_LIMIT_RETRIES):
            response = self.client.open(
                path,
                method=method,
                query_string={k: v for k, v in (query or {}).items() if v is not None},
                data=None if body is None else json.dumps(body),
                headers=self.headers,
            )
            payload = response.get_json(silent=True) if response.data else None
            if response.status_code != 429:
                break
            time.sleep(float((payload or {}).get("retry_after", 1)))
        if response.status_code >= 400:
            raise CallError(f"{method} {path} -> {response.status_code}: {payload or response.data[:300]!r}")
        return payload

    def event(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        """The API Gateway event the local API would hand the route's function (authorizer passed)."""
        builder = EnvironBuilder(
            path=path,
            method=method,
            query_string={k: v for k, v in (query or {}).items() if v is not None},
            data=None if body is None else json.dumps(body),
            headers=list(self.headers.items()),
        )
        request = Request(builder.get_environ())
        route = self.route(method, path)
        grant = Grant(self.tenant, {}, {"tenant_id": self.tenant})
        return self.local.build_event(request, route, {}, grant, str(uuid.uuid4()))

    def route(self, method: str, path: str) -> Any:
        adapter = self.local.url_map.bind("localhost")
        endpoint, _ = adapter.match(path, method=method)
        return self.local.routes[endpoint]

    def invoke(self, event: Any) -> Any:
        """The handler alone, as Lambda invokes it in a warm container."""
        function = self.route(event["httpMethod"], event["path"]).function
        result = self.local.runtime.invoke(function, event)
        if result.get("statusCode", 500) >= 400:
            raise CallError(f"{event['httpMethod']} {event['path']} -> {result}")
        return json.loads(result["body"])
