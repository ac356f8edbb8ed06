"""Delivers SQS batches to the template's functions with Lambda's event-source-mapping semantics.

Batch size and batching window, partial batch responses (ReportBatchItemFailures), failed messages
left on the queue until their visibility timeout. Redrive to the DLQ after maxReceiveCount is done
by moto's SQS itself on receive (as SQS does), so the poller never moves messages.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .iam import RoleCredentials, function_roles
from .lambda_runtime import ExecutionEnvironments, Invoker
from .provision import aws_client
from .template import (
    DEFAULT_TEMPLATE,
    REGION,
    Queue,
    SqsEventSource,
    TemplateError,
    load_for_process,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger("local.poller")
SQS_MAX_RECEIVE = 10  # messages per ReceiveMessage call


def lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS API attribute shape -> the camel-case shape Lambda puts in SQS events."""
    converted: dict[str, Any] = {}
    for name, value in attributes.items():
        item: dict[str, Any] = {
            "dataType": value["DataType"],
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": [base64.b64encode(v).decode() for v in value.get("BinaryListValues", [])],
        }
        if "StringValue" in value:
            item["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            item["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        converted[name] = item
    return converted


def sqs_record(message: MessageTypeDef, queue: Queue) -> dict[str, Any]:
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": lambda_message_attributes(dict(message.get("MessageAttributes", {}))),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_message_ids(
    message_ids: list[str], result: Any, error: BaseException | None, reports_item_failures: bool
) -> set[str]:
    """Which messages of a batch failed, by Lambda's rules for a (partial) batch response."""
    everything = set(message_ids)
    if error is not None:
        return everything
    if not reports_item_failures or result is None or result in ({}, ""):
        return set()
    failures = result.get("batchItemFailures") if isinstance(result, dict) else result
    if failures is None:
        return set()
    if not isinstance(failures, list) or not isinstance(result, dict):
        log.error("invalid batch response %r: the whole batch failed", result)
        return everything
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            # Lambda treats an unknown, empty or missing itemIdentifier as a failure of the whole batch.
            log.error("batchItemFailures names %r, not a message of this batch: whole batch failed", failure)
            return everything
        failed.add(identifier)
    return failed


class SqsPoller:
    """One event source mapping: receive a batch, invoke, delete what succeeded, repeat."""

    def __init__(
        self,
        source: SqsEventSource,
        queue: Queue,
        runtime: Invoker,
        sqs: SQSClient,
        stop: threading.Event,
        retry_delay: int | None = None,
        retry_sqs: SQSClient | None = None,
    ) -> None:
        self.source = source
        self.queue = queue
        self.runtime = runtime
        self.sqs = sqs  # receive and delete, as the event source mapping does: with the function's role
        self.stop = stop
        self.retry_delay = retry_delay
        # The local retry delay is no Lambda feature (ChangeMessageVisibility is not in the role).
        self.retry_sqs = retry_sqs or sqs

    def receive_batch(self) -> list[MessageTypeDef]:
        """Up to BatchSize messages, waiting at most the batching window once the first one arrived."""
        batch: list[MessageTypeDef] = []
        deadline: float | None = None
        while not self.stop.is_set():
            wanted = min(SQS_MAX_RECEIVE, self.source.batch_size - len(batch))
            response = self.sqs.receive_message(
                QueueUrl=self.queue.url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=1 if deadline is None or deadline - time.monotonic() >= 1 else 0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch.extend(response.get("Messages", []))
            if batch and deadline is None:
                deadline = time.monotonic() + self.source.batching_window_seconds
            window_over = deadline is not None and time.monotonic() >= deadline
            if len(batch) >= self.source.batch_size or window_over:
                break
        return batch

    def process(self, batch: list[MessageTypeDef]) -> set[str]:
        event = {"Records": [sqs_record(message, self.queue) for message in batch]}
        result: Any = None
        error: BaseException | None = None
        started = time.monotonic()
        try:
            result = self.runtime.invoke(self.source.function, event)
        except Exception as exc:
            error = exc
            log.exception("%s raised: the whole batch of %d failed", self.source.function, len(batch))
        ids = [message["MessageId"] for message in batch]
        failed = failed_message_ids(ids, result, error, self.source.reports_item_failures)
        self._settle(batch, failed)
        log.info(
            "%s: batch of %d from %s, %d failed, %.0f ms",
            self.source.function,
            len(batch),
            self.queue.name,
            len(failed),
            (time.monotonic() - started) * 1000,
        )
        return failed

    def _settle(self, batch: list[MessageTypeDef], failed: set[str]) -> None:
        done = [m for m in batch if m["MessageId"] not in failed]
        for start in range(0, len(done), SQS_MAX_RECEIVE):
            chunk = done[start : start + SQS_MAX_RECEIVE]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        if self.retry_delay is None:
            return  # failed messages come back after the queue's visibility timeout, as in AWS
        retry = [m for m in batch if m["MessageId"] in failed]
        for start in range(0, len(retry), SQS_MAX_RECEIVE):
            chunk = retry[start : start + SQS_MAX_RECEIVE]
            self.retry_sqs.change_message_visibility_batch(
                QueueUrl=self.queue.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_delay}
                    for i, m in enumerate(chunk)
                ],
            )

    def run(self) -> None:
        log.info(
            "polling %s for %s (batch %d, window %d s)",
            self.queue.name,
            self.source.function,
            self.source.batch_size,
            self.source.batching_window_seconds,
        )
        while not self.stop.is_set():
            try:
                batch = self.receive_batch()
                if batch:
                    self.process(batch)
            except Exception:
                # moto restarting or a transient error: keep polling, as Lambda's pollers do.
                log.exception("polling %s failed; retrying in 1 s", self.queue.name)
                self.stop.wait(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Deliver SQS batches to the template's functions.")
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument(
        "--retry-delay",
        type=int,
        default=None,
        help="seconds before a failed message is visible again (default: the queue's visibility timeout)",
    )
    parser.add_argument("--ready-file", type=Path, help="written once every handler is loaded")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        template, endpoint = load_for_process(args.template)
    except TemplateError as error:
        parser.error(str(error))
    # Each function in worker processes of its own, with its own role's credentials, as in Lambda.
    roles = RoleCredentials(endpoint, function_roles(template.path, template.parameters))
    runtime = ExecutionEnvironments(template, roles.environment)
    admin_sqs: SQSClient = aws_client("sqs", endpoint)
    stop = threading.Event()
    pollers = []
    for source in template.sqs_event_sources:
        queue = template.queues[source.queue]
        runtime.preload(source.function)  # fail now, not on the first message
        # Lambda polls with the function's execution role (SAM attaches AWSLambdaSQSQueueExecutionRole).
        sqs: SQSClient = roles.client(source.function, "sqs")
        sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["QueueArn"])  # provisioned? allowed?
        pollers.append(SqsPoller(source, queue, runtime, sqs, stop, args.retry_delay, admin_sqs))
    if args.retry_delay is not None:
        log.info("failed messages are retried after %d s instead of the visibility timeout", args.retry_delay)

    def request_stop(signum: int, frame: Any) -> None:
        log.info("signal %d: finishing the current batches", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    threads = [threading.Thread(target=p.run, name=f"poll-{p.queue.name}", daemon=True) for p in pollers]
    for thread in threads:
        thread.start()
    if args.ready_file:
        args.ready_file.write_text(str(os.getpid()))
    while not stop.wait(0.5):
        pass
    for thread in threads:
        thread.join(timeout=30)
    runtime.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
