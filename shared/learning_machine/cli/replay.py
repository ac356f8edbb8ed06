"""Replay dead-lettered transcripts: move each message of the DLQ back to the transcripts queue.

A message leaves the DLQ only after the queue accepted its copy (same body, same message
attributes); a send that fails leaves it in the DLQ. A crash between the send and the delete
leaves it on both queues, which is safe: extraction is idempotent per transcript. A run moves
at most the messages the DLQ held when it started, so a transcript that fails again and comes
back while the replay runs is not sent round in circles.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import (
        MessageAttributeValueOutputTypeDef,
        MessageAttributeValueTypeDef,
        MessageTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

QUEUE_URL_VARIABLE = "LM_TRANSCRIPTS_QUEUE_URL"
DLQ_URL_VARIABLE = "LM_TRANSCRIPTS_DLQ_URL"
BATCH_SIZE = 10  # SQS's limit for one receive, send or delete
# Long enough to send and delete one batch; a message left unfinished shows up again after it.
VISIBILITY_TIMEOUT_SECONDS = 60
# Long polling asks every SQS server, so an empty answer means the DLQ is empty.
WAIT_SECONDS = 1

Progress = Callable[[int, int], None]


class ReplaySetupError(Exception):
    """The queue URLs are not configured."""


@dataclass(frozen=True)
class QueueUrls:
    queue: str
    dlq: str

    @classmethod
    def from_env(cls) -> QueueUrls:
        queue, dlq = os.environ.get(QUEUE_URL_VARIABLE), os.environ.get(DLQ_URL_VARIABLE)
        if not queue or not dlq:
            raise ReplaySetupError(
                f"{QUEUE_URL_VARIABLE} and {DLQ_URL_VARIABLE} are not set (`make up` writes them to"
                " .local/env; in AWS take them from the stack outputs TranscriptsQueueUrl and"
                " TranscriptsDeadLetterQueueUrl)"
            )
        return cls(queue=queue, dlq=dlq)


@dataclass
class ReplayResult:
    total: int
    moved: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def sqs_client(queue_url: str) -> SQSClient:
    """The shell's credentials and endpoint (AWS_ENDPOINT_URL for moto); without a configured
    region, the queue URL's."""
    region = boto3.session.Session().region_name or region_of(queue_url)
    return boto3.client("sqs", region_name=region)


def region_of(queue_url: str) -> str | None:
    host = urllib.parse.urlparse(queue_url).hostname or ""
    match = re.match(r"^(?:sqs\.)?([a-z]{2}(?:-[a-z]+)+-\d+)\.", host)
    return match.group(1) if match else None


def waiting(sqs: SQSClient, queue_url: str) -> int:
    """Messages ready to be received (SQS's approximate count)."""
    reply = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(reply["Attributes"].get("ApproximateNumberOfMessages", "0"))


def replay(
    sqs: SQSClient, queues: QueueUrls, limit: int | None = None, progress: Progress | None = None
) -> ReplayResult:
    """Move up to `limit` messages (default: as many as the DLQ holds now) to the queue."""
    result = ReplayResult(total=waiting(sqs, queues.dlq) if limit is None else limit)
    while result.moved + result.failed < result.total:
        messages = sqs.receive_message(
            QueueUrl=queues.dlq,
            MaxNumberOfMessages=min(BATCH_SIZE, result.total - result.moved - result.failed),
            WaitTimeSeconds=WAIT_SECONDS,
            VisibilityTimeout=VISIBILITY_TIMEOUT_SECONDS,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        sent = _send(sqs, queues.queue, messages, result)
        _delete(sqs, queues.dlq, sent, result)
        result.moved += len(sent)
        result.failed += len(messages) - len(sent)
        if progress is not None:
            progress(result.moved + result.failed, result.total)
    return result


def _send(sqs: SQSClient, queue_url: str, messages: list[MessageTypeDef], result: ReplayResult) -> list[str]:
    """Copies of the messages on the queue; returns the DLQ receipt handles of those accepted."""
    entries: list[SendMessageBatchRequestEntryTypeDef] = []
    for index, message in enumerate(messages):
        entry: SendMessageBatchRequestEntryTypeDef = {
            "Id": str(index),
            "MessageBody": message.get("Body", ""),
        }
        if attributes := message.get("MessageAttributes"):
            entry["MessageAttributes"] = {name: _sendable(value) for name, value in attributes.items()}
        entries.append(entry)
    reply = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    for failure in reply.get("Failed", []):
        message_id = messages[int(failure["Id"])]["MessageId"]
        result.errors.append(f"{message_id} not sent ({failure['Code']}: {failure.get('Message', '')})")
    return [messages[int(success["Id"])]["ReceiptHandle"] for success in reply.get("Successful", [])]


def _sendable(value: MessageAttributeValueOutputTypeDef) -> MessageAttributeValueTypeDef:
    """The attribute as received, without the list fields SQS reserves (and refuses on send)."""
    sendable: MessageAttributeValueTypeDef = {"DataType": value["DataType"]}
    if "StringValue" in value:
        sendable["StringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        sendable["BinaryValue"] = value["BinaryValue"]
    return sendable


def _delete(sqs: SQSClient, dlq_url: str, receipt_handles: list[str], result: ReplayResult) -> None:
    if not receipt_handles:
        return
    reply = sqs.delete_message_batch(
        QueueUrl=dlq_url,
        Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(receipt_handles)],
    )
    for failure in reply.get("Failed", []):
        # Sent but still in the DLQ: a later replay sends it again, and extraction learns it once.
        result.errors.append(f"sent but not deleted from the DLQ ({failure['Code']})")
