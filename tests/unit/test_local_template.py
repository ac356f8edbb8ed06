"""local/template.py: template.yaml is the one source of the local stack's tables, queues and routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from local.template import (
    ACCOUNT_ID,
    DEFAULT_TEMPLATE,
    MIN_TIMEOUT_VARIABLE,
    REGION,
    LocalTemplate,
    Resolver,
    load_yaml,
)

ENDPOINT = "http://127.0.0.1:5999"


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return load_yaml(DEFAULT_TEMPLATE)


@pytest.fixture(scope="module")
def template() -> LocalTemplate:
    return LocalTemplate.load(endpoint_url=ENDPOINT, env={})


def resources_of(raw: dict[str, Any], kind: str) -> set[str]:
    return {name for name, resource in raw["Resources"].items() if resource["Type"] == kind}


def test_short_form_tags_become_long_form(raw: dict[str, Any]) -> None:
    globals_env = raw["Globals"]["Function"]["Environment"]["Variables"]
    assert globals_env["LM_DATA_TABLE"] == {"Ref": "DataTable"}
    redrive = raw["Resources"]["TranscriptsQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["TranscriptsDeadLetterQueue", "Arn"]}
    assert raw["Conditions"]["HasModelSecret"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ModelApiKeySecretArn"}, ""]}]
    }


def test_plain_safe_loader_rejects_the_template() -> None:
    # The reason for CfnLoader: PyYAML's SafeLoader knows no !Ref.
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load(DEFAULT_TEMPLATE.read_text())


def test_tables_and_queues_are_every_one_of_the_template(
    template: LocalTemplate, raw: dict[str, Any]
) -> None:
    assert set(template.tables) == resources_of(raw, "AWS::DynamoDB::Table")
    assert set(template.queues) == resources_of(raw, "AWS::SQS::Queue")
    data = template.tables["DataTable"]
    assert data.name == "DataTable"
    assert data.properties["KeySchema"] == raw["Resources"]["DataTable"]["Properties"]["KeySchema"]
    # Retention of learned data is curation's (recorded, undoable), so the data table has no TTL; the
    # idempotency table's TTL attribute is the one Powertools' idempotency writes (`expiration`).
    assert "TimeToLiveSpecification" not in data.properties
    idempotency = template.tables["IdempotencyTable"].properties
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_queue_urls_arns_and_redrive_resolve_to_moto(template: LocalTemplate) -> None:
    queue = template.queues["TranscriptsQueue"]
    assert queue.url == f"{ENDPOINT}/{ACCOUNT_ID}/TranscriptsQueue"
    assert queue.arn == f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:TranscriptsQueue"
    assert queue.redrive_policy == {
        "deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:TranscriptsDeadLetterQueue",
        "maxReceiveCount": 3,
    }
    dlq = template.dead_letter_queue(queue)
    assert dlq is not None and dlq.logical_id == "TranscriptsDeadLetterQueue"
    assert template.dead_letter_queue(dlq) is None
    assert queue.visibility_timeout == 720


def test_functions_merge_globals_with_their_own_settings(
    template: LocalTemplate, raw: dict[str, Any]
) -> None:
    assert set(template.functions) == resources_of(raw, "AWS::Serverless::Function")
    extract = template.functions["ExtractFunction"]
    assert extract.code_dir == DEFAULT_TEMPLATE.parent / "functions" / "extract"
    assert extract.module_file == extract.code_dir / "app.py"
    assert extract.handler_name == "lambda_handler"
    assert (extract.timeout, extract.memory_size) == (120, 1024)
    assert template.functions["ApiFunction"].timeout == 29
    env = extract.environment
    assert env["LM_DATA_TABLE"] == "DataTable"
    assert env["LM_KEYS_TABLE"] == "ApiKeysTable"
    assert env["LM_TRANSCRIPTS_QUEUE_URL"] == template.queues["TranscriptsQueue"].url
    assert env["LM_EMBEDDING_DIMENSION"] == "384"  # a Number parameter reaches Lambda as text
    assert env["LM_LLM_MODEL"] == "gpt-4o-mini"
    assert template.function_environment() == env


def test_model_parameters_follow_local_settings() -> None:
    env = {
        "LM_LLM_MODEL": "qwen2.5",
        "LM_LLM_BASE_URL": "http://127.0.0.1:8080/v1",
        "LM_LLM_API_KEY_SECRET": "s",
    }
    template = LocalTemplate.load(endpoint_url=ENDPOINT, env=env)
    assert template.parameters["ModelId"] == "qwen2.5"
    function_env = template.functions["ExtractFunction"].environment
    assert function_env["LM_LLM_MODEL"] == "qwen2.5"
    assert function_env["LM_LLM_BASE_URL"] == "http://127.0.0.1:8080/v1"
    assert function_env["LM_LLM_API_KEY_SECRET"] == "s"
    assert template.conditions["HasModelSecret"] is True


def test_routes_come_from_api_events(template: LocalTemplate, raw: dict[str, Any]) -> None:
    api_events = [
        event
        for name in resources_of(raw, "AWS::Serverless::Function")
        for event in (raw["Resources"][name]["Properties"].get("Events") or {}).values()
        if event["Type"] == "Api"
    ]
    assert len(template.routes) == len(api_events)
    by_key = {(route.method, route.path): route for route in template.routes}
    profile = by_key[("GET", "/v1/users/{user_id}/profile")]
    assert profile.function == "ApiFunction" and profile.authorized
    assert by_key[("GET", "/v1/context")].function == "GetContextFunction"
    assert not by_key[("GET", "/v1/openapi.json")].authorized  # Auth: Authorizer: NONE


def test_default_authorizer_and_its_cache_ttl(template: LocalTemplate) -> None:
    authorizer = template.default_authorizer
    assert authorizer is not None
    assert authorizer.function == "AuthorizerFunction"
    assert authorizer.header == "Authorization"
    assert authorizer.ttl_seconds == 300
    assert template.stage == "live"


def test_sqs_event_sources(template: LocalTemplate) -> None:
    extract, curate = sorted(template.sqs_event_sources, key=lambda s: s.function, reverse=True)
    assert extract.function == "ExtractFunction"
    assert extract.queue == "TranscriptsQueue"
    assert extract.batch_size == 5
    assert extract.reports_item_failures
    assert extract.batching_window_seconds == 2
    assert (curate.function, curate.queue, curate.batch_size) == ("CurateFunction", "CurationQueue", 1)
    assert curate.reports_item_failures


SNIPPET = """
Parameters:
  Stage: {Type: String, Default: dev}
  Secret: {Type: String, Default: ""}
Conditions:
  HasSecret: !Not [!Equals [!Ref Secret, ""]]
  IsDev: !Equals [!Ref Stage, dev]
Resources:
  Jobs: {Type: AWS::SQS::Queue}
  Things: {Type: AWS::DynamoDB::Table}
  Worker: {Type: AWS::Serverless::Function}
"""


@pytest.fixture
def resolver(tmp_path: Path) -> Resolver:
    path = tmp_path / "template.yaml"
    path.write_text(SNIPPET)
    return Resolver(load_yaml(path), ENDPOINT, {})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"Ref": "Things"}, "Things"),
        ({"Ref": "Jobs"}, f"{ENDPOINT}/{ACCOUNT_ID}/Jobs"),
        ({"Ref": "Stage"}, "dev"),
        ({"Ref": "AWS::Region"}, REGION),
        ({"Fn::GetAtt": ["Things", "Arn"]}, f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/Things"),
        ({"Fn::GetAtt": ["Jobs", "QueueName"]}, "Jobs"),
        ({"Fn::GetAtt": ["Worker", "Arn"]}, f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:Worker"),
        (
            {"Fn::Sub": "${Things.Arn}/index/*"},
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/Things/index/*",
        ),
        ({"Fn::Sub": "${Stage}-${AWS::AccountId}-${!Literal}"}, f"dev-{ACCOUNT_ID}-${{Literal}}"),
        ({"Fn::Sub": ["${Name}.x", {"Name": {"Ref": "Stage"}}]}, "dev.x"),
        ({"Fn::If": ["IsDev", "yes", "no"]}, "yes"),
        ({"Fn::If": ["HasSecret", "yes", "no"]}, "no"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}, "a-dev"),
        ([1, {"Fn::If": ["HasSecret", 2, {"Ref": "AWS::NoValue"}]}], [1]),
        ({"A": {"Fn::If": ["HasSecret", 2, {"Ref": "AWS::NoValue"}]}, "B": 1}, {"B": 1}),
    ],
)
def test_intrinsics_resolve_for_the_local_world(resolver: Resolver, expression: Any, expected: Any) -> None:
    assert resolver.resolve(expression) == expected


def test_short_form_snippet_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    lines = [
        "A: !GetAtt X.Arn",
        "B: !Sub '${X}'",
        "C: !If [Cond, !Ref Y, !Ref 'AWS::NoValue']",
        "D: !Split [',', 'a,b']",
    ]
    path.write_text("\n".join(lines) + "\n")
    assert load_yaml(path) == {
        "A": {"Fn::GetAtt": ["X", "Arn"]},
        "B": {"Fn::Sub": "${X}"},
        "C": {"Fn::If": ["Cond", {"Ref": "Y"}, {"Ref": "AWS::NoValue"}]},
        "D": {"Fn::Split": [",", "a,b"]},
    }


def test_a_local_floor_raises_short_function_timeouts_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIN_TIMEOUT_VARIABLE, "360")
    functions = LocalTemplate.load(endpoint_url=ENDPOINT, env={}).functions
    assert (functions["ExtractFunction"].timeout, functions["ApiFunction"].timeout) == (360, 360)
    monkeypatch.setenv(MIN_TIMEOUT_VARIABLE, "60")
    functions = LocalTemplate.load(endpoint_url=ENDPOINT, env={}).functions
    assert (functions["ExtractFunction"].timeout, functions["ApiFunction"].timeout) == (120, 60)
