"""`python -m local.moto_server -H HOST -p PORT`: moto's server, with DynamoDB requests isolated.

moto (5.2) serves each HTTP request on its own thread, and its DynamoDB backend takes no lock.
Under concurrent writers that breaks what the service relies on:
- `TransactWriteItems` deep-copies each table it touches, then checks conditions and writes; when
  a condition fails it puts the copy back, erasing transactions that committed meanwhile (measured:
  20 writers with conditional transactions, 28 acknowledged commits, 27 left in the table);
- the copy itself fails with "dictionary changed size during iteration" (HTTP 500) when another
  request writes at the same time.
DynamoDB applies each request atomically and isolated from the others; one lock around every
DynamoDB action gives the local stack that guarantee. Other services are untouched.

The whole-table copy also makes a transaction cost seconds once a table holds 100,000 items (it
is taken once per item of the transaction). Under the lock, an undo log of just the items the
transaction touches rolls a failed one back the same way, at the cost of those items. Likewise a
query of one partition sorts every item of the table first (0.3 s at 50,000 items); it reads just
the partition instead. Both keep moto's answers; only their cost changes.

SQS fair queues: on a standard queue, messages sent with a MessageGroupId share the consumers'
capacity among their groups, so one group's backlog does not hold the others back (AWS, "Amazon
SQS fair queues", 2025). moto hands out visible messages in arrival order; here a standard queue
hands them out round-robin across groups (in arrival order within each group), which is what a
quiet tenant sees of SQS's fairness: its next message is among the first received. (LM_SQS_FAIR=0
keeps moto's arrival order, for bench/fair_share.py's comparison.)

With `--enforce-iam` every request is authenticated and authorized by moto's IAM access control
(`local/iam.py` says what it checks). moto only knows the resource of SQS, STS and IAM requests and
checks every other request against `*`, which no least-privilege statement matches; DynamoDB and
Secrets Manager requests are given the resources AWS authorizes them on (tables, indexes, secrets),
and a transaction is authorized item by item, as DynamoDB does.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.config import default_user_config
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.dynamodb import models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.iam.models import iam_backends
from moto.secretsmanager.responses import SecretsManagerResponse
from moto.server import main
from moto.sqs.models import Message, Queue
from moto.sqs.responses import SQSResponse

# The local stack's own identity (provisioning, tests, the stack standing in for the Lambda
# service): the access key every local client already signs with, an administrator here.
ADMIN_USER = "local-admin"
ADMIN_ACCESS_KEY = "testing"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
# Each item of a transaction needs the permission of the single-item action it performs.
TRANSACT_WRITE_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}

_DYNAMODB_LOCK = threading.RLock()


def serialize_dynamodb() -> None:
    """Run every DynamoDB action of this process under one lock (idempotent)."""
    original = DynamoHandler.call_action
    if getattr(original, "serialized", False):
        return

    def call_action(self: DynamoHandler) -> Any:
        with _DYNAMODB_LOCK:
            return original(self)

    call_action.serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto's DynamoDB backend during a transaction."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


@contextmanager
def _tables_not_copied() -> Iterator[None]:
    real = models.copy
    models.copy = _TablesNotCopied  # type: ignore[assignment]
    try:
        yield
    finally:
        models.copy = real


Touched = tuple[Table, DynamoType, DynamoType | None, Any]


def _touched_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[Touched]:
    saved: list[Touched] = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName", ""))
        source = op.get("Key") or op.get("Item") or {}
        if table is None or table.hash_key_attr not in source:
            continue
        hash_key = DynamoType(source[table.hash_key_attr])
        range_key = DynamoType(source[table.range_key_attr]) if table.range_key_attr in source else None
        if table.has_range_key and range_key is None:
            continue
        saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    return saved


def _put_back(saved: list[Touched]) -> None:
    for table, hash_key, range_key, item in reversed(saved):
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
        elif item is None:
            table.items[hash_key].pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item


def undo_log_transactions() -> None:
    """Roll failed transactions back from a copy of the items they touch (idempotent)."""
    original = models.DynamoDBBackend.transact_write_items
    if getattr(original, "undo_log", False):
        return

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _touched_items(self, transact_items)
        try:
            with _tables_not_copied():
                original(self, transact_items)
        except Exception:
            _put_back(saved)
            raise

    transact_write_items.undo_log = True  # type: ignore[attr-defined]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def partition_queries() -> None:
    """Base-table queries read the one partition they name (idempotent; index queries unchanged)."""
    original = Table.query
    if getattr(original, "by_partition", False):
        return

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or not self.has_range_key:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: partition  # type: ignore[method-assign]  # this call only, under the lock
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    query.by_partition = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]


def dynamodb_permissions(
    action: str, body: dict[str, Any], region: str, account: str
) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs DynamoDB authorizes a request on."""

    def arn(table: str, index: str | None = None) -> str:
        if table.startswith("arn:"):
            return table
        return f"arn:aws:dynamodb:{region}:{account}:table/{table}" + (f"/index/{index}" if index else "")

    if action in ("BatchWriteItem", "BatchGetItem"):
        return [(action, arn(table)) for table in body.get("RequestItems") or {}]
    if action == "TransactWriteItems":
        return [
            (TRANSACT_WRITE_ACTIONS.get(kind, kind), arn(str(detail.get("TableName", ""))))
            for item in body.get("TransactItems") or []
            for kind, detail in item.items()
        ]
    if action == "TransactGetItems":
        return [
            ("GetItem", arn(str(item["Get"].get("TableName", ""))))
            for item in body.get("TransactItems") or []
        ]
    table = body.get("TableName")
    return [(action, arn(str(table), body.get("IndexName")) if table else "*")]


def json_access_denied(
    error: AccessDeniedError, action: str, resource: str, code: str = "AccessDeniedException"
) -> JsonRESTError:
    """moto answers every service in IAM's XML; JSON services (DynamoDB, Secrets Manager, SQS) answer so."""
    who = str(error.message).split(" is not authorized")[0]
    return JsonRESTError(
        code,
        f"{who} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action",
    )


def authorize_dynamodb_resources() -> None:
    """DynamoDB requests authorized on their tables and indexes, transactions item by item (idempotent)."""
    original = DynamoHandler._authenticate_and_authorize_normal_action
    if getattr(original, "by_resource", False):
        return

    def authorize(self: DynamoHandler, resource: str = "*") -> None:
        if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
            return original(self, resource)
        body = self.body if isinstance(self.body, dict) else {}
        action = self._get_action()
        for permission, arn in dynamodb_permissions(action, body, self.region, self.current_account):
            self._get_action = functools.partial(str, permission)  # type: ignore[method-assign]
            try:
                original(self, arn)
            except AccessDeniedError as error:
                raise json_access_denied(error, f"dynamodb:{permission}", arn) from None
            finally:
                del self._get_action
        return None

    authorize.by_resource = True  # type: ignore[attr-defined]
    DynamoHandler._authenticate_and_authorize_normal_action = authorize  # type: ignore[method-assign,assignment]


def authorize_secrets_by_arn() -> None:
    """Secrets Manager requests authorized on the secret's ARN, not on `*` (idempotent)."""

    def determine_resource(self: SecretsManagerResponse) -> str:
        secret_id = self._get_param("SecretId")
        if not secret_id:
            return "*"
        try:
            return str(self.backend.describe_secret(secret_id).arn)
        except Exception:  # no such secret: AWS still authorizes first, on the ARN named if any
            return str(secret_id) if str(secret_id).startswith("arn:") else "*"

    if not getattr(SecretsManagerResponse, "_determine_resource", None):
        SecretsManagerResponse._determine_resource = determine_resource  # type: ignore[attr-defined]


def json_protocol_errors(response_class: type[Any], service: str, code: str) -> None:
    """AccessDenied in the JSON shape `service` answers with (idempotent); other requests unchanged."""
    original = response_class._authenticate_and_authorize_normal_action
    if getattr(original, "json_errors", False):
        return

    def authorize(self: Any, resource: str = "*") -> None:
        try:
            original(self, resource)
        except AccessDeniedError as error:
            if not self.headers.get("X-Amz-Target"):
                raise  # a query-protocol client reads moto's XML answer
            raise json_access_denied(error, f"{service}:{self._get_action()}", resource, code) from None

    authorize.json_errors = True  # type: ignore[attr-defined]
    response_class._authenticate_and_authorize_normal_action = authorize


# IAM has no actions for SQS's batch calls: AWS authorizes each under its single-message action.
SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def authorize_sqs_batches_as_single_actions() -> None:
    """sqs:DeleteMessageBatch is authorized as sqs:DeleteMessage, and so on (idempotent)."""
    original = SQSResponse._authenticate_and_authorize_normal_action
    if getattr(original, "batch_actions", False):
        return

    def authorize(self: Any, resource: str = "*") -> None:
        action = self._get_action()
        if action not in SQS_BATCH_ACTIONS:
            return original(self, resource)
        self._get_action = functools.partial(str, SQS_BATCH_ACTIONS[action])
        try:
            return original(self, resource)
        finally:
            del self._get_action

    authorize.batch_actions = True  # type: ignore[attr-defined]
    SQSResponse._authenticate_and_authorize_normal_action = authorize  # type: ignore[method-assign]


def fair_order(messages: list[Message]) -> list[Message]:
    """Round-robin across message groups (messages without a group form one group of their own),
    the order within each group kept; groups take turns in the order their first message arrived."""
    groups: dict[str | None, list[Message]] = {}
    for message in messages:
        groups.setdefault(message.group_id, []).append(message)
    if len(groups) < 2:
        return messages
    ordered: list[Message] = []
    queues = list(groups.values())
    for turn in range(max(len(group) for group in queues)):
        ordered.extend(group[turn] for group in queues if turn < len(group))
    return ordered


def fair_queues() -> None:
    """Standard queues serve their message groups fairly (idempotent)."""
    original: property = Queue.__dict__["messages"]
    if getattr(original.fget, "fair", False):
        return

    def messages(self: Queue) -> list[Message]:
        visible: list[Message] = original.__get__(self)
        return visible if self.fifo_queue else fair_order(visible)

    messages.fair = True  # type: ignore[attr-defined]
    Queue.messages = property(messages)  # type: ignore[method-assign,assignment]


def enforce_iam() -> None:
    """Authenticate and authorize every request; the local admin key stays valid (idempotent)."""
    default_user_config["iam"]["load_aws_managed_policies"] = True  # SAM attaches AWS managed policies
    backend = iam_backends[ACCOUNT_ID]["aws"]
    if ADMIN_USER not in backend.users:
        backend.create_user(REGION, ADMIN_USER)
        backend.put_user_policy(ADMIN_USER, "administrator", json.dumps(ADMIN_POLICY))
        key = backend.create_access_key(ADMIN_USER)
        for name, value in list(backend.access_keys.items()):
            if value is key:
                del backend.access_keys[name]
        key.access_key_id = key.secret_access_key = ADMIN_ACCESS_KEY
        backend.access_keys[ADMIN_ACCESS_KEY] = key
    authorize_dynamodb_resources()
    authorize_secrets_by_arn()
    json_protocol_errors(SecretsManagerResponse, "secretsmanager", "AccessDeniedException")
    # SQS's JSON protocol keeps the query protocol's code (`AccessDenied`), as AWS does.
    json_protocol_errors(SQSResponse, "sqs", "AccessDenied")
    authorize_sqs_batches_as_single_actions()
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0


if __name__ == "__main__":
    if "--enforce-iam" in sys.argv:
        sys.argv.remove("--enforce-iam")
        enforce_iam()
    serialize_dynamodb()
    if os.environ.get("LM_SQS_FAIR", "1") != "0":  # 0: arrival order, to measure what fairness buys
        fair_queues()
    undo_log_transactions()
    partition_queries()
    main()
