"""`lm` aimed at a deployment never takes the local stack's settings, and says which world it used."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from learning_machine.adapters import dynamodb
from learning_machine.cli.main import main
from learning_machine.cli.target import AWS_TARGET_VARIABLES, use_api_settings
from learning_machine.stores.api_keys import hash_key

# A stand-in for the deployed stack: the outputs `lm` reads, and the resources they name.
STACK_TEMPLATE = {
    "Resources": {
        "Keys": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "prod-keys",
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "key_hash", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "key_hash", "KeyType": "HASH"}],
            },
        },
        "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "prod-dlq"}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "prod-transcripts"}},
    },
    "Outputs": {
        "ApiKeysTableName": {"Value": {"Ref": "Keys"}},
        "TranscriptsQueueUrl": {"Value": {"Ref": "Queue"}},
        "TranscriptsDeadLetterQueueUrl": {"Value": {"Ref": "Dlq"}},
    },
}
# What `make up` writes: moto's endpoint (unreachable here, so a call sent there fails loudly).
LOCAL_ENV = """# Written by `python -m local.stack up`
AWS_ENDPOINT_URL=http://127.0.0.1:9
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
LM_KEYS_TABLE=ApiKeysTable
LM_API_URL=http://127.0.0.1:3000
LM_API_KEY=lm_local
LM_TRANSCRIPTS_QUEUE_URL=http://127.0.0.1:9/123456789012/TranscriptsQueue
LM_TRANSCRIPTS_DLQ_URL=http://127.0.0.1:9/123456789012/TranscriptsDeadLetterQueue
"""
SHELL_VARIABLES = (
    *AWS_TARGET_VARIABLES,
    "AWS_SECRET_ACCESS_KEY",
    "LM_KEYS_TABLE",
    "LM_API_URL",
    "LM_API_KEY",
    "LM_TRANSCRIPTS_QUEUE_URL",
    "LM_TRANSCRIPTS_DLQ_URL",
)


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout where `make up` once ran, and a clean shell (whatever the test process had)."""
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "env").write_text(LOCAL_ENV)
    monkeypatch.chdir(tmp_path)
    for name in SHELL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    return tmp_path


@pytest.fixture
def deployed(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The deployer's account (moto in process), with the stack `lm-prod` in it."""
    with monkeypatch.context() as shell:
        shell.setenv("AWS_ACCESS_KEY_ID", "deployer")
        shell.setenv("AWS_SECRET_ACCESS_KEY", "deployer")
        with mock_aws():
            boto3.client("cloudformation").create_stack(
                StackName="lm-prod", TemplateBody=json.dumps(STACK_TEMPLATE)
            )
            dynamodb.table.cache_clear()
            dynamodb.resource.cache_clear()
            yield
    dynamodb.table.cache_clear()
    dynamodb.resource.cache_clear()


def prod_keys() -> list[dict]:
    return boto3.client("dynamodb").scan(TableName="prod-keys")["Items"]


def test_keys_create_with_stack_writes_to_the_stacks_table(
    deployed: None, capsys: pytest.CaptureFixture
) -> None:
    assert main(["keys", "create", "--tenant", "acme", "--stack", "lm-prod"]) == 0
    key = capsys.readouterr().out.strip()
    (item,) = prod_keys()
    assert item["key_hash"]["S"] == hash_key(key) and item["tenant_id"]["S"] == "acme"
    assert "AWS_ENDPOINT_URL" not in os.environ  # .local/env was never read


def test_a_shell_aimed_at_aws_is_not_filled_from_the_local_stacks_file(
    deployed: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The deploy guide's old step: LM_KEYS_TABLE exported; the file used to add moto's endpoint."""
    monkeypatch.setenv("LM_KEYS_TABLE", "prod-keys")
    assert main(["keys", "create", "--tenant", "acme"]) == 0
    captured = capsys.readouterr()
    assert len(prod_keys()) == 1
    assert "local stack" not in captured.err
    assert "AWS_ENDPOINT_URL" not in os.environ


def test_replay_with_stack_takes_the_queues_from_its_outputs(
    deployed: None, capsys: pytest.CaptureFixture
) -> None:
    sqs = boto3.client("sqs")
    dlq = sqs.get_queue_url(QueueName="prod-dlq")["QueueUrl"]
    for number in range(2):
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"transcript_id": f"tr_{number}"}))
    assert main(["replay", "--dry-run", "--stack", "lm-prod"]) == 0
    assert "2 transcripts in the DLQ would be replayed" in capsys.readouterr().out


def test_an_unknown_stack_is_named_in_the_error(deployed: None) -> None:
    with pytest.raises(SystemExit, match="--stack lm-missing"):
        main(["keys", "create", "--tenant", "acme", "--stack", "lm-missing"])


def test_local_says_so_and_takes_the_file_over_the_shell(
    checkout: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("LM_TRANSCRIPTS_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/prod")
    monkeypatch.setenv("LM_TRANSCRIPTS_DLQ_URL", "https://sqs.eu-west-1.amazonaws.com/1/prod-dlq")
    assert main(["replay", "--dry-run", "--local"]) == 1  # moto's endpoint is down: it was aimed there
    captured = capsys.readouterr()
    assert "lm: the local stack (http://127.0.0.1:9)" in captured.err
    assert "127.0.0.1:9" in captured.err + captured.out
    assert os.environ["LM_TRANSCRIPTS_QUEUE_URL"].startswith("http://127.0.0.1:9/")


def test_without_a_target_and_without_a_local_stack_the_error_says_what_to_give(
    checkout: Path,
) -> None:
    (checkout / ".local" / "env").unlink()
    with pytest.raises(SystemExit, match=r"--stack NAME \(or LM_KEYS_TABLE\), or --local"):
        main(["keys", "create", "--tenant", "acme"])


def test_api_settings_come_whole_from_the_shell_or_whole_from_the_file(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert use_api_settings() == ("http://127.0.0.1:3000", "lm_local")
    monkeypatch.delenv("LM_API_KEY")
    monkeypatch.setenv("LM_API_URL", "https://abc.execute-api.eu-west-1.amazonaws.com/live")
    with pytest.raises(SystemExit, match="LM_API_URL is set but LM_API_KEY is not"):
        use_api_settings()
    monkeypatch.setenv("LM_API_KEY", "lm_prod")
    assert use_api_settings() == ("https://abc.execute-api.eu-west-1.amazonaws.com/live", "lm_prod")
