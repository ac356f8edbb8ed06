"""The template's API as API Gateway serves it (routes, TOKEN authorizer, the real handlers) as a WSGI
app inside one in-process moto account for the whole module: provisioning it per route would cost more
than the fuzzing."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
import werkzeug.test
from schemathesis.specs.openapi.schemas import OpenApiSchema

from learning_machine.stores.api_keys import ApiKeyStore
from local.api_server import LocalApi
from local.lambda_runtime import LambdaRuntime
from tests.conftest import Aws, provisioned_aws

OPENAPI_PATH = "/v1/openapi.json"
TOOL_CALL = "/v1/tools/call"
FUZZ_TENANT = "fuzz-tenant"
KNOWN_NAMESPACE = "global"  # where the existing entity and proposal live
# Cases per operation, valid and invalid input together; `make fuzz` raises it.
DEFAULT_EXAMPLES = 10


def fuzz_examples() -> int:
    return int(os.environ.get("LM_FUZZ_EXAMPLES") or DEFAULT_EXAMPLES)


def fuzz_seed() -> int | None:
    """LM_FUZZ_SEED replays a run; without it every run explores new inputs."""
    seed = os.environ.get("LM_FUZZ_SEED")
    return int(seed) if seed else None


@dataclass
class FuzzStats:
    """What the run sent, printed at the end of the session (the README quotes these figures)."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: dict[str, Counter[int]] = field(default_factory=dict)

    def record(self, operation: str, status: int) -> None:
        self.cases[operation] += 1
        self.statuses[status] += 1
        self.by_operation.setdefault(operation, Counter())[status] += 1


STATS = FuzzStats()


@dataclass
class FuzzApi:
    app: LocalApi
    schema: OpenApiSchema
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A request that must succeed: setting up what the fuzzing starts from."""
        reply = werkzeug.test.Client(self.app).open(path, method=method, json=body, headers=self.headers)
        assert reply.status_code < 300, (method, path, reply.status_code, reply.get_data(as_text=True))
        return dict(reply.json or {})


@pytest.fixture(scope="module")
def fuzz_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aws]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        # LambdaRuntime fills os.environ with setdefault when it loads a handler; the names it adds (the
        # OpenSearch settings the account leaves out) must not outlive this module.
        before = set(os.environ)
        try:
            with provisioned_aws(monkeypatch, tmp_path_factory.mktemp("fuzz")) as aws:
                yield aws
        finally:
            for name in set(os.environ) - before:
                del os.environ[name]


@pytest.fixture(scope="module")
def fuzz_api(fuzz_aws: Aws) -> FuzzApi:
    # The fuzz run is about what the handlers answer, not the tenant's rate: no throttling here
    # (tests/integration/test_fair_share.py checks the usage plan's).
    app = LocalApi(
        fuzz_aws.template, LambdaRuntime(fuzz_aws.template), plan_limits=lambda tenant: (1e9, 10**9)
    )
    app.preload()
    api_key = ApiKeyStore(fuzz_aws.settings.keys_table).create(FUZZ_TENANT, label="fuzz")
    # The document the API serves itself, through API Gateway's open route, as any client reads it.
    return FuzzApi(app, schemathesis.openapi.from_wsgi(OPENAPI_PATH, app), api_key)


@pytest.fixture
def existing_ids(fuzz_api: FuzzApi) -> dict[str, str]:
    """Path parameters naming resources that exist, made afresh for each test (a DELETE may have removed
    the last ones), from the default configuration (PUT /v1/config may have changed it): generated ids
    alone only ever reach the 404 branches."""
    user = "fuzz-user"
    fuzz_api.send("PUT", "/v1/config", {})
    memory = fuzz_api.send("POST", f"/v1/users/{user}/memories", {"layer": "profile", "content": "Likes tea"})
    entity = fuzz_api.send("POST", "/v1/entities", {"name": "Fuzz Entity", "namespace": KNOWN_NAMESPACE})
    entity = fuzz_api.send(
        "POST",
        f"/v1/entities/{entity['entity_id']}/facts?namespace={KNOWN_NAMESPACE}",
        {"facts": ["Ships on Fridays"]},
    )
    proposal = {"title": "Retry", "content": "Retry with backoff", "namespace": KNOWN_NAMESPACE}
    transcript = {"user_id": user, "session_id": "s1", "messages": [{"role": "user", "content": "hi"}]}
    return {
        "user_id": user,
        "memory_id": memory["memory_id"],
        "entity": entity["entity_id"],
        "fact_id": entity["facts"][-1]["fact_id"],
        "insight_id": fuzz_api.send("POST", "/v1/knowledge/proposals", proposal)["insight_id"],
        "transcript_id": fuzz_api.send("POST", "/v1/transcripts", transcript)["transcript_id"],
    }


def _statuses(counts: Counter[int]) -> str:
    return ", ".join(f"{status}: {count}" for status, count in sorted(counts.items()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not STATS.cases:
        return
    if terminalreporter.verbosity > 0:
        for operation, counts in STATS.by_operation.items():
            terminalreporter.write_line(f"fuzz: {operation}: {_statuses(counts)}")
    statuses = _statuses(STATS.statuses)
    seed = fuzz_seed()
    tools = sum(1 for label in STATS.cases if label.startswith(f"POST {TOOL_CALL} "))
    terminalreporter.write_line(
        f"fuzz: {len(STATS.cases) - tools} routes and {tools} tools, {sum(STATS.cases.values())} cases "
        f"(LM_FUZZ_EXAMPLES={fuzz_examples()}{f', LM_FUZZ_SEED={seed}' if seed is not None else ''}); "
        f"statuses {statuses}"
    )
