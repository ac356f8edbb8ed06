"""The template's API as API Gateway serves it (routes, TOKEN authorizer, the real handlers) as a WSGI
app inside one in-process moto account for the whole module: provisioning it per route would cost more
than the fuzzing."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from schemathesis.specs.openapi.schemas import OpenApiSchema

from learning_machine.stores.api_keys import ApiKeyStore
from local.api_server import LocalApi
from local.lambda_runtime import LambdaRuntime
from tests.conftest import Aws, provisioned_aws

OPENAPI_PATH = "/v1/openapi.json"
FUZZ_TENANT = "fuzz-tenant"
DEFAULT_EXAMPLES = 10  # per operation and generation mode; `make fuzz` raises it through LM_FUZZ_EXAMPLES


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


STATS = FuzzStats()


@dataclass
class FuzzApi:
    app: LocalApi
    schema: OpenApiSchema
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


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
    app = LocalApi(fuzz_aws.template, LambdaRuntime(fuzz_aws.template))
    app.preload()
    api_key = ApiKeyStore(fuzz_aws.settings.keys_table).create(FUZZ_TENANT, label="fuzz")
    # The document the API serves itself, through API Gateway's open route, as any client reads it.
    return FuzzApi(app, schemathesis.openapi.from_wsgi(OPENAPI_PATH, app), api_key)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not STATS.cases:
        return
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(STATS.statuses.items()))
    seed = fuzz_seed()
    terminalreporter.write_line(
        f"fuzz: {len(STATS.cases)} operations, {sum(STATS.cases.values())} cases "
        f"(LM_FUZZ_EXAMPLES={fuzz_examples()}{f', LM_FUZZ_SEED={seed}' if seed is not None else ''}); "
        f"statuses {statuses}"
    )
