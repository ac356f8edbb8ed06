"""Transcripts per second through the SQS poller and the `extract` handler, with a scripted model.

What runs: transcripts are accepted by the intake (as `POST /v1/transcripts` does: status record +
queue message) onto a queue of their own on the local stack's moto server; then the local stack's
poller code (`local.poller.SqsPoller`: batch size and window from the template, partial batch
responses, deletes) delivers them to the real `extract` handler loaded in this process, one batch
at a time (one Lambda instance). The handler's model is replaced by a scripted one (no model
latency, two memories and a session summary per transcript), so the figure is the service's own
cost: idempotency records, DynamoDB reads and the transaction, the entity lookup in the embedded
index (query embedding with the local sentence model). A real model adds its latency per call.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from typing import Any

import boto3

from bench.common import write_result
from bench.inprocess import InProcessApi
from bench.prompt_growth import reply_for
from learning_machine.adapters.llm.scripted import ScriptedModel
from learning_machine.adapters.queue import MessageQueue
from learning_machine.composition import Services, services
from learning_machine.models.transcripts import TranscriptIn
from learning_machine.services.intake import TranscriptIntake
from learning_machine.settings import get_settings
from learning_machine.stores.transcripts import TranscriptStore
from local.lambda_runtime import LambdaRuntime
from local.poller import SqsPoller
from local.template import Queue

USERS = 10


def transcript(n: int) -> TranscriptIn:
    return TranscriptIn.model_validate(
        {
            "user_id": f"user-{n % USERS}",
            "session_id": f"session-{n % USERS}-{n // 50}",
            "messages": [
                {"role": "user", "content": f"We moved the billing job to Kafka last week (change {n})."},
                {"role": "assistant", "content": "Noted. Do you want alerts on consumer lag?"},
                {"role": "user", "content": f"Yes, page me when lag passes {n * 10} messages."},
            ],
        }
    )


def bench_queue(name: str) -> Queue:
    """A queue of its own, so the stack's poller does not take these messages."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Queue(logical_id=name, name=name, url=url, arn=arn, properties={})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Transcripts/s through the poller and extract.")
    parser.add_argument("--transcripts", type=int, default=200)
    args = parser.parse_args(argv)
    api = InProcessApi.start(f"bench-{uuid.uuid4().hex[:8]}")
    template, runtime = api.local.template, api.local.runtime
    assert isinstance(runtime, LambdaRuntime)  # in-process: the handler module can be reached
    source = next(s for s in template.sqs_event_sources if s.function == "ExtractFunction")
    runtime.handler(source.function)  # loads functions/extract/app.py as Lambda would
    model = ScriptedModel(default=reply_for)
    # The handler module reads `pipeline` at call time: swap in one with the scripted model.
    handler_module = sys.modules[f"_lm_local_{source.function}"]
    vars(handler_module)["pipeline"] = Services(get_settings()).extraction_pipeline(model=model)

    queue = bench_queue(f"bench-throughput-{uuid.uuid4().hex[:8]}")
    settings = get_settings()
    store, quotas = TranscriptStore(settings.data_table), services().quotas
    intake = TranscriptIntake(store, MessageQueue(queue.url), quotas)
    started = time.perf_counter()
    ids = [intake.accept(api.tenant, transcript(n)).transcript_id for n in range(args.transcripts)]
    intake_seconds = time.perf_counter() - started

    handler_seconds = 0.0
    invoke = runtime.invoke

    def timed_invoke(function_id: str, event: Any) -> Any:
        nonlocal handler_seconds
        began = time.perf_counter()
        try:
            return invoke(function_id, event)
        finally:
            handler_seconds += time.perf_counter() - began

    runtime.invoke = timed_invoke  # type: ignore[method-assign]
    poller = SqsPoller(source, queue, runtime, boto3.client("sqs"), threading.Event())
    done = batches = 0
    started = time.perf_counter()
    while done < len(ids):
        batch = poller.receive_batch()
        failed = poller.process(batch)
        if failed:
            print(f"{len(failed)} transcripts failed; see the log above", file=sys.stderr)
            return 1
        done += len(batch)
        batches += 1
    elapsed = time.perf_counter() - started
    statuses = TranscriptStore(settings.data_table)
    learned = sum(1 for i in ids if (s := statuses.get(api.tenant, i)) is not None and s.status == "done")
    ok = learned == len(ids) and model.calls == len(ids)
    write_result(
        "extraction_throughput",
        {
            "transcripts": len(ids),
            "users": USERS,
            "batch_size": source.batch_size,
            "batching_window_seconds": source.batching_window_seconds,
            "batches": batches,
            "intake_transcripts_per_second": round(len(ids) / intake_seconds, 1),
            "poller_and_extract_transcripts_per_second": round(len(ids) / elapsed, 2),
            "extract_handler_transcripts_per_second": round(len(ids) / handler_seconds, 2),
            "extract_handler_ms_per_transcript": round(handler_seconds / len(ids) * 1000, 1),
            "model_calls_per_transcript": model.calls / len(ids),
            "learned": learned,
            "model": "scripted (no model latency)",
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
