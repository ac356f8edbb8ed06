"""The local stack itself: processes, API Gateway behaviour, resources from template.yaml, SQS redrive.

The last test stops the stack; the fixture starts a fresh one for any module that runs after it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from local.stack import log_tail, read_env_file, stack_status, start_stack
from local.template import REPO_ROOT, LocalTemplate

from .conftest import API_PORT, MOTO_PORT, RETRY_DELAY_SECONDS, STATE_DIR, Stack, StackManager

pytestmark = pytest.mark.integration


def stack_cli(command: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "local.stack", command, "--state-dir", str(STATE_DIR)]
    argv += ["--moto-port", str(MOTO_PORT), "--api-port", str(API_PORT)]
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def template(stack: Stack) -> LocalTemplate:
    return LocalTemplate.load(endpoint_url=stack.moto_url, env=stack.info.process_env)


def test_up_twice_is_idempotent(stack: Stack) -> None:
    pids = stack_status(STATE_DIR)
    result = stack_cli("up")
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stdout
    again = start_stack(STATE_DIR, MOTO_PORT, API_PORT, stack.extra_env, RETRY_DELAY_SECONDS)
    assert again.already_running
    assert again.api_key == stack.api_key  # the dev key still resolves, so it is kept
    assert stack_status(STATE_DIR) == pids  # nothing was restarted
    env_file = read_env_file(STATE_DIR / "env")
    assert env_file["LM_API_URL"] == f"http://127.0.0.1:{API_PORT}"
    assert env_file["LM_API_KEY"] == stack.api_key
    assert env_file["LM_TRANSCRIPTS_DLQ_URL"] == stack.dlq_url


def test_health(stack: Stack) -> None:
    response = httpx.get(f"{stack.api_url}/__health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_request_without_a_key_is_unauthorized(stack: Stack) -> None:
    response = httpx.get(f"{stack.api_url}/v1/config")
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_request_with_a_bogus_key_is_unauthorized(stack: Stack) -> None:
    response = httpx.get(f"{stack.api_url}/v1/config", headers=stack.auth("lm_not-a-real-key"))
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/nowhere"), ("POST", "/v1/config"), ("GET", "/")])
def test_unknown_route_is_a_missing_authentication_token(stack: Stack, method: str, path: str) -> None:
    response = httpx.request(method, f"{stack.api_url}{path}", headers=stack.auth())
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


def test_valid_keys_pass_the_authorizer(stack: Stack) -> None:
    for key in (stack.api_key, stack.new_tenant_key("integration-tenant")):
        response = httpx.get(f"{stack.api_url}/v1/config", headers=stack.auth(key))
        assert response.status_code not in (401, 403), response.text


def test_tables_of_the_template_exist_with_its_key_schema(stack: Stack, template: LocalTemplate) -> None:
    assert set(stack.dynamodb.list_tables()["TableNames"]) >= {t.name for t in template.tables.values()}
    for table in template.tables.values():
        described = stack.dynamodb.describe_table(TableName=table.name)["Table"]
        assert described["KeySchema"] == table.properties["KeySchema"]
        attributes = {(a["AttributeName"], a["AttributeType"]) for a in described["AttributeDefinitions"]}
        assert attributes == {
            (a["AttributeName"], a["AttributeType"]) for a in table.properties["AttributeDefinitions"]
        }
        expected_indexes = {i["IndexName"] for i in table.properties.get("GlobalSecondaryIndexes", [])}
        assert {i["IndexName"] for i in described.get("GlobalSecondaryIndexes", [])} == expected_indexes
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        ttl = table.properties.get("TimeToLiveSpecification")
        if ttl:
            described_ttl = stack.dynamodb.describe_time_to_live(TableName=table.name)[
                "TimeToLiveDescription"
            ]
            assert described_ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": ttl["AttributeName"]}


def test_queues_of_the_template_exist_with_its_redrive_policy(stack: Stack, template: LocalTemplate) -> None:
    for queue in template.queues.values():
        attributes = stack.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
        assert attributes["QueueArn"] == queue.arn
        assert attributes["VisibilityTimeout"] == str(queue.properties.get("VisibilityTimeout", 30))
        assert attributes["MessageRetentionPeriod"] == str(queue.properties["MessageRetentionPeriod"])
        if queue.redrive_policy:
            assert json.loads(attributes["RedrivePolicy"]) == queue.redrive_policy
        else:
            assert "RedrivePolicy" not in attributes
    transcripts = template.queue_by_url(stack.transcripts_queue_url)
    dead_letters = template.dead_letter_queue(transcripts)
    assert dead_letters is not None and dead_letters.url == stack.dlq_url


def test_invalid_transcript_fails_extraction_and_lands_in_the_dlq_intact(
    stack: Stack, template: LocalTemplate
) -> None:
    policy = template.queue_by_url(stack.transcripts_queue_url).redrive_policy
    assert policy is not None
    body = json.dumps({"this is": "not a transcript envelope"})
    attributes = {"origin": {"DataType": "String", "StringValue": "integration-test"}}
    sent = stack.sqs.send_message(
        QueueUrl=stack.transcripts_queue_url, MessageBody=body, MessageAttributes=attributes
    )
    # Three failed deliveries, each retried after RETRY_DELAY_SECONDS, plus the batching window.
    deadline = time.monotonic() + 60
    found = None
    while found is None and time.monotonic() < deadline:
        reply = stack.sqs.receive_message(
            QueueUrl=stack.dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        found = next((m for m in reply.get("Messages", []) if m["MessageId"] == sent["MessageId"]), None)
    assert found is not None, f"not in the DLQ after 60 s; poller log:\n{log_tail(STATE_DIR, 'poller')}"
    assert found["Body"] == body
    assert found["MessageAttributes"] == attributes
    # Delivered to extract maxReceiveCount times (each failed), then moved on the next receive.
    assert int(found["Attributes"]["ApproximateReceiveCount"]) > policy["maxReceiveCount"]
    left = stack.sqs.get_queue_attributes(
        QueueUrl=stack.transcripts_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert left == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


def _gone(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # this process started them: reap, so they are not zombies
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


LOAD_REQUESTS = 300


def test_under_load_every_request_is_answered_and_no_environment_serves_two_at_once(stack: Stack) -> None:
    """A burst of concurrent requests over several routes of the api function: Lambda would answer
    each (one invocation per execution environment); the threads of one process sharing Powertools'
    resolver answered 502 (`KeyError: '_route'`)."""
    user = f"load-{uuid.uuid4().hex[:6]}"
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/v1/users/{user}/profile", None),
        ("GET", f"/v1/users/{user}/memories", None),
        (
            "POST",
            f"/v1/users/{user}/memories",
            {"layer": "knowledge", "content": "Works on the billing service"},
        ),
        ("GET", "/v1/config", None),
        ("GET", "/v1/tools", None),
    ]

    def call(index: int) -> int:
        method, path, body = requests[index % len(requests)]
        with httpx.Client(base_url=stack.api_url, headers=stack.auth(), timeout=300) as http:
            return http.request(method, path, json=body).status_code

    assert call(2) == 201 and call(0) == 200  # the user exists before the burst: no 404 by design

    with ThreadPoolExecutor(max_workers=60) as pool:
        statuses = Counter(pool.map(call, range(LOAD_REQUESTS)))
    assert statuses == Counter({200: LOAD_REQUESTS * 4 // 5, 201: LOAD_REQUESTS // 5}), statuses
    # The api function never ran in more environments than its concurrency allows (each a process).
    log = (stack.info.state_dir / "api.log").read_text()
    environments = set(re.findall(r"ApiFunction: new execution environment \(pid (\d+)\)", log))
    assert 1 <= len(environments) <= int(stack.info.process_env.get("LM_LOCAL_CONCURRENCY", "2"))


def test_down_stops_every_process(stack: Stack, stack_manager: StackManager) -> None:
    pids = [pid for pid in stack_status(STATE_DIR).values() if pid is not None]
    assert len(pids) == 3
    result = stack_cli("down")
    stack_manager.current = None  # a later module gets a fresh stack
    assert result.returncode == 0, result.stderr
    assert all(_gone(pid) for pid in pids)
    assert not _listening(MOTO_PORT) and not _listening(API_PORT)
    assert stack_status(STATE_DIR) == {"moto": None, "api": None, "poller": None}
    assert not list(STATE_DIR.glob("*.pid"))
    assert "nothing was running" in stack_cli("down").stdout
