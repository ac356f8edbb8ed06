"""The queues: transcripts (API -> extract) and curation slices (API, schedule, curate -> curate)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from pydantic import BaseModel

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient


@lru_cache(maxsize=1)
def sqs() -> SQSClient:
    return boto3.client("sqs")


class MessageQueue:
    """One SQS queue; every message is a pydantic model as JSON."""

    def __init__(self, queue_url: str) -> None:
        self._url = queue_url

    def send(self, message: BaseModel, group: str | None = None) -> str:
        """`group` is the message group: on a standard queue, SQS fair queues share the consumers'
        capacity among groups, so one group's backlog does not delay the others."""
        body = message.model_dump_json()
        if group:
            reply = sqs().send_message(QueueUrl=self._url, MessageBody=body, MessageGroupId=group)
        else:
            reply = sqs().send_message(QueueUrl=self._url, MessageBody=body)
        return reply["MessageId"]
