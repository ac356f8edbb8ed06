"""`lm replay` against the in-process moto account: messages move intact, only after their send."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from learning_machine.cli.main import main
from learning_machine.cli.replay import QueueUrls, region_of, replay
from tests.conftest import Aws

ATTRIBUTES = {
    "origin": {"DataType": "String", "StringValue": "api"},
    "attempt": {"DataType": "Number", "StringValue": "3"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01binary"},
}


@pytest.fixture
def queues(aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> QueueUrls:
    queue = aws.settings.transcripts_queue_url
    dlq = aws.template.dead_letter_queue(aws.template.queue_by_url(queue))
    assert dlq is not None
    monkeypatch.setenv("LM_TRANSCRIPTS_DLQ_URL", dlq.url)
    monkeypatch.chdir(tmp_path)  # no .local/env from a running dev stack
    return QueueUrls(queue=queue, dlq=dlq.url)


def dead_letter(queues: QueueUrls, count: int) -> list[str]:
    sqs = boto3.client("sqs")
    bodies = [f'{{"transcript_id": "tr-{i}"}}' for i in range(count)]
    for body in bodies:
        sqs.send_message(QueueUrl=queues.dlq, MessageBody=body, MessageAttributes=ATTRIBUTES)
    return bodies


def drain(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
    ).get("Messages", []):
        found += messages
    return found


def test_replay_moves_every_message_with_its_body_and_attributes(queues: QueueUrls) -> None:
    bodies = dead_letter(queues, 13)
    seen: list[tuple[int, int]] = []
    result = replay(boto3.client("sqs"), queues, progress=lambda done, total: seen.append((done, total)))
    assert (result.total, result.moved, result.failed, result.errors) == (13, 13, 0, [])
    assert seen == [(10, 13), (13, 13)]
    moved = drain(queues.queue)
    assert sorted(m["Body"] for m in moved) == sorted(bodies)
    for message in moved:
        assert {
            name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
            for name, value in message["MessageAttributes"].items()
        } == ATTRIBUTES
    assert drain(queues.dlq) == []


def test_a_message_the_queue_refuses_stays_in_the_dlq(queues: QueueUrls) -> None:
    dead_letter(queues, 3)
    real = boto3.client("sqs")

    class RefusesTheFirst:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            reply = real.send_message_batch(QueueUrl=QueueUrl, Entries=Entries[1:])
            refused = {"Id": Entries[0]["Id"], "Code": "InternalError", "SenderFault": False}
            return {"Successful": reply.get("Successful", []), "Failed": [refused]}

    result = replay(RefusesTheFirst(), queues)  # type: ignore[arg-type]
    assert (result.moved, result.failed) == (2, 1)
    assert "not sent (InternalError" in result.errors[0]
    assert len(drain(queues.queue)) == 2
    attributes = real.get_queue_attributes(QueueUrl=queues.dlq, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"  # back after its visibility timeout


def test_lm_replay_dry_run_counts_and_moves_nothing(queues: QueueUrls, capsys: pytest.CaptureFixture) -> None:
    dead_letter(queues, 4)
    assert main(["replay", "--dry-run"]) == 0
    assert "4 transcripts in the DLQ would be replayed" in capsys.readouterr().out
    assert drain(queues.queue) == []
    assert len(drain(queues.dlq)) == 4


def test_lm_replay_moves_them_with_a_progress_bar(queues: QueueUrls, capsys: pytest.CaptureFixture) -> None:
    dead_letter(queues, 4)
    assert main(["replay", "--limit", "3"]) == 0
    out, err = capsys.readouterr()
    assert "replayed 3 of 3 transcripts from the DLQ" in out
    assert "replay [" in err and "3/3" in err
    assert len(drain(queues.queue)) == 3


def test_lm_replay_says_which_variables_are_missing(
    queues: QueueUrls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LM_TRANSCRIPTS_DLQ_URL")
    with pytest.raises(SystemExit, match="LM_TRANSCRIPTS_DLQ_URL"):
        main(["replay"])


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/TranscriptsQueue", "eu-west-1"),
        ("https://us-gov-west-1.queue.amazonaws.com/123456789012/q", "us-gov-west-1"),
        ("http://127.0.0.1:5000/123456789012/TranscriptsQueue", None),
    ],
)
def test_the_region_comes_from_the_queue_url(url: str, region: str | None) -> None:
    assert region_of(url) == region


def test_exported_queue_urls_are_not_mixed_with_the_local_stacks_env(
    queues: QueueUrls, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """In AWS the user exports the queue URLs: a `.local/env` in the directory must not redirect them."""
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "env").write_text("AWS_ENDPOINT_URL=http://127.0.0.1:9\n")
    dead_letter(queues, 2)
    assert main(["replay", "--dry-run"]) == 0
    assert "2 transcripts in the DLQ would be replayed" in capsys.readouterr().out
    assert "AWS_ENDPOINT_URL" not in os.environ
