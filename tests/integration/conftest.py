"""The integration suite's own local stack: moto server, local API and poller on separate ports.

`stack` starts it once (`.local/test-stack`, ports 5100/3100 unless LM_TEST_MOTO_PORT / LM_TEST_API_PORT
say otherwise, failed messages retried after 1 s) and stops it when the session ends. A module points
the stack at a fake model server by overriding `stack_extra_env`; the stack restarts only when that
environment differs from the running one. A stack that cannot start fails the tests, never skips them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from local.stack import StackError, StackInfo, create_api_key, stack_status, start_stack, stop_stack
from local.template import REGION, REPO_ROOT
from tests.fakes.openai_server import FakeOpenAIServer

STATE_DIR = REPO_ROOT / ".local" / "test-stack"
MOTO_PORT = int(os.environ.get("LM_TEST_MOTO_PORT", "5100"))
API_PORT = int(os.environ.get("LM_TEST_API_PORT", "3100"))
RETRY_DELAY_SECONDS = 1


@dataclass
class Stack:
    info: StackInfo
    env: dict[str, str]
    new_tenant_key: Callable[[str], str]
    sqs: Any
    dynamodb: Any
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return self.info.api_url

    @property
    def api_key(self) -> str:
        return self.info.api_key

    @property
    def moto_url(self) -> str:
        return self.info.moto_url

    @property
    def transcripts_queue_url(self) -> str:
        return self.env["LM_TRANSCRIPTS_QUEUE_URL"]

    @property
    def dlq_url(self) -> str:
        return self.env["LM_TRANSCRIPTS_DLQ_URL"]

    def auth(self, api_key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key or self.api_key}"}


class StackManager:
    """One stack for the whole session, restarted only for a different environment (or after `down`)."""

    def __init__(self) -> None:
        self.current: Stack | None = None

    def get(self, extra_env: Mapping[str, str]) -> Stack:
        wanted = dict(extra_env)
        if self.current is not None and self.current.extra_env == wanted and self._running():
            return self.current
        stop_stack(STATE_DIR)  # a fresh moto for the tests, whatever an earlier run left behind
        return self._start(wanted, "start")

    def restart_functions(self, extra_env: Mapping[str, str]) -> Stack:
        """The same moto (its data kept), the API and the poller started again with `extra_env`:
        for settings that name something created in moto first (a secret's ARN)."""
        wanted = dict(extra_env)
        stop_stack(STATE_DIR, components=("poller", "api"))
        return self._start(wanted, "restart")

    def _start(self, wanted: dict[str, str], verb: str) -> Stack:
        """Start what is not running; a stack that cannot start fails the tests, never skips them."""
        try:
            info = start_stack(STATE_DIR, MOTO_PORT, API_PORT, wanted, RETRY_DELAY_SECONDS)
        except StackError as error:
            stop_stack(STATE_DIR)
            pytest.fail(f"the integration stack could not {verb}: {error}", pytrace=False)
        self.current = self._handle(info, wanted)
        return self.current

    def _running(self) -> bool:
        return self.current is not None and all(stack_status(STATE_DIR).values())

    @staticmethod
    def _handle(info: StackInfo, extra_env: dict[str, str]) -> Stack:
        clients = {
            "endpoint_url": info.moto_url,
            "region_name": REGION,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        keys_table = info.env["LM_KEYS_TABLE"]
        return Stack(
            info=info,
            env=dict(info.env),
            new_tenant_key=lambda tenant: create_api_key(info.moto_url, keys_table, tenant, label="test"),
            sqs=boto3.client("sqs", **clients),
            dynamodb=boto3.client("dynamodb", **clients),
            extra_env=extra_env,
        )

    def stop(self) -> None:
        stop_stack(STATE_DIR)
        self.current = None


@pytest.fixture(scope="session")
def stack_manager() -> Iterator[StackManager]:
    manager = StackManager()
    yield manager
    manager.stop()


@pytest.fixture(scope="module")
def stack_extra_env() -> dict[str, str]:
    """Extra environment for the stack's processes; override in a module (e.g. a fake model server)."""
    return {}


@pytest.fixture(scope="module")
def stack(stack_manager: StackManager, stack_extra_env: dict[str, str]) -> Stack:
    return stack_manager.get(stack_extra_env)


@pytest.fixture(scope="module")
def fake_model() -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI-compatible server over HTTP; the stack's openai adapter talks to it."""
    with FakeOpenAIServer() as server:
        yield server


def fake_model_env(fake: FakeOpenAIServer, **overrides: str) -> dict[str, str]:
    """Stack environment pointing extraction at the fake model with json_schema structured output."""
    return {
        "LM_LLM_BASE_URL": fake.base_url,
        "LM_LLM_MODEL": "fake-model",
        "LM_LLM_STRUCTURED_MODE": "json_schema",
        "LM_LLM_MAX_RETRIES": "1",
        "LM_LLM_TIMEOUT_SECONDS": "10",
        **overrides,
    }


def wait_for(check: Callable[[], Any], what: str, deadline: float = 90) -> Any:
    """Poll `check` until it returns something truthy; the deadline is generous: a failure here
    means "never", not "slow"."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if found := check():
            return found
        time.sleep(0.25)
    pytest.fail(f"gave up waiting for {what}")
