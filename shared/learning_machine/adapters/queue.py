"""The transcripts queue: the API's only way to hand work to extract."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import boto3

from ..models.transcripts import TranscriptEnvelope

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient


@lru_cache(maxsize=1)
def sqs() -> SQSClient:
    return boto3.client("sqs")


class TranscriptQueue:
    def __init__(self, queue_url: str) -> None:
        self._url = queue_url

    def send(self, envelope: TranscriptEnvelope) -> str:
        reply = sqs().send_message(QueueUrl=self._url, MessageBody=envelope.model_dump_json())
        return reply["MessageId"]
