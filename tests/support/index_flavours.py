"""Run a test against every knowledge-index engine the service can be configured with.

`embedded` is the real SQLite engine on disk. The OpenSearch flavours (`managed`,
`serverless`, `serverless-nextgen`) are the real OpenSearch adapter, configured through the
settings as in AWS (`LM_INDEX_ENGINE=opensearch`, `LM_OPENSEARCH_FLAVOUR`), talking to
`tests.fakes.opensearch_server` playing that flavour strictly. Writes there become searchable
after the flavour's refresh interval (60 s on Serverless vector collections, 1 s by default on a
domain), on a manual clock shared by the fake node, the adapter and the `Indexer`: a test moves
time with `settle()` instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from learning_machine.adapters.index import opensearch
from learning_machine.adapters.index.opensearch import FLAVOURS, OpenSearchIndex
from learning_machine.api import deps
from learning_machine.services import indexing
from tests.conftest import Aws, reset_clients
from tests.fakes.opensearch_server import FakeOpenSearch, ManualClock

ENGINES = ["embedded", "managed", "serverless", "serverless-nextgen"]


@dataclass
class IndexUnderTest:
    engine: str
    clock: ManualClock
    node: FakeOpenSearch | None = None

    @property
    def refresh_interval(self) -> float:
        return self.node.refresh_interval if self.node is not None else 0.0

    def settle(self, intervals: float = 1.0) -> None:
        """Let `intervals` refresh intervals pass (and a second more): earlier writes are searchable."""
        self.clock.advance(self.refresh_interval * intervals + 1.0)

    def past_repeats(self) -> None:
        """Let the delay after which the Indexer repeats deletes pass."""
        from learning_machine.services.indexing import REPEAT_AFTER_DELAYS

        self.settle(REPEAT_AFTER_DELAYS)

    def stored(self, namespace: str) -> list[str]:
        """Doc ids of every copy the node holds in a namespace, searchable yet or not."""
        if self.node is None:
            return []
        return sorted(
            str(d["doc_id"])
            for name in self.node.indices
            for d in self.node.documents(name).values()
            if d.get("namespace") == namespace
        )


@pytest.fixture(params=ENGINES)
def index_engine(
    request: pytest.FixtureRequest, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> Iterator[IndexUnderTest]:
    clock = ManualClock(time.time())
    if request.param == "embedded":
        yield IndexUnderTest("embedded", clock)
        return
    flavour = request.param
    refresh = FLAVOURS[flavour].visibility_delay_seconds
    with FakeOpenSearch(flavour=flavour, refresh_interval=refresh, clock=clock) as node:
        monkeypatch.setenv("LM_INDEX_ENGINE", "opensearch")
        monkeypatch.setenv("LM_OPENSEARCH_ENDPOINT", node.url)
        monkeypatch.setenv("LM_OPENSEARCH_FLAVOUR", flavour)
        reset_clients()
        indexer = deps.services().indexer
        assert isinstance(indexer.index, OpenSearchIndex)
        # Every adapter and Indexer (this one, and those the extract and curate handlers build)
        # on that clock.
        monkeypatch.setattr(opensearch, "_wall_clock", clock)
        monkeypatch.setattr(indexing, "_utcnow", lambda: datetime.fromtimestamp(clock(), UTC))
        yield IndexUnderTest(flavour, clock, node)
    reset_clients()
