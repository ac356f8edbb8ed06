"""What only the embedded engine promises: the file, its concurrency, FTS5 and its failures.

Upsert, search, delete, isolation, kinds, pending documents, idempotent upserts, hostile query
text and the in-query filter are checked for every engine in test_index_contract.py.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest

from learning_machine.adapters.index.base import IndexRequestError, IndexUnavailableError
from learning_machine.adapters.index.embedded import EmbeddedIndex
from tests.support.index_docs import DIMENSION, document

WRITES_PER_PROCESS = 60


@pytest.fixture
def index(tmp_path: Path) -> Iterator[EmbeddedIndex]:
    engine = EmbeddedIndex(tmp_path / "nested" / "index.db", DIMENSION)
    engine.ensure()
    yield engine
    engine.close()


def keyword(index: EmbeddedIndex, text: str, **kwargs: Any) -> list[str]:
    options = {"namespaces": ["global"], "kinds": ["knowledge"], "limit": 10} | kwargs
    hits = index.search("acme", text=text, vector=None, mode="keyword", **options)
    return [hit.doc_id for hit in hits]


def count_documents(path: Path) -> int:
    conn = apsw.Connection(str(path))
    try:
        ((count,),) = conn.execute("SELECT count(*) FROM documents").fetchall()
        return int(count)
    finally:
        conn.close()


def test_the_file_is_created_in_wal_mode(index: EmbeddedIndex) -> None:
    assert index.path.exists()
    conn = apsw.Connection(str(index.path))
    try:
        assert conn.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
    finally:
        conn.close()


def test_documents_survive_reopening_the_file(index: EmbeddedIndex) -> None:
    index.upsert([document("k1", "Persistent note")])
    index.close()

    reopened = EmbeddedIndex(index.path, DIMENSION)
    try:
        assert keyword(reopened, "persistent") == ["k1"]
    finally:
        reopened.close()


def test_reopening_with_another_dimension_is_refused(index: EmbeddedIndex) -> None:
    index.close()

    with pytest.raises(IndexRequestError, match="dimension"):
        EmbeddedIndex(index.path, DIMENSION + 1).ensure()


def test_a_batch_with_a_wrong_vector_writes_nothing(index: EmbeddedIndex) -> None:
    good = document("k1", "Good vector")
    bad = document("k2", "Bad vector", vector=[0.1] * (DIMENSION - 1))

    with pytest.raises(ValueError, match="dimensions"):
        index.upsert([good, bad])
    with pytest.raises(ValueError, match="finite"):
        index.upsert([document("k3", "Not a number", vector=[float("nan")] * DIMENSION)])

    assert count_documents(index.path) == 0


def test_a_title_match_outranks_the_same_match_in_the_body(index: EmbeddedIndex) -> None:
    index.upsert(
        [
            document("body", "Weekly notes", "the kubernetes upgrade went fine"),
            document("title", "Kubernetes upgrade", "weekly notes went fine"),
        ]
    )

    assert keyword(index, "kubernetes upgrade") == ["title", "body"]


def test_keywords_match_other_forms_of_the_same_word(index: EmbeddedIndex) -> None:
    index.upsert([document("k1", "She runs the deployments")])

    assert keyword(index, "running deployment") == ["k1"]


def test_a_writer_blocked_past_the_busy_timeout_reports_the_index_unavailable(tmp_path: Path) -> None:
    index = EmbeddedIndex(tmp_path / "index.db", DIMENSION, busy_timeout_ms=50)
    index.upsert([document("k1", "Before the lock")])
    other = apsw.Connection(str(index.path))
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(IndexUnavailableError):
            index.upsert([document("k2", "During the lock")])
        # WAL: readers are not blocked by the writer.
        assert keyword(index, "lock") == ["k1"]
    finally:
        other.execute("ROLLBACK")
        other.close()

    index.upsert([document("k2", "During the lock")])
    assert sorted(keyword(index, "lock")) == ["k1", "k2"]
    index.close()


def _write_documents(path: str, writer: str, start: Any) -> None:
    """Runs in a child process: a separate connection, as the local API and the poller have."""
    start.wait()
    index = EmbeddedIndex(Path(path), DIMENSION)
    for number in range(WRITES_PER_PROCESS):
        index.upsert([document(f"{writer}-{number}", f"note {number} from {writer}", namespace=writer)])
    index.close()


def test_two_processes_creating_and_writing_the_same_file_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "index.db"  # neither process finds the file: both create it
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writers = [
        context.Process(target=_write_documents, args=(str(path), name, start)) for name in ("api", "poller")
    ]
    for process in writers:
        process.start()
    start.set()
    for process in writers:
        process.join(timeout=120)
    assert [process.exitcode for process in writers] == [0, 0]

    assert count_documents(path) == 2 * WRITES_PER_PROCESS
    index = EmbeddedIndex(path, DIMENSION)
    for name in ("api", "poller"):
        hits = index.search(
            "acme",
            namespaces=[name],
            kinds=["knowledge"],
            text="note",
            vector=None,
            limit=200,
            mode="keyword",
        )
        assert len(hits) == WRITES_PER_PROCESS
    index.close()


def _open_index(path: str, start: Any) -> None:
    start.wait()
    index = EmbeddedIndex(Path(path), DIMENSION)
    index.ensure()
    index.close()


def test_processes_opening_a_new_file_together_all_get_it(tmp_path: Path) -> None:
    # Switching a new file to WAL can answer SQLITE_BUSY without waiting on the busy timeout; before
    # the open was retried, about one opener in 25 failed here.
    context = multiprocessing.get_context("fork")
    exit_codes = []
    for trial in range(40):
        start = context.Event()
        openers = [
            context.Process(target=_open_index, args=(str(tmp_path / str(trial) / "index.db"), start))
            for _ in range(6)
        ]
        for process in openers:
            process.start()
        start.set()
        for process in openers:
            process.join(timeout=60)
        exit_codes += [process.exitcode for process in openers]
    assert exit_codes == [0] * len(exit_codes)
