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
"""

from __future__ import annotations

import threading
from typing import Any

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


if __name__ == "__main__":
    serialize_dynamodb()
    main()
