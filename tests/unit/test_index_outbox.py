"""Index writes survive an unreachable index: they wait in the DynamoDB outbox and are replayed,
in order, once it answers again; get-context meanwhile degrades instead of failing. Every test
runs against every engine the service can be configured with (`tests/support/index_flavours.py`):
the embedded one and the OpenSearch adapter against a fake node playing each flavour."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from learning_machine.adapters.index.base import IndexUnavailableError
from learning_machine.api import deps
from learning_machine.services import indexing
from tests.conftest import Aws, Call, reset_clients
from tests.fakes.opensearch_server import FakeOpenSearch
from tests.support.index_flavours import IndexUnderTest, index_engine

__all__ = ["index_engine"]  # the fixture, imported for pytest


class Switch:
    """Makes the real index unreachable for writes and searches while `down` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        index = deps.services().indexer.index
        for name in ("upsert", "delete", "delete_tenant_namespace", "search"):
            real = getattr(index, name)
            monkeypatch.setattr(index, name, self._guard(real))

    def _guard(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise IndexUnavailableError("connection refused")
            return real(*args, **kwargs)

        return guarded


def titles(call: Call, query: str) -> list[str]:
    return [
        r["title"]
        for r in call("POST", "/v1/search", {"query": query, "stores": ["knowledge"]})[1]["results"]
    ]


def pending(aws: Aws) -> int:
    return len(deps.services().indexer.outbox.pending("acme", limit=100))  # type: ignore[union-attr]


def test_writes_wait_in_the_outbox_and_replay_in_order(
    aws: Aws, call: Call, monkeypatch: pytest.MonkeyPatch, index_engine: IndexUnderTest
) -> None:
    index = Switch(monkeypatch)
    index.down = True
    status, _ = call(
        "POST", "/v1/knowledge", {"title": "Walrus deploys", "content": "Walruses deploy at noon."}
    )
    assert status == 201  # stored in DynamoDB; the index write waits in the outbox
    status, doomed = call(
        "POST", "/v1/knowledge/proposals", {"title": "Narwhal", "content": "Narwhals review code."}
    )
    assert status == 201
    call("POST", f"/v1/knowledge/proposals/{doomed['insight_id']}/reject", {"reason": "No."})
    assert pending(aws) == 3
    assert call("GET", "/v1/knowledge")[1]["insights"][0]["title"] == "Walrus deploys"

    index.down = False
    call("POST", "/v1/knowledge", {"title": "Otter standups", "content": "Otters hold standups at nine."})
    assert pending(aws) == 0
    # On Serverless the replayed delete ran before the replayed upsert was searchable: it is
    # complete once repeated, after the refresh interval (by the next drain or write).
    index_engine.past_repeats()
    deps.services().indexer.drain("acme")
    assert titles(call, "walruses deploy noon")[0] == "Walrus deploys"
    assert "Narwhal" not in titles(call, "narwhals review code")  # the delete replayed after the upsert
    assert titles(call, "otters standups")[0] == "Otter standups"


def test_forget_user_while_the_index_is_down_clears_it_later(
    aws: Aws, call: Call, monkeypatch: pytest.MonkeyPatch, index_engine: IndexUnderTest
) -> None:
    index = Switch(monkeypatch)
    call("POST", "/v1/entities", {"name": "Beehive", "description": "Ada's beehive.", "user_id": "ada"})
    index_engine.settle()
    assert deps.services().indexer.search("acme", ["user:ada"], ["entity"], "beehive", limit=5)
    index.down = True
    call("POST", "/v1/users/ada/memories", {"layer": "knowledge", "content": "Keeps bees."})
    assert call("DELETE", "/v1/users/ada")[0] == 204
    assert pending(aws) == 1
    index.down = False
    assert deps.services().indexer.drain("acme") >= 1  # the forget (and any repeat already due)
    assert pending(aws) == 0
    assert deps.services().indexer.search("acme", ["user:ada"], ["entity"], "beehive", limit=5) == []
    index_engine.past_repeats()
    deps.services().indexer.drain("acme")
    assert index_engine.stored("user:ada") == []


@pytest.mark.parametrize("status", [400, 403])
def test_an_index_refused_at_cold_start_degrades_reads_and_keeps_writes(
    aws: Aws, call: Call, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    """A cold start whose index creation is refused (a mapping the collection does not take, a
    data access policy without aoss:CreateIndex) leaves the index unusable until an operator
    fixes it: get-context answers degraded, not 500, and writes wait in the outbox."""
    with FakeOpenSearch(flavour="serverless") as node:
        monkeypatch.setenv("LM_INDEX_ENGINE", "opensearch")
        monkeypatch.setenv("LM_OPENSEARCH_ENDPOINT", node.url)
        monkeypatch.setenv("LM_OPENSEARCH_FLAVOUR", "serverless")
        reset_clients()
        node.fail_next(
            status, "mapper_parsing_exception" if status == 400 else "security_exception", times=50
        )

        reply = call("GET", "/v1/context", query={"user_id": "ada", "query": "walrus deploys"})
        assert reply[0] == 200 and reply[1]["degraded"] is True
        status_code, _ = call("POST", "/v1/knowledge", {"title": "Walrus deploys", "content": "At noon."})
        assert status_code == 201
        assert pending(aws) == 1
        assert "learning-machine" not in node.indices

        node.forget_script()  # fixed by an operator
        call("POST", "/v1/knowledge", {"title": "Otter standups", "content": "Otters meet at nine."})
        assert pending(aws) == 0
        assert sorted(d["title"] for d in node.documents("learning-machine").values()) == [
            "Otter standups",
            "Walrus deploys",
        ]
        assert call("GET", "/v1/context", query={"user_id": "ada", "query": "walrus"})[1]["degraded"] is False
    reset_clients()


def repeats(aws: Aws, due_only: bool = False) -> int:
    """Deletes waiting to be repeated (all of them, or those due now)."""
    outbox = deps.services().indexer.outbox
    assert outbox is not None
    now = indexing._utcnow() if due_only else datetime(2100, 1, 1, tzinfo=UTC)
    return len(outbox.due_repeats("acme", now, limit=100))


def test_a_delete_is_repeated_after_the_visibility_delay_by_the_next_write(
    aws: Aws, call: Call, index_engine: IndexUnderTest
) -> None:
    beehive = {"name": "Beehive", "description": "A beehive.", "namespace": "global"}
    status, entity = call("POST", "/v1/entities", beehive)
    assert status in (200, 201)
    path = f"/v1/entities/{entity['entity_id']}"
    assert call("DELETE", path, query={"namespace": "global"})[0] == 204  # within the interval

    doc_id = f"entity:{entity['entity_id']}"
    # One repeat for the write (older copies), one for the delete; none where writes show at once.
    assert repeats(aws) == (0 if index_engine.engine == "embedded" else 2)
    # A Serverless collection did not show the copy to the delete's lookup yet: it is still there.
    assert (doc_id in index_engine.stored("global")) == index_engine.engine.startswith("serverless")

    index_engine.past_repeats()
    call("POST", "/v1/entities", {"name": "Otter", "description": "An otter.", "namespace": "global"})
    assert repeats(aws, due_only=True) == 0
    assert doc_id not in index_engine.stored("global")
    index_engine.settle()
    assert [
        h.doc_id for h in deps.services().indexer.search("acme", ["global"], ["entity"], "otter", limit=5)
    ] != []


def test_an_update_within_the_refresh_interval_leaves_one_copy_once_repeated(
    aws: Aws, call: Call, index_engine: IndexUnderTest
) -> None:
    beehive = {"name": "Beehive", "description": "A beehive.", "namespace": "global"}
    entity = call("POST", "/v1/entities", beehive)[1]
    index_engine.clock.advance(1.0)  # a second later: well within the refresh interval
    facts = {"facts": ["The beehive swarmed in May."]}
    update = call("POST", "/v1/entities/Beehive/facts", facts, query={"namespace": "global"})
    assert update[0] in (200, 201)  # an update, at once

    doc_id = f"entity:{entity['entity_id']}"
    # The update's lookup could not see the first copy on a Serverless collection: two copies.
    copies = (
        2 if index_engine.engine.startswith("serverless") else 0 if index_engine.engine == "embedded" else 1
    )
    assert index_engine.stored("global").count(doc_id) == copies

    index_engine.past_repeats()
    call("POST", "/v1/entities", {"name": "Otter", "description": "An otter.", "namespace": "global"})
    assert index_engine.stored("global").count(doc_id) == (0 if index_engine.engine == "embedded" else 1)
    assert repeats(aws, due_only=True) == 0
    index_engine.settle()
    (hit,) = deps.services().indexer.search(
        "acme", ["global"], ["entity"], "swarmed", limit=5, mode="keyword"
    )
    assert hit.payload["facts"] == ["The beehive swarmed in May."]
    (again,) = deps.services().indexer.search(
        "acme", ["global"], ["entity"], "beehive", limit=5, mode="keyword"
    )
    assert (again.doc_id, again.payload) == (hit.doc_id, hit.payload)
