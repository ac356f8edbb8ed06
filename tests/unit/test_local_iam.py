"""Each function's role as SAM translates template.yaml (local/iam.py), and what the moto server authorizes
a DynamoDB request on (local/moto_server.py)."""

from __future__ import annotations

from typing import Any

import pytest

from local.iam import FunctionRole, function_roles
from local.moto_server import dynamodb_permissions
from local.template import DEFAULT_TEMPLATE, LocalTemplate

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lm-model-key-AbCdEf"
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/{}"
EMBEDDING_FUNCTIONS = {
    "ApiFunction",
    "GetContextFunction",
    "SearchFunction",
    "CurateFunction",
    "ExtractFunction",
}


def roles(env: dict[str, str] | None = None) -> dict[str, FunctionRole]:
    template = LocalTemplate.load(DEFAULT_TEMPLATE, endpoint_url="http://127.0.0.1:1", env=env or {})
    return function_roles(template.path, template.parameters)


def grants(role: FunctionRole) -> set[tuple[str, str]]:
    """(action, resource) pairs the role's inline policies allow."""
    found: set[tuple[str, str]] = set()
    for document in role.policies.values():
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            found |= {(action, resource) for action in actions for resource in resources}
    return found


@pytest.fixture(scope="module")
def default_roles() -> dict[str, FunctionRole]:
    return roles()


@pytest.fixture(scope="module")
def secret_roles() -> dict[str, FunctionRole]:
    return roles({"LM_LLM_API_KEY_SECRET": SECRET_ARN})


def test_every_function_gets_the_role_and_managed_policies_sam_generates(
    default_roles: dict[str, FunctionRole],
) -> None:
    assert set(default_roles) == {
        "AuthorizerFunction",
        "ApiFunction",
        "GetContextFunction",
        "SearchFunction",
        "CurateFunction",
        "ExtractFunction",
    }
    for role in default_roles.values():
        assert role.logical_id == f"{role.function}Role"
        assert "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole" in role.managed_policy_arns
    # The SQS event sources: SAM attaches the poller's managed policy to these two only.
    sqs = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
    assert {f for f, role in default_roles.items() if sqs in role.managed_policy_arns} == {
        "CurateFunction",
        "ExtractFunction",
    }


def test_intrinsics_resolve_to_the_local_resources(default_roles: dict[str, FunctionRole]) -> None:
    api = grants(default_roles["ApiFunction"])
    assert ("dynamodb:Query", TABLE_ARN.format("DataTable")) in api
    assert ("dynamodb:Query", TABLE_ARN.format("DataTable") + "/index/*") in api
    assert ("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:TranscriptsQueue") in api
    assert grants(default_roles["AuthorizerFunction"]) == {
        ("dynamodb:GetItem", TABLE_ARN.format("ApiKeysTable"))
    }


def test_extract_may_batch_write_the_data_table(default_roles: dict[str, FunctionRole]) -> None:
    """Entity relate and the index outbox write through boto3's batch_writer (issue 12, item 3)."""
    assert ("dynamodb:BatchWriteItem", TABLE_ARN.format("DataTable")) in grants(
        default_roles["ExtractFunction"]
    )


def test_with_a_model_secret_every_function_that_embeds_may_read_it_and_no_other(
    secret_roles: dict[str, FunctionRole],
) -> None:
    """The HasModelSecret condition, resolved from LM_LLM_API_KEY_SECRET (issue 12, item 2)."""
    readers = {
        f for f, role in secret_roles.items() if ("secretsmanager:GetSecretValue", SECRET_ARN) in grants(role)
    }
    assert readers == EMBEDDING_FUNCTIONS


def test_without_a_model_secret_no_function_may_read_secrets(default_roles: dict[str, FunctionRole]) -> None:
    assert not any(
        action.startswith("secretsmanager:") for role in default_roles.values() for action, _ in grants(role)
    )


@pytest.mark.parametrize(
    ("action", "body", "expected"),
    [
        ("GetItem", {"TableName": "T"}, [("GetItem", TABLE_ARN.format("T"))]),
        (
            "Query",
            {"TableName": "T", "IndexName": "gsi1"},
            [("Query", TABLE_ARN.format("T") + "/index/gsi1")],
        ),
        (
            "BatchWriteItem",
            {"RequestItems": {"A": [], "B": []}},
            [("BatchWriteItem", TABLE_ARN.format("A")), ("BatchWriteItem", TABLE_ARN.format("B"))],
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": "A"}},
                    {"Update": {"TableName": "B"}},
                    {"Delete": {"TableName": "A"}},
                    {"ConditionCheck": {"TableName": "B"}},
                ]
            },
            [
                ("PutItem", TABLE_ARN.format("A")),
                ("UpdateItem", TABLE_ARN.format("B")),
                ("DeleteItem", TABLE_ARN.format("A")),
                ("ConditionCheckItem", TABLE_ARN.format("B")),
            ],
        ),
        (
            "TransactGetItems",
            {"TransactItems": [{"Get": {"TableName": "A"}}]},
            [("GetItem", TABLE_ARN.format("A"))],
        ),
        ("ListTables", {}, [("ListTables", "*")]),
    ],
)
def test_dynamodb_requests_are_authorized_on_what_dynamodb_checks(
    action: str, body: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert dynamodb_permissions(action, body, "us-east-1", "123456789012") == expected
