"""The SAM template: cfn-lint clean, the bar of the design, and dependencies kept in step."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from local.template import load_yaml

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
