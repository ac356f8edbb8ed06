"""The SAM template: cfn-lint clean, the bar of the design, and dependencies kept in step."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from local.template import Resolver, load_yaml

ROOT = Path(__file__).resolve().parents[2]


def test_cfn_lint_reports_nothing() -> None:
    lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(lint), str(ROOT / "template.yaml")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_tables_have_pitr_and_encryption_and_the_queue_a_dlq_with_an_alarm() -> None:
    resources = load_yaml(ROOT / "template.yaml")["Resources"]
    tables = [r for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert len(tables) == 3
    for table in tables:
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["SSESpecification"]["SSEEnabled"] is True
    queue = resources["TranscriptsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["TranscriptsDeadLetterQueue", "Arn"]
    }
    alarm = resources["DeadLetterDepthAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["TranscriptsDeadLetterQueue", "QueueName"]}
    extract = resources["ExtractFunction"]["Properties"]["Events"]["Transcripts"]["Properties"]
    assert extract["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_queue_has_a_dlq_with_an_alarm_and_curate_its_schedule() -> None:
    resources = load_yaml(ROOT / "template.yaml")["Resources"]
    for queue, dlq in (
        ("TranscriptsQueue", "TranscriptsDeadLetterQueue"),
        ("CurationQueue", "CurationDeadLetterQueue"),
    ):
        assert resources[queue]["Properties"]["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
            "maxReceiveCount": 3,
        }
        alarms = [
            r
            for r in resources.values()
            if r["Type"] == "AWS::CloudWatch::Alarm"
            and r["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq, "QueueName"]}
        ]
        assert len(alarms) == 1
    curate = resources["CurateFunction"]["Properties"]
    events = curate["Events"]
    assert events["Schedule"] == {
        "Type": "Schedule",
        "Properties": {
            "Schedule": "rate(1 hour)",
            "Description": events["Schedule"]["Properties"]["Description"],
        },
    }
    assert events["Slices"]["Properties"]["BatchSize"] == 1
    # A slice that dies is delivered again only after its lease (the function's timeout) is over.
    assert resources["CurationQueue"]["Properties"]["VisibilityTimeout"] > curate["Timeout"]
    routes = {
        (e["Properties"]["Path"], e["Properties"]["Method"]) for e in events.values() if e["Type"] == "Api"
    }
    assert routes == {
        ("/v1/curate", "post"),
        ("/v1/curate/{job_id}", "get"),
        ("/v1/curate/{job_id}/undo", "post"),
    }


def test_no_function_gets_wildcard_permissions() -> None:
    resources = load_yaml(ROOT / "template.yaml")["Resources"]
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies", []):
            statements = policy.get("Statement", []) if isinstance(policy, dict) else []
            for statement in statements:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert not [a for a in actions if a.endswith("*")], name
                assert statement.get("Resource") != "*", name


def test_layer_requirements_match_the_package_dependencies() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (ROOT / "layers" / "dependencies" / "requirements.txt").read_text().splitlines()
    layer = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert sorted(layer) == sorted(declared)


class StackResolver(Resolver):
    """The template's intrinsics as CloudFormation evaluates them in one stack, with given parameters."""

    def __init__(self, stack_uuid: str, **parameters: str) -> None:
        super().__init__(load_yaml(ROOT / "template.yaml"), "http://127.0.0.1:5000", {})
        self.parameters.update(parameters)
        self.stack_id = f"arn:aws:cloudformation:us-east-1:123456789012:stack/learning-machine/{stack_uuid}"

    def ref(self, name: str) -> Any:
        return self.stack_id if name == "AWS::StackId" else super().ref(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id.endswith("FunctionRole"):  # SAM makes each function's role
            return f"arn:aws:iam::123456789012:role/{logical_id}"
        return super().get_att(logical_id, attribute)

    def names(self) -> dict[str, str]:
        resources = load_yaml(ROOT / "template.yaml")["Resources"]
        return {
            logical_id: self.resolve(resources[logical_id]["Properties"]["Name"])
            for logical_id in (
                "KnowledgeCollection",
                "KnowledgeCollectionGroup",
                "KnowledgeEncryptionPolicy",
                "KnowledgeNetworkPolicy",
                "KnowledgeAccessPolicy",
            )
        }


# OpenSearch Serverless: collection and policy names are 3-32 characters, [a-z][a-z0-9-]+
# (CreateCollection, CreateSecurityPolicy, CreateAccessPolicy API references).
SERVERLESS_NAME = re.compile(r"^[a-z][a-z0-9-]{2,31}$")


def test_collection_and_policy_names_fit_opensearch_serverless_for_every_allowed_name() -> None:
    pattern = re.compile(load_yaml(ROOT / "template.yaml")["Parameters"]["CollectionName"]["AllowedPattern"])
    longest = "k" * 25
    assert pattern.match(longest) and not pattern.match(longest + "k") and pattern.match("")
    for given in ("", "abc", longest):
        names = StackResolver("0f1e2d3c-aaaa-bbbb-cccc-000000000000", CollectionName=given).names()
        assert all(SERVERLESS_NAME.match(name) for name in names.values()), names
        collection = names["KnowledgeCollection"]
        assert collection == (given or "lm-0f1e2d3c")
        assert names["KnowledgeAccessPolicy"] == f"{collection}-access"
        assert names["KnowledgeCollectionGroup"] == collection  # NextGen: the group the collection joins


def test_two_stacks_with_default_parameters_get_different_collection_names() -> None:
    first = StackResolver("a1b2c3d4-0000-0000-0000-000000000000").names()
    second = StackResolver("e5f6a7b8-0000-0000-0000-000000000000").names()
    assert not set(first.values()) & set(second.values())


def test_the_access_policy_and_collection_name_the_same_collection() -> None:
    resolver = StackResolver("0f1e2d3c-aaaa-bbbb-cccc-000000000000")
    resources = load_yaml(ROOT / "template.yaml")["Resources"]
    access = json.loads(resolver.resolve(resources["KnowledgeAccessPolicy"]["Properties"]["Policy"]))
    encryption = json.loads(resolver.resolve(resources["KnowledgeEncryptionPolicy"]["Properties"]["Policy"]))
    assert access[0]["Rules"][0]["Resource"] == ["index/lm-0f1e2d3c/*"]
    assert encryption["Rules"][0]["Resource"] == ["collection/lm-0f1e2d3c"]


def test_standby_replicas_are_a_parameter() -> None:
    template = load_yaml(ROOT / "template.yaml")
    collection = template["Resources"]["KnowledgeCollection"]["Properties"]
    assert collection["StandbyReplicas"] == {"Ref": "CollectionStandbyReplicas"}
    assert template["Parameters"]["CollectionStandbyReplicas"]["AllowedValues"] == ["ENABLED", "DISABLED"]


def test_managed_flavour_refuses_an_empty_domain_before_creating_anything() -> None:
    template = load_yaml(ROOT / "template.yaml")
    rule = template["Rules"]["ManagedDomainIsNamed"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "KnowledgeIndexFlavour"}, "managed"]}
    asserted = [assertion["Assert"] for assertion in rule["Assertions"]]
    for parameter in ("ManagedDomainEndpoint", "ManagedDomainArn"):
        assert {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]} in asserted
    arn = re.compile(template["Parameters"]["ManagedDomainArn"]["AllowedPattern"])
    assert arn.match("arn:aws:es:eu-west-1:123456789012:domain/knowledge")
    assert not arn.match("arn:aws:es:eu-west-1:123456789012:domain/")


def test_cloudwatch_may_use_the_key_of_the_alarm_topic() -> None:
    resources = load_yaml(ROOT / "template.yaml")["Resources"]
    key_ref = resources["DeadLetterAlarmTopic"]["Properties"]["KmsMasterKeyId"]
    # alias/aws/sns's key policy admits no service principal: CloudWatch's publish would fail.
    assert isinstance(key_ref, dict) and resources[key_ref["Ref"]]["Type"] == "AWS::KMS::Key"
    statements = resources[key_ref["Ref"]]["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1
    assert set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    for alarm in ("DeadLetterDepthAlarm", "CurationDeadLetterAlarm"):
        assert resources[alarm]["Properties"]["AlarmActions"] == [{"Ref": "DeadLetterAlarmTopic"}]
