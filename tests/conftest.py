"""Shared fixtures: an in-process moto account provisioned from template.yaml."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from learning_machine.adapters import dynamodb, queue
from learning_machine.api import deps
from learning_machine.settings import Settings, get_settings
from local.provision import dead_letter_queues_first, ensure_queue, ensure_table
from local.template import LocalTemplate

# moto's in-process queue URLs use the public endpoint form.
MOTO_SQS_ENDPOINT = "https://sqs.us-east-1.amazonaws.com"


def reset_clients() -> None:
    """Drop every per-process client and store, so the next use binds to the current mock."""
    get_settings.cache_clear()
    dynamodb.resource.cache_clear()
    dynamodb.raw_client.cache_clear()
    dynamodb.table.cache_clear()
    queue.sqs.cache_clear()
    for name in dir(deps):
        cached = getattr(deps, name)
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()


@dataclass
class Aws:
    settings: Settings
    template: LocalTemplate

    def queue_messages(self, url: str | None = None) -> list[dict]:
        sqs = boto3.client("sqs")
        reply = sqs.receive_message(
            QueueUrl=url or self.settings.transcripts_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        return reply.get("Messages", [])


@contextmanager
def provisioned_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Aws]:
    """The account `aws` yields; a context manager too, for fixtures of a wider scope (tests/fuzz)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LM_CONFIG_CACHE_SECONDS": "0",
        # The embedded index on disk, and the deterministic embedder: fast and offline. Tests of
        # retrieval quality choose the local sentence model themselves.
        "LM_INDEX_ENGINE": "embedded",
        "LM_INDEX_PATH": str(tmp_path / "index.db"),
        "LM_EMBEDDING_BACKEND": "hashing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name in ("OPENAI_API_KEY", "LM_LLM_BASE_URL", "LM_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        template = LocalTemplate.load(endpoint_url=MOTO_SQS_ENDPOINT)
        ddb = boto3.client("dynamodb")
        sqs = boto3.client("sqs")
        for table in template.tables.values():
            ensure_table(ddb, table)
        for declared in dead_letter_queues_first(template):
            ensure_queue(sqs, declared)
        for name, value in template.function_environment().items():
            if not name.startswith(("LM_INDEX_", "LM_OPENSEARCH_")):
                monkeypatch.setenv(name, value)
        reset_clients()
        yield Aws(settings=get_settings(), template=template)
    reset_clients()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Aws]:
    with provisioned_aws(monkeypatch, tmp_path) as account:
        yield account


Call = Callable[..., tuple[int, Any]]


@pytest.fixture
def call(aws: Aws) -> Call:
    """Invoke the real handlers with API Gateway events, as the authorizer would let them through."""
    from tests.support.handlers import FakeContext, function_for, load_handler, rest_event

    handlers = {name: load_handler(name) for name in ("api", "get_context", "search", "curate")}

    def invoke(
        method: str,
        path: str,
        body: Any = None,
        tenant: str | None = "acme",
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        handler = handlers[function_for(path)]
        reply = handler.lambda_handler(
            rest_event(method, path, tenant=tenant, body=body, query=query), FakeContext()
        )
        return reply["statusCode"], json.loads(reply["body"]) if reply["body"] else None

    return invoke


def locs(body: dict[str, Any]) -> list[list[Any]]:
    """The field locations an error body names."""
    return [d["loc"] for d in body["detail"]]
