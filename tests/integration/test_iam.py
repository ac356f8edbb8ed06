"""IAM in the local stack: each function runs with its own role, as template.yaml defines it after the
SAM transform, and the moto server enforces it (local/iam.py, local/moto_server.py).

A permission the template lacks fails here the way it fails in AWS: the boto3 call raises
AccessDeniedException inside the handler. With a model key in Secrets Manager (ModelApiKeySecretArn),
every function that embeds must be able to read it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import yaml
from botocore.exceptions import ClientError

from local.api_server import LocalApi
from local.iam import RoleCredentials, ensure_roles, function_roles
from local.template import DEFAULT_TEMPLATE, REGION, LocalTemplate, load_yaml
from tests.fakes.openai_server import FakeOpenAIServer
from tests.integration.conftest import Stack, StackManager, fake_model_env, wait_for

pytestmark = pytest.mark.integration

SECRET_VALUE = f"sk-local-{uuid.uuid4().hex}"
# What each function's code does with the model key: it embeds (queries, memories, knowledge) or,
# for extract, also calls the model.
FUNCTIONS_THAT_EMBED = (
    "ApiFunction",
    "GetContextFunction",
    "SearchFunction",
    "CurateFunction",
    "ExtractFunction",
)


@pytest.fixture(scope="module")
def stack_extra_env(fake_model: FakeOpenAIServer) -> dict[str, str]:
    return fake_model_env(fake_model)


@pytest.fixture(scope="module")
def secret_stack(stack_manager: StackManager, stack: Stack, fake_model: FakeOpenAIServer) -> Stack:
    """The stack as a deployment with ModelApiKeySecretArn runs: the key only in Secrets Manager."""
    secrets = admin_client(stack, "secretsmanager")
    arn = secrets.create_secret(Name=f"lm-model-key-{uuid.uuid4().hex[:8]}", SecretString=SECRET_VALUE)["ARN"]
    return stack_manager.restart_functions({**fake_model_env(fake_model), "LM_LLM_API_KEY_SECRET": arn})


def admin_client(stack: Stack, service: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=stack.moto_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def local_template(stack: Stack, path: Path = DEFAULT_TEMPLATE) -> LocalTemplate:
    return LocalTemplate.load(path, endpoint_url=stack.moto_url, env=stack.info.process_env)


def as_function(stack: Stack, function: str, service: str) -> Any:
    """A boto3 client holding the credentials the stack gives `function` (its role's)."""
    template = local_template(stack)
    return RoleCredentials(stack.moto_url, function_roles(template.path, template.parameters)).client(
        function, service
    )


def denied(call: Callable[[], Any]) -> str:
    """The AccessDenied message of a call that must be refused."""
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    assert error["Code"] in ("AccessDeniedException", "AccessDenied"), error
    return str(error["Message"])


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=60, headers=stack.auth()) as http:
        yield http


def test_each_function_has_the_role_sam_would_create(stack: Stack) -> None:
    iam = admin_client(stack, "iam")
    template = local_template(stack)
    roles = function_roles(template.path, template.parameters)
    assert set(roles) == set(template.functions)
    for role in roles.values():
        names = iam.list_role_policies(RoleName=role.name)["PolicyNames"]
        assert sorted(names) == sorted(role.policies), role.function
        for name, document in role.policies.items():
            stored = iam.get_role_policy(RoleName=role.name, PolicyName=name)["PolicyDocument"]
            assert stored["Statement"] == document["Statement"], (role.function, name)
        attached = {
            p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role.name)["AttachedPolicies"]
        }
        assert attached == set(role.managed_policy_arns)  # SAM's: logs, X-Ray, SQS polling


def test_a_call_the_role_does_not_grant_is_denied_as_in_aws(stack: Stack) -> None:
    keys_table = stack.env["LM_KEYS_TABLE"]
    authorizer = as_function(stack, "AuthorizerFunction", "dynamodb")
    authorizer.get_item(TableName=keys_table, Key={"key_hash": {"S": "none"}})  # granted
    message = denied(lambda: authorizer.put_item(TableName=keys_table, Item={"key_hash": {"S": "forged"}}))
    assert "assumed-role/learning-machine-local-AuthorizerFunctionRole/" in message
    assert (
        f"dynamodb:PutItem on resource: arn:aws:dynamodb:{REGION}:123456789012:table/{keys_table}" in message
    )
    # Resources are checked too: GetItem is granted on the keys table only.
    denied(
        lambda: authorizer.get_item(
            TableName=stack.env["LM_DATA_TABLE"], Key={"pk": {"S": "x"}, "sk": {"S": "x"}}
        )
    )
    context = as_function(stack, "GetContextFunction", "sqs")
    denied(lambda: context.send_message(QueueUrl=stack.transcripts_queue_url, MessageBody="{}"))


def test_the_poller_consumes_with_the_functions_role_and_batch_calls_need_the_single_actions(
    stack: Stack,
) -> None:
    """Lambda polls with the execution role (SAM's AWSLambdaSQSQueueExecutionRole: Receive, Delete,
    GetQueueAttributes); a batch call is authorized as its single-message action."""
    marker = uuid.uuid4().hex
    admin_client(stack, "sqs").send_message(QueueUrl=stack.dlq_url, MessageBody=marker)
    extract = as_function(stack, "ExtractFunction", "sqs")

    def received() -> list[dict[str, Any]]:
        messages = extract.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [m for m in messages.get("Messages", []) if m["Body"] == marker]

    (message,) = wait_for(received, "the marker message")
    entry = {"Id": "0", "ReceiptHandle": message["ReceiptHandle"]}
    reply = extract.delete_message_batch(QueueUrl=stack.dlq_url, Entries=[entry])
    assert [item["Id"] for item in reply.get("Successful", [])] == ["0"]
    # No SQS event source, no poller policy: get_context may not consume.
    context = as_function(stack, "GetContextFunction", "sqs")
    assert "sqs:ReceiveMessage" in denied(lambda: context.receive_message(QueueUrl=stack.dlq_url))


def test_an_action_removed_from_the_template_fails_the_route_that_needs_it(
    stack: Stack, client: httpx.Client, tmp_path: Path
) -> None:
    """A copy of template.yaml without ApiFunction's dynamodb:Query, deployed to the running stack."""
    document = load_yaml(DEFAULT_TEMPLATE)
    statement = document["Resources"]["ApiFunction"]["Properties"]["Policies"][0]["Statement"][0]
    statement["Action"].remove("dynamodb:Query")
    copy = tmp_path / "template.yaml"
    copy.write_text(yaml.safe_dump(document, sort_keys=False))
    template = local_template(stack)
    iam = admin_client(stack, "iam")
    user = f"iam-{uuid.uuid4().hex[:6]}"
    assert client.get(f"/v1/users/{user}/memories").status_code == 200
    ensure_roles(iam, {"ApiFunction": function_roles(copy, template.parameters)["ApiFunction"]})
    try:
        assert client.get(f"/v1/users/{user}/memories").status_code == 502
        log = (stack.info.state_dir / "api.log").read_text()
        assert "AccessDeniedException" in log
        assert "not authorized to perform: dynamodb:Query on resource" in log
    finally:
        ensure_roles(iam, {"ApiFunction": function_roles(template.path, template.parameters)["ApiFunction"]})
    assert client.get(f"/v1/users/{user}/memories").status_code == 200


def test_extract_may_batch_write_as_entity_relate_and_the_index_outbox_do(stack: Stack) -> None:
    extract = as_function(stack, "ExtractFunction", "dynamodb")
    item = {"pk": {"S": f"iam-probe#{uuid.uuid4().hex}"}, "sk": {"S": "probe"}}
    table = stack.env["LM_DATA_TABLE"]
    extract.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}}]})
    extract.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": item}}]})


def test_a_transcript_that_relates_entities_is_learned(stack: Stack, client: httpx.Client) -> None:
    """Entity `relate` writes both ends of the edge with a batch writer inside extract."""
    user = f"iam-{uuid.uuid4().hex[:6]}"
    body = {
        "user_id": user,
        "session_id": f"s-{user}",
        "messages": [{"role": "user", "content": "link Ada works_at Acme"}],
    }
    transcript_id = client.post("/v1/transcripts", json=body).json()["transcript_id"]

    def finished() -> dict[str, Any] | None:
        status = client.get(f"/v1/transcripts/{transcript_id}").json()
        return status if status["status"] in ("done", "failed") else None

    status = wait_for(finished, f"transcript {transcript_id}")
    assert status["status"] == "done", status
    view = client.get("/v1/entities/Ada", params={"namespace": "user", "user_id": user})
    assert view.status_code == 200, view.text
    assert [(r["relation"], r["target_name"]) for r in view.json()["relationships"]] == [("works_at", "Acme")]


@pytest.mark.parametrize("function", FUNCTIONS_THAT_EMBED)
def test_every_function_that_embeds_may_read_the_model_key(secret_stack: Stack, function: str) -> None:
    arn = secret_stack.extra_env["LM_LLM_API_KEY_SECRET"]
    secrets = as_function(secret_stack, function, "secretsmanager")
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == SECRET_VALUE


def test_a_function_that_does_not_embed_may_not_read_the_model_key(secret_stack: Stack) -> None:
    arn = secret_stack.extra_env["LM_LLM_API_KEY_SECRET"]
    secrets = as_function(secret_stack, "AuthorizerFunction", "secretsmanager")
    assert "secretsmanager:GetSecretValue" in denied(lambda: secrets.get_secret_value(SecretId=arn))


def test_with_the_key_in_secrets_manager_every_route_that_embeds_answers(
    secret_stack: Stack, fake_model: FakeOpenAIServer
) -> None:
    user = f"iam-{uuid.uuid4().hex[:6]}"
    fake_model.bearer_tokens.clear()
    with httpx.Client(base_url=secret_stack.api_url, timeout=60, headers=secret_stack.auth()) as http:
        memory = {"content": "Prefers tea over coffee", "layer": "policies"}
        saved = http.post(f"/v1/users/{user}/memories", json=memory)
        assert saved.status_code == 201, saved.text
        knowledge = {"title": "Tea", "content": "Green tea steeps at 80 C", "namespace": "global"}
        assert http.post("/v1/knowledge", json=knowledge).status_code in (200, 201)
        found = http.post("/v1/search", json={"query": "what does the user drink", "user_id": user})
        assert found.status_code == 200, found.text
        context = http.get(
            "/v1/context", params={"user_id": user, "session_id": f"s-{user}", "query": "drinks"}
        )
        assert context.status_code == 200, context.text
        body = {
            "user_id": user,
            "session_id": f"s-{user}",
            "messages": [{"role": "user", "content": "entity Tea (thing): hot"}],
        }
        transcript_id = http.post("/v1/transcripts", json=body).json()["transcript_id"]

        def finished() -> dict[str, Any] | None:
            status = http.get(f"/v1/transcripts/{transcript_id}").json()
            return status if status["status"] in ("done", "failed") else None

        assert wait_for(finished, f"transcript {transcript_id}")["status"] == "done"
    # The key the functions presented to the model endpoint is the secret's: they read it.
    assert fake_model.bearer_tokens == {SECRET_VALUE}


def test_every_route_runs_within_its_function_role(secret_stack: Stack) -> None:
    """Every route of the template, with data behind it, as a deployment with a model secret runs it:
    no 5xx, and no AccessDenied anywhere in the functions' logs (a handler that turned one into a 4xx
    would still show it there)."""
    user, session = f"sweep-{uuid.uuid4().hex[:6]}", f"s-{uuid.uuid4().hex[:6]}"
    owner = {"user_id": user}
    answers: list[tuple[str, str, int]] = []
    key = secret_stack.new_tenant_key(f"sweep-{uuid.uuid4().hex[:6]}")
    with httpx.Client(base_url=secret_stack.api_url, timeout=120, headers=secret_stack.auth(key)) as http:

        def call(method: str, path: str, **kwargs: Any) -> Any:
            reply = http.request(method, path, **kwargs)
            answers.append((method, path, reply.status_code))
            return (
                reply.json()
                if reply.content and reply.headers.get("content-type", "").startswith("application/json")
                else None
            )

        lines = [
            "entity Falcon (project): runs on Postgres",
            "link Falcon depends_on Kafka",
            "remember knowledge: likes tea",
        ]
        body = {
            **owner,
            "session_id": session,
            "messages": [{"role": "user", "content": line} for line in lines],
        }
        transcript_id = call("POST", "/v1/transcripts", json=body)["transcript_id"]
        wait_for(
            lambda: call("GET", f"/v1/transcripts/{transcript_id}")["status"] in ("done", "failed"),
            "learning",
        )
        assert call("GET", f"/v1/transcripts/{transcript_id}")["status"] == "done"
        call("GET", f"/v1/users/{user}/profile")
        call("PATCH", f"/v1/users/{user}/profile", json={"fields": {"name": "Ada"}})
        memory_id = call(
            "POST", f"/v1/users/{user}/memories", json={"layer": "knowledge", "content": "Uses vim"}
        )["memory_id"]
        call("GET", f"/v1/users/{user}/memories")
        call("PATCH", f"/v1/users/{user}/memories/{memory_id}", json={"content": "Uses neovim"})
        call("GET", f"/v1/users/{user}/memories/{memory_id}/history")
        call("GET", "/v1/users")
        call("GET", f"/v1/users/{user}/export")
        call("GET", f"/v1/sessions/{session}/context")
        config = call("GET", "/v1/config")
        call("PUT", "/v1/config", json=config.get("config", config))
        call("GET", "/v1/tools")
        call(
            "POST",
            "/v1/tools/call",
            json={
                "name": "search_entities",
                "arguments": {"query": "Falcon"},
                **owner,
                "session_id": session,
            },
        )
        call("POST", "/v1/entities", json={"name": "Heron", "description": "A second project", **owner})
        call("GET", "/v1/entities", params=owner)
        call("GET", "/v1/entities/search", params={"query": "Falcon", **owner})
        call("POST", "/v1/entities/Heron/facts", params=owner, json={"facts": ["Written in Go"]})
        view = call("GET", "/v1/entities/Heron", params=owner)
        fact_id = view["entity"]["facts"][0]["fact_id"]
        call("DELETE", f"/v1/entities/Heron/facts/{fact_id}", params=owner)
        call("POST", "/v1/entities/Heron/events", params=owner, json={"events": [{"content": "Launched"}]})
        call(
            "POST",
            "/v1/entities/Heron/relationships",
            params=owner,
            json={"relationships": [{"relation": "uses", "target": "Kafka"}]},
        )
        call("DELETE", "/v1/entities/Heron", params=owner)
        call("POST", "/v1/knowledge", json={"title": "Tea", "content": "Green tea steeps at 80 C"})
        call("GET", "/v1/knowledge")
        call(
            "POST",
            "/v1/knowledge/import",
            json={
                "items": [{"item_id": "i1", "title": "Kafka", "content": "Kafka keeps order per partition"}]
            },
        )
        first = call("POST", "/v1/knowledge/proposals", json={"title": "Idea", "content": "Cache the config"})
        second = call("POST", "/v1/knowledge/proposals", json={"title": "Other", "content": "Drop the cache"})
        call("GET", "/v1/knowledge/proposals")
        call("POST", f"/v1/knowledge/proposals/{first['insight_id']}/approve", json={})
        call("POST", f"/v1/knowledge/proposals/{second['insight_id']}/reject", json={"reason": "no"})
        call(
            "GET", "/v1/context", params={**owner, "session_id": session, "query": "what does Falcon run on"}
        )
        call("POST", "/v1/search", json={"query": "Falcon database", **owner})
        job_id = call("POST", "/v1/curate", json=owner)["job_id"]
        wait_for(
            lambda: call("GET", f"/v1/curate/{job_id}")["job"]["status"] in ("done", "failed"), "curation"
        )
        assert call("GET", f"/v1/curate/{job_id}")["job"]["status"] == "done"
        call("POST", f"/v1/curate/{job_id}/undo")
        call("DELETE", f"/v1/users/{user}/memories/{memory_id}")
        call("DELETE", f"/v1/users/{user}")
        call("GET", "/v1/openapi.json")
        call("GET", "/v1/usage")
    logs = {name: (secret_stack.info.state_dir / f"{name}.log").read_text() for name in ("api", "poller")}
    denials = [line for text in logs.values() for line in text.splitlines() if "AccessDenied" in line]
    assert not denials, denials[:5]
    assert [answer for answer in answers if answer[2] >= 400] == []  # every call did its work
    template = local_template(secret_stack)
    matcher = LocalApi(template, runtime=None).url_map.bind("localhost")  # type: ignore[arg-type]
    covered = {template.routes[matcher.match(path, method)[0]] for method, path, _ in answers}
    assert covered == set(template.routes)  # every route of the template was called
