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

    def send(self, message: BaseModel) -> str:
        reply = sqs().send_message(QueueUrl=self._url, MessageBody=message.model_dump_json())
        return reply["MessageId"]
