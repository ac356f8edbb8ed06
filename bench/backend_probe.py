"""Where a request's time goes: DynamoDB round trips (every HTTP send botocore makes) and index
queries (the query embedding plus the engine's search), counted and timed per request.

Patched at the class level, so every client and index the handlers build is seen, whenever they
build it. A DynamoDB request is attributed to a store family by its partition key (keys.py layout:
`T#<tenant>#<family>#...`); one family = one kind of item the service reads.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.endpoint

from learning_machine.adapters.index.embedded import EmbeddedIndex
from learning_machine.services.indexing import Indexer

_FAMILY = re.compile(r'"T#[^"#]*#([A-Z]+)(?:#[^"#]*#([A-Z]+))?')
_NAMESPACE_KINDS = {"E": "entities", "N": "entity names", "K": "insights", "G": "relationships"}


def family_of(body: bytes | str | None) -> str:
    """'user', 'session', 'config', ... from the first tenant-scoped key in a DynamoDB request body."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    match = _FAMILY.search(text)
    if not match:
        return "other"
    prefix, suffix = match.groups()
    if prefix == "NS":
        return _NAMESPACE_KINDS.get(suffix or "", "namespace")
    names = {"U": "user", "S": "session", "CONFIG": "config", "TR": "transcript", "USAGE": "usage"}
    return names.get(prefix, prefix.lower())


@dataclass
class RequestCost:
    dynamodb_seconds: float = 0.0
    index_seconds: float = 0.0  # Indexer.search: the query's embedding and the engine's search
    engine_seconds: float = 0.0  # the engine's search alone
    # Indexer.embed_query: the query (and its clauses) embedded in one call per request, shared by
    # the memories' ranking and the index query (which then embeds nothing itself).
    query_vector_seconds: float = 0.0
    dynamodb_round_trips: Counter[str] = field(default_factory=Counter)
    index_queries: int = 0

    @property
    def backend_seconds(self) -> float:
        # The embedding counts as backend: in AWS it is a call to an embeddings endpoint.
        return self.dynamodb_seconds + self.index_seconds + self.query_vector_seconds

    @property
    def embedding_seconds(self) -> float:
        return self.index_seconds - self.engine_seconds + self.query_vector_seconds


class BackendProbe:
    """`with probe.request() as cost:` collects what one request spent outside the handler."""

    def __init__(self) -> None:
        self.current: RequestCost | None = None

    @contextmanager
    def request(self) -> Iterator[RequestCost]:
        self.current = RequestCost()
        try:
            yield self.current
        finally:
            self.current = None

    @contextmanager
    def installed(self) -> Iterator[BackendProbe]:
        probe = self
        send = getattr(botocore.endpoint.Endpoint, "_send")  # noqa: B009 (private: mypy knows no such name)

        def timed_send(endpoint: Any, request: Any) -> Any:
            started = time.perf_counter()
            try:
                return send(endpoint, request)
            finally:
                cost = probe.current
                target = request.headers.get("X-Amz-Target") or b""  # DynamoDB_20120810.Query
                if cost is not None and target[:8] in ("DynamoDB", b"DynamoDB"):
                    cost.dynamodb_seconds += time.perf_counter() - started
                    cost.dynamodb_round_trips[family_of(request.body)] += 1

        def timed(original: Callable[..., Any], on_done: Callable[[RequestCost, float], None]) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    if probe.current is not None:
                        on_done(probe.current, time.perf_counter() - started)

            return wrapper

        def index_query(cost: RequestCost, seconds: float) -> None:
            cost.index_queries += 1
            cost.index_seconds += seconds

        def engine(cost: RequestCost, seconds: float) -> None:
            cost.engine_seconds += seconds

        def query_vector(cost: RequestCost, seconds: float) -> None:
            cost.query_vector_seconds += seconds

        patches = [
            (botocore.endpoint.Endpoint, "_send", timed_send),
            (Indexer, "search", timed(Indexer.search, index_query)),
            (EmbeddedIndex, "search", timed(EmbeddedIndex.search, engine)),
            (Indexer, "embed_query", timed(Indexer.embed_query, query_vector)),
        ]
        originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
        for owner, name, replacement in patches:
            setattr(owner, name, replacement)
        try:
            yield self
        finally:
            for owner, name, original in originals:
                setattr(owner, name, original)
