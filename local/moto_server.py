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
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.server import main

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


if __name__ == "__main__":
    serialize_dynamodb()
    undo_log_transactions()
    partition_queries()
    main()
