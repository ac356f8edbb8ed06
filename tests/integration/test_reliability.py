"""Nothing lost, nothing learned twice: duplicate deliveries, concurrent writers, model failures, replay.

Against the integration stack (moto server over HTTP, local API, poller) and a fake model server:
- the same SQS batch delivered three times at once, and once more late, to the real extract
  handler: one set of memories, one status record, one model call per transcript;
- 20 extractions for one user and one session in parallel through the real pipeline, all reading
  the same versions before any writes: every fact, every profile field, versions that count every
  writer; write-conflict retries are counted, and a writer that runs out of attempts is delivered
  again, as SQS would;
  moto's own DynamoDB can erase a committed transaction under concurrent requests, so the stack
  runs it with DynamoDB requests isolated (local/moto_server.py); the first test checks that, and
  a control run without the version guards shows that this test does see a lost update;
- 100 transcripts over HTTP, 30 failing at the model (timeout, 429 with Retry-After, 503, replies
  that are not JSON or not the schema) until the test lifts the faults: each retried within
  bounds, dead-lettered after the queue's receive count, put back by `lm replay`, learned once.
Run with `-s` to see the figures each test measured.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from learning_machine.adapters.llm.scripted import ScriptedModel
from learning_machine.composition import Services
from learning_machine.models.common import Layer
from learning_machine.models.config import TenantConfig
from learning_machine.models.extraction import (
    ExtractionRequest,
    ExtractionResult,
    MemoryOperation,
    ProfileFieldUpdate,
    SessionUpdate,
)
from learning_machine.models.transcripts import Message, TranscriptEnvelope, TranscriptIn, TranscriptStatus
from learning_machine.settings import Settings, get_settings
from learning_machine.stores.changes import ChangeSet, WriteConflictError
from learning_machine.stores.config import ConfigStore
from learning_machine.stores.keys import STATUS_SK, transcript_pk, usage_pk
from learning_machine.stores.sessions import SessionStore
from learning_machine.stores.transcripts import TranscriptStore
from learning_machine.stores.user_memory import UserMemoryStore
from local.template import REGION
from tests.conftest import reset_clients
from tests.fakes.openai_server import Behaviour, Delay, FakeOpenAIServer, HttpError, Malformed, Reply
from tests.fakes.openai_server import transcript_from_body as transcript_of
from tests.integration.conftest import Stack, fake_model_env, wait_for
from tests.support.handlers import FakeContext, load_handler

pytestmark = pytest.mark.integration
MAX_RECEIVE_COUNT = 3  # the transcripts queue's redrive policy in template.yaml
LLM_MAX_RETRIES = 1
LLM_TIMEOUT_SECONDS = 1


@pytest.fixture(scope="module")
def stack_extra_env(fake_model: FakeOpenAIServer) -> dict[str, str]:
    return fake_model_env(
        fake_model,
        LM_LLM_MAX_RETRIES=str(LLM_MAX_RETRIES),
        LM_LLM_TIMEOUT_SECONDS=str(LLM_TIMEOUT_SECONDS),
        LM_EMBEDDING_BACKEND="hashing",  # the index is not under test here: keep it fast
    )


@pytest.fixture
def in_process(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """This process configured like the stack's functions: handlers and pipelines talk to its moto."""
    for name, value in stack.info.process_env.items():
        monkeypatch.setenv(name, value)
    reset_clients()
    yield get_settings()
    reset_clients()


def run_id() -> str:
    return uuid.uuid4().hex[:8]


def envelope(tenant: str, transcript_id: str, user: str, session: str, text: str) -> TranscriptEnvelope:
    transcript = TranscriptIn(
        transcript_id=transcript_id,
        user_id=user,
        session_id=session,
        messages=[Message(role="user", content=text)],
    )
    return TranscriptEnvelope(tenant_id=tenant, transcript_id=transcript_id, transcript=transcript)


def model_calls_with(fake: FakeOpenAIServer, token: str, bodies: list[dict[str, Any]] | None = None) -> int:
    return sum(
        1
        for body in list(fake.requests if bodies is None else bodies)
        if any(token in message["content"] for message in transcript_of(body))
    )


def queue_depth(stack: Stack, url: str) -> int:
    names: Any = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


# ------------------------------------------------------------------ the backend itself


def moto_client(stack: Stack) -> Any:
    """A DynamoDB client without retries (they would hide a 500) and a connection per writer."""
    return boto3.client(
        "dynamodb",
        endpoint_url=stack.moto_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=20, retries={"total_max_attempts": 1}),
    )


def test_the_stacks_moto_applies_conditional_transactions_atomically(stack: Stack) -> None:
    """The premise of the concurrency tests: a committed transaction is never undone or overtaken.

    20 writers each read a counter and commit version + 1 (conditional on the version read) with a
    marker item, 8 times. Plain moto 5.2.5 fails this on a table of a few hundred items: it answers
    some requests with HTTP 500 and can erase acknowledged commits (the counter ends below the
    number of commits); local/moto_server.py isolates DynamoDB requests so that it cannot.
    """
    ddb, table = moto_client(stack), f"moto-check-{run_id()}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for start in range(0, 300, 25):  # a table the size of a used one: moto copies it per transaction
        puts: Any = [
            {"PutRequest": {"Item": {"pk": {"S": "filler"}, "sk": {"S": str(n)}, "doc": {"S": "x" * 500}}}}
            for n in range(start, start + 25)
        ]
        ddb.batch_write_item(RequestItems={table: puts})
    counter = {"pk": {"S": "counter"}, "sk": {"S": "C"}}
    ddb.put_item(TableName=table, Item={**counter, "version": {"N": "0"}})
    outcomes: Counter[str] = Counter()
    lock, everyone_ready = threading.Lock(), threading.Barrier(20)

    def commit(number: int, version: int) -> str:
        bump = {
            "TableName": table,
            "Item": {**counter, "version": {"N": str(version + 1)}},
            "ConditionExpression": "version = :v",
            "ExpressionAttributeValues": {":v": {"N": str(version)}},
        }
        marker = {"TableName": table, "Item": {"pk": {"S": "marker"}, "sk": {"S": f"{number}-{version}"}}}
        try:
            ddb.transact_write_items(TransactItems=[{"Put": bump}, {"Put": marker}])
        except ddb.exceptions.TransactionCanceledException:
            return "conflict"
        except ClientError as error:
            return f"error {error.response['Error']['Code']}"
        return "committed"

    def writer(number: int) -> None:
        everyone_ready.wait(timeout=30)
        for _ in range(8):
            version = int(ddb.get_item(TableName=table, Key=counter)["Item"]["version"]["N"])
            outcome = commit(number, version)
            with lock:
                outcomes[outcome] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = int(ddb.get_item(TableName=table, Key=counter)["Item"]["version"]["N"])
    markers = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "marker"}},
        Select="COUNT",
    )["Count"]
    ddb.delete_table(TableName=table)
    print(f"\nmoto check: 20 writers x 8 conditional transactions -> {dict(outcomes)}, counter {final}")
    assert set(outcomes) <= {"committed", "conflict"}, outcomes
    assert final == outcomes["committed"] == markers


# ------------------------------------------------------------------ duplicate deliveries


def sqs_event(envelopes: list[TranscriptEnvelope], queue_arn: str) -> dict[str, Any]:
    """The event Lambda builds for one batch of the transcripts queue."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid5(uuid.NAMESPACE_URL, item.transcript_id)),
                "receiptHandle": f"handle-{item.transcript_id}",
                "body": item.model_dump_json(),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1763805600000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for item in envelopes
        ]
    }


def failed_ids(result: dict[str, Any]) -> set[str]:
    return {failure["itemIdentifier"] for failure in result.get("batchItemFailures", [])}


def test_the_same_batch_delivered_three_times_is_learned_once(
    stack: Stack, fake_model: FakeOpenAIServer, in_process: Settings
) -> None:
    run = run_id()
    tenant, user = f"dupes-{run}", "dana"
    envelopes = [
        envelope(
            tenant, f"dup-{run}-{k}", user, f"s-dup-{run}-{k}", f"remember knowledge: Dup fact {k} {run}."
        )
        for k in range(3)
    ]
    event = sqs_event(envelopes, f"arn:aws:sqs:{REGION}:123456789012:TranscriptsQueue")
    # Three Lambda containers, each with its own handler module, pipeline and batch processor.
    handlers = [load_handler("extract") for _ in range(3)]
    results: list[dict[str, Any]] = [{} for _ in handlers]

    def deliver(index: int) -> None:
        results[index] = handlers[index].lambda_handler(event, FakeContext())

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(len(handlers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A record another container holds in progress fails; SQS delivers it again later.
    retried = set().union(*(failed_ids(r) for r in results))
    redeliveries = 0
    pending = set(retried)
    while pending and redeliveries < 20:
        redeliveries += 1
        time.sleep(0.2)
        records = [r for r in event["Records"] if r["messageId"] in pending]
        pending = failed_ids(handlers[0].lambda_handler({"Records": records}, FakeContext()))
    assert not pending, "records stayed in progress"
    calls_before_late_delivery = len(fake_model.requests)
    late = handlers[1].lambda_handler(event, FakeContext())  # after the visibility timeout, say
    assert failed_ids(late) == set()
    assert len(fake_model.requests) == calls_before_late_delivery

    transcripts = TranscriptStore(in_process.data_table)
    for item in envelopes:
        status = transcripts.get(tenant, item.transcript_id)
        assert status is not None and status.status == "done" and status.attempts == 1, status
        records = stack.dynamodb.query(
            TableName=in_process.data_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": transcript_pk(tenant, item.transcript_id)}},
        )["Items"]
        assert len(records) == 1
    memories = sorted(m.content for m in UserMemoryStore(in_process.data_table).load(tenant, user).memories)
    assert memories == [f"Dup fact {k} {run}." for k in range(3)]
    for k in range(3):
        assert model_calls_with(fake_model, f"Dup fact {k} {run}.") == 1
        assert model_calls_with(fake_model, f"Dup fact {k} {run}.", fake_model.extractions) == 1
    idempotency = stack.dynamodb.scan(TableName=in_process.idempotency_table)["Items"]
    completed = [r for r in idempotency if run in r.get("data", {}).get("S", "")]
    assert len(completed) == 3 and {r["status"]["S"] for r in completed} == {"COMPLETED"}
    print(
        f"\nduplicates: a batch of 3 delivered 3 times at once and once late; {len(retried)} records found"
        f" in progress and redelivered {redeliveries} time(s); 3 memories, 3 status records,"
        " 3 model calls"
    )


# ------------------------------------------------------------------ concurrent writers


class CountingMetrics:
    """The pipeline's metrics sink: one per writer, as each Lambda container has its own."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self.counts[name] += int(value)


@dataclass
class Writer:
    number: int
    model: ScriptedModel
    metrics: CountingMetrics = field(default_factory=CountingMetrics)
    status: TranscriptStatus | None = None
    error: Exception | None = None
    redelivered: bool = False

    @property
    def retries(self) -> int:
        return self.metrics.counts["WriteConflictRetries"]


WRITERS = 20
WRITER_USER, WRITER_SESSION = "wanda", "s-writers"


def fact_field(number: int) -> str:
    return f"fact_{number:02d}"


def writer_reply(
    number: int, everyone_read: threading.Barrier
) -> Callable[[ExtractionRequest], ExtractionResult]:
    """A fact, a profile field and a session summary; the first call waits for every writer."""
    calls = 0

    def answer(request: ExtractionRequest) -> ExtractionResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            everyone_read.wait(timeout=60)
        fact = MemoryOperation(
            op="add",
            memory_id=None,
            layer=Layer.KNOWLEDGE,
            category=None,
            content=f"Writer {number} fact.",
            polarity=None,
            turn_index=0,
        )
        return ExtractionResult(
            memory_operations=[fact],
            profile_updates=[
                ProfileFieldUpdate(field=fact_field(number), value=f"value {number}", turn_index=0)
            ],
            session=SessionUpdate(summary=f"Writer {number} was here.", goal=None, plan=[], progress=[]),
            entity_operations=[],
            knowledge_operations=[],
        )

    return answer


def run_writers(settings: Settings, tenant: str) -> list[Writer]:
    """20 extractions for one user and one session, each through its own pipeline ("container").

    Every first model call waits until all 20 writers have read the user's state, so all of them
    commit against the same versions: the most contention these writes can meet. A writer that
    runs out of commit attempts fails its record, and SQS delivers it again: so does this run.
    """
    schema = {"type": "object", "properties": {fact_field(i): {"type": "string"} for i in range(WRITERS)}}
    ConfigStore(settings.data_table, 0).put(
        tenant, TenantConfig.model_validate({"stores": {"user_profile": {"custom_schema": schema}}})
    )
    everyone_read = threading.Barrier(WRITERS)
    writers = [Writer(i, ScriptedModel(default=writer_reply(i, everyone_read))) for i in range(WRITERS)]
    pipelines = [Services(settings).extraction_pipeline(model=w.model, metrics=w.metrics) for w in writers]

    def write(writer: Writer) -> None:
        item = envelope(
            tenant, f"w-{writer.number:02d}", WRITER_USER, WRITER_SESSION, f"fact {writer.number}"
        )
        try:
            writer.status, writer.error = pipelines[writer.number].process(item), None
        except Exception as error:
            writer.error = error

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for writer in writers:
        if isinstance(writer.error, WriteConflictError):
            writer.redelivered = True
            write(writer)
    return writers


def test_twenty_parallel_extractions_for_one_user_lose_nothing(stack: Stack, in_process: Settings) -> None:
    tenant = f"writers-{run_id()}"
    started = time.monotonic()
    writers = run_writers(in_process, tenant)
    elapsed = time.monotonic() - started
    assert [w.error for w in writers] == [None] * WRITERS
    assert [w.status.status if w.status else None for w in writers] == ["done"] * WRITERS

    state = UserMemoryStore(in_process.data_table).load(tenant, WRITER_USER)
    assert sorted(m.content for m in state.memories) == sorted(f"Writer {i} fact." for i in range(WRITERS))
    assert state.profile.fields == {fact_field(i): f"value {i}" for i in range(WRITERS)}
    assert state.profile.version == WRITERS  # one version per writer: none overwrote another
    session = SessionStore(in_process.data_table).get(tenant, WRITER_SESSION)
    assert session is not None and session.version == WRITERS
    usage = stack.dynamodb.query(
        TableName=in_process.data_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": usage_pk(tenant)}},
    )["Items"]
    assert [int(item["transcripts"]["N"]) for item in usage] == [WRITERS]

    retries = sum(w.retries for w in writers)
    redelivered = [w.number for w in writers if w.redelivered]
    # All 20 read version 0 before anyone wrote, so at least 19 of them met a conflict.
    assert retries >= WRITERS - 1
    # A conflict costs no second model call (the same operations are re-applied); only a writer
    # that ran out of attempts, and was delivered again, asked the model again.
    assert [w.model.calls for w in writers] == [2 if w.redelivered else 1 for w in writers]
    print(
        f"\nconcurrent writers: {WRITERS} in parallel, {retries} write-conflict retries (at most"
        f" {max(w.retries for w in writers)} for one writer, {in_process.write_retries} attempts allowed),"
        f" {len(redelivered)} ran out of attempts and were delivered again, {elapsed:.1f} s;"
        f" {len(state.memories)} facts, {len(state.profile.fields)} profile fields,"
        f" profile v{state.profile.version}, session v{session.version}"
    )


def test_without_the_version_guards_the_same_writers_lose_updates(
    in_process: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the test above would see a lost update, so its passing means something."""
    guarded_put = ChangeSet._put

    def unguarded_put(self: ChangeSet, pk: str, sk: str, doc: Any, version: int, **options: Any) -> None:
        options["expected"] = None  # new items keep attribute_not_exists; updates overwrite blindly
        guarded_put(self, pk, sk, doc, version, **options)

    monkeypatch.setattr(ChangeSet, "_put", unguarded_put)
    tenant = f"unguarded-{run_id()}"
    writers = run_writers(in_process, tenant)
    assert [w.error for w in writers] == [None] * WRITERS
    state = UserMemoryStore(in_process.data_table).load(tenant, WRITER_USER)
    assert len(state.memories) == WRITERS  # separate items: nothing to overwrite
    assert len(state.profile.fields) == 1  # every writer replaced the profile it read empty
    assert sum(w.retries for w in writers) == 0
    print(f"\ncontrol without version guards: {WRITERS - len(state.profile.fields)} of {WRITERS} fields lost")


# ------------------------------------------------------------------ model failures and replay

TRANSCRIPTS = 100
FAILING_EVERY_TEN = (1, 4, 7)  # 30 of 100
# Retryable failures: the SDK's retries on every delivery; invalid replies: one request each.
RETRYABLE_REQUESTS = MAX_RECEIVE_COUNT * (1 + LLM_MAX_RETRIES)


@dataclass(frozen=True)
class Fault:
    behaviour: Behaviour
    requests: int  # what the fake model sees of one transcript before it is dead-lettered
    reason: str  # in the transcript's status


FAULTS = {
    "timeout": Fault(Delay(LLM_TIMEOUT_SECONDS * 2, then=HttpError(504)), RETRYABLE_REQUESTS, "timed out"),
    "429": Fault(
        HttpError(429, headers={"Retry-After": "1", "retry-after-ms": "20"}),
        RETRYABLE_REQUESTS,
        "answered 429",
    ),
    "503": Fault(HttpError(503, headers={"retry-after-ms": "20"}), RETRYABLE_REQUESTS, "answered 503"),
    # An invalid reply gets one repair call per delivery: two requests a delivery.
    "not-json": Fault(Malformed(), MAX_RECEIVE_COUNT * 2, "not valid JSON"),
    "invalid": Fault(
        Reply(content=json.dumps({"memory_operations": [{"op": "add"}]})),
        MAX_RECEIVE_COUNT * 2,
        "does not match the schema",
    ),
}
# Timeouts cost (1 + retries) x timeout per delivery, and the poller runs batches one at a time.
FAULT_MIX = ["timeout"] * 3 + ["429"] * 7 + ["503"] * 7 + ["not-json"] * 7 + ["invalid"] * 6


def read_statuses(stack: Stack, tenant: str, ids: list[str]) -> dict[str, TranscriptStatus]:
    keys = [{"pk": {"S": transcript_pk(tenant, i)}, "sk": {"S": STATUS_SK}} for i in ids]
    found: dict[str, TranscriptStatus] = {}
    for start in range(0, len(keys), 100):
        table = stack.env["LM_DATA_TABLE"]
        request = {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        for item in stack.dynamodb.batch_get_item(RequestItems=request)["Responses"][table]:
            status = TranscriptStatus.model_validate_json(item["doc"]["S"])
            found[status.transcript_id] = status
    return found


def lm(stack: Stack, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """The real console script, with the environment `make up` writes for the stack."""
    env = {"PATH": str(Path(sys.executable).parent), **stack.env}
    script = str(Path(sys.executable).with_name("lm"))
    return subprocess.run([script, *argv], env=env, cwd=cwd, capture_output=True, text=True, check=False)


def test_model_failures_land_in_the_dlq_and_replay_learns_each_once(
    stack: Stack, fake_model: FakeOpenAIServer, tmp_path: Path
) -> None:
    run = run_id()
    tenant = f"failures-{run}"
    key = stack.new_tenant_key(tenant)
    tokens = [f"rf{run}n{i:03d}x" for i in range(TRANSCRIPTS)]
    ids = [f"tr-{token}" for token in tokens]
    failing = [i for i in range(TRANSCRIPTS) if i % 10 in FAILING_EVERY_TEN]
    mix = list(FAULT_MIX)
    random.Random(6).shuffle(mix)
    kinds = dict(zip(failing, mix, strict=True))
    for i, kind in kinds.items():
        fake_model.fail_while(tokens[i], FAULTS[kind].behaviour)

    started = time.monotonic()
    with httpx.Client(base_url=stack.api_url, timeout=30, headers={"Authorization": f"Bearer {key}"}) as api:
        for i, token in enumerate(tokens):
            body = {
                "transcript_id": ids[i],
                "user_id": f"u{i % 5}",
                "session_id": f"s-{token}",
                "messages": [{"role": "user", "content": f"remember knowledge: Replay fact {token}."}],
            }
            assert api.post("/v1/transcripts", json=body).status_code == 202

        def settled() -> dict[str, TranscriptStatus] | None:
            statuses = read_statuses(stack, tenant, ids)
            finished = [s for s in statuses.values() if s.status in ("done", "failed")]
            dead = queue_depth(stack, stack.dlq_url)
            return statuses if len(finished) == TRANSCRIPTS and dead == len(failing) else None

        statuses = wait_for(settled, "70 transcripts learned and 30 dead-lettered")
        dead_lettered_after = time.monotonic() - started
        for i in range(TRANSCRIPTS):
            status, token = statuses[ids[i]], tokens[i]
            if i not in kinds:
                assert (status.status, status.attempts) == ("done", 1), status
                continue
            fault = FAULTS[kinds[i]]
            assert (status.status, status.attempts) == ("failed", MAX_RECEIVE_COUNT), status
            assert status.error and fault.reason in status.error, (kinds[i], status.error)
            assert model_calls_with(fake_model, token) == fault.requests, kinds[i]
        assert queue_depth(stack, stack.transcripts_queue_url) == 0

        # The model recovers; the operator replays the DLQ.
        fake_model.heal(*tokens)
        dry = lm(stack, tmp_path, "replay", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert f"{len(failing)} transcripts in the DLQ would be replayed" in dry.stdout
        assert queue_depth(stack, stack.dlq_url) == len(failing)
        replayed = lm(stack, tmp_path, "replay")
        assert replayed.returncode == 0, replayed.stderr
        assert f"replayed {len(failing)} of {len(failing)} transcripts from the DLQ" in replayed.stdout
        assert f"{len(failing)}/{len(failing)}" in replayed.stderr  # the progress bar

        def all_learned() -> dict[str, TranscriptStatus] | None:
            statuses = read_statuses(stack, tenant, ids)
            done = [s for s in statuses.values() if s.status == "done"]
            return statuses if len(done) == TRANSCRIPTS else None

        statuses = wait_for(all_learned, "every transcript learned after the replay")
        memories = [
            m["content"]
            for user in range(5)
            for m in api.get(f"/v1/users/u{user}/memories").json()["memories"]
        ]

    attempts = Counter(statuses[ids[i]].attempts for i in range(TRANSCRIPTS))
    assert attempts == {1: TRANSCRIPTS - len(failing), MAX_RECEIVE_COUNT + 1: len(failing)}
    learned = Counter(token for token in tokens for content in memories if token in content)
    assert len(memories) == TRANSCRIPTS and learned == dict.fromkeys(tokens, 1)
    extractions = Counter(
        token
        for token in tokens
        for body in list(fake_model.extractions)
        if token in json.dumps(transcript_of(body))
    )
    assert extractions == dict.fromkeys(tokens, 1)  # one successful model answer per transcript
    assert queue_depth(stack, stack.dlq_url) == queue_depth(stack, stack.transcripts_queue_url) == 0
    print(
        f"\nmodel failures: {TRANSCRIPTS} transcripts, {len(failing)} failing"
        f" ({dict(Counter(kinds.values()))}); all {len(failing)} dead-lettered after"
        f" {MAX_RECEIVE_COUNT} deliveries ({dead_lettered_after:.0f} s), {len(failing)} replayed,"
        f" {len(memories)} of {TRANSCRIPTS} learned, duplicates 0, {time.monotonic() - started:.0f} s in all"
    )
