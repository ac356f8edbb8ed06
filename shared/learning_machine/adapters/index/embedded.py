"""The embedded engine: one SQLite file, FTS5 for BM25 and sqlite-vec for k-NN, through apsw.

Python's own sqlite3 module may not load extensions (it cannot on these machines); apsw ships a
recent SQLite that can, and it includes FTS5. Three tables share one integer id:
- `documents`: the document itself, unique per (tenant_id, doc_id);
- `documents_fts`: FTS5, contentless (the text lives in `documents`), title and text columns;
- `documents_vec`: vec0 with `tenant_id` as partition key and namespace, kind and status as
  metadata columns, so the k-NN query filters while it searches, not after it.
WAL mode and a busy timeout let the local API and the poller (separate processes) write to the same
file; every write is one `BEGIN IMMEDIATE` transaction, so a writer waits for the lock up front
instead of failing when it upgrades a read lock.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import apsw
import sqlite_vec
from pydantic_core import to_json

from ...core.clauses import Clause
from ...core.scoring import BM25_K1, DEFAULT_SCALE, ScoreScale
from .base import IndexDocument, IndexHit, IndexRequestError, IndexUnavailableError, SearchMode
from .fusion import RankedDocument, fuse, plan_search

DEFAULT_PATH = Path(".local/index.db")
DEFAULT_BUSY_TIMEOUT_MS = 10_000
_OPEN_RETRY_PAUSE_S = 0.05

# FTS5 column weights for bm25(): title counts twice, as `title^2` does in the OpenSearch engine.
_TITLE_WEIGHT = 2.0
_TEXT_WEIGHT = 1.0
_BM25_B = 0.75

_SCHEMA = """
CREATE TABLE IF NOT EXISTS index_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    tags TEXT NOT NULL,
    payload TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, doc_id)
);
CREATE INDEX IF NOT EXISTS documents_by_namespace ON documents (tenant_id, namespace);
CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5(
    title, text, content = '', contentless_delete = 1, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS documents_vec USING vec0(
    id INTEGER PRIMARY KEY,
    tenant_id TEXT PARTITION KEY,
    embedding FLOAT[{dimension}] DISTANCE_METRIC = cosine,
    namespace TEXT,
    kind TEXT,
    status TEXT
);
"""

_UPSERT_DOCUMENT = """
INSERT INTO documents (tenant_id, doc_id, namespace, kind, status, title, text, tags, payload, updated_at)
VALUES (:tenant_id, :doc_id, :namespace, :kind, :status, :title, :text, :tags, :payload, :updated_at)
ON CONFLICT (tenant_id, doc_id) DO UPDATE SET
    namespace = excluded.namespace, kind = excluded.kind, status = excluded.status,
    title = excluded.title, text = excluded.text, tags = excluded.tags,
    payload = excluded.payload, updated_at = excluded.updated_at
RETURNING id
"""

# Both rankings bind lists as JSON arrays (`IN (SELECT value FROM json_each(?))`): one statement
# text for any number of namespaces or kinds, and vec0 still applies the IN inside the k-NN search.
_KEYWORD_RANKING = f"""
SELECT d.doc_id, d.kind, d.namespace, d.payload,
    lucene_bm25(documents_fts, {_TITLE_WEIGHT}, {_TEXT_WEIGHT}), NULL
FROM documents_fts
JOIN documents AS d ON d.id = documents_fts.rowid
WHERE documents_fts MATCH :match
  AND d.tenant_id = :tenant_id
  AND d.namespace IN (SELECT value FROM json_each(:namespaces))
  AND d.kind IN (SELECT value FROM json_each(:kinds))
  AND d.status = 'active'
ORDER BY 5 DESC, d.doc_id
LIMIT :depth
"""

_VECTOR_RANKING = """
WITH nearest AS (
    SELECT id, distance
    FROM documents_vec
    WHERE embedding MATCH :vector
      AND k = :depth
      AND tenant_id = :tenant_id
      AND namespace IN (SELECT value FROM json_each(:namespaces))
      AND kind IN (SELECT value FROM json_each(:kinds))
      AND status = 'active'
)
SELECT d.doc_id, d.kind, d.namespace, d.payload, 1.0 - nearest.distance, 1.0 - nearest.distance
FROM nearest
JOIN documents AS d ON d.id = nearest.id
ORDER BY nearest.distance, d.doc_id
"""

# Failures a later retry can cure: the file is locked past the busy timeout, cannot be opened, or
# the disk is full.
_UNAVAILABLE = (apsw.BusyError, apsw.LockedError, apsw.CantOpenError, apsw.IOError, apsw.FullError)


def _no_repeats(written_before: datetime | None) -> None:
    # One row per key, replaced in place: which write a row holds is not recorded, and with no
    # visibility delay a repeated delete is never scheduled for this engine.
    if written_before is not None:
        raise ValueError("the embedded engine's deletes are complete at once; nothing repeats them")


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except _UNAVAILABLE as error:
        raise IndexUnavailableError(f"embedded index unavailable: {error}") from error


class EmbeddedIndex:
    """A `KnowledgeIndex` in one SQLite file. Safe across threads and processes."""

    def __init__(
        self,
        path: Path = DEFAULT_PATH,
        dimension: int = 384,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> None:
        if dimension < 1:
            raise ValueError("dimension must be positive")
        self._path = Path(path)
        self._dimension = dimension
        self._busy_timeout_ms = busy_timeout_ms
        # One connection per instance; the lock keeps one transaction at a time on it.
        self._lock = threading.RLock()
        self._conn: apsw.Connection | None = None

    @property
    def path(self) -> Path:
        return self._path

    # Every write is visible to the next read: a delete never misses a copy, so none is repeated.
    visibility_delay_seconds = 0.0

    def ensure(self) -> None:
        with self._lock:
            self._connection()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def upsert(self, docs: Sequence[IndexDocument]) -> None:
        for doc in docs:
            self._check_vector(doc.vector)
        if not docs:
            return
        with self._write() as conn:
            for doc in docs:
                row = conn.execute(_UPSERT_DOCUMENT, _document_row(doc)).fetchone()
                assert row is not None  # RETURNING always yields the row it wrote
                (row_id,) = row
                conn.execute("DELETE FROM documents_fts WHERE rowid = ?", (row_id,))
                conn.execute(
                    "INSERT INTO documents_fts (rowid, title, text) VALUES (?, ?, ?)",
                    (row_id, doc.title, doc.text),
                )
                # vec0 cannot move a row to another partition in place: replace it.
                conn.execute("DELETE FROM documents_vec WHERE id = ?", (row_id,))
                conn.execute(
                    "INSERT INTO documents_vec (id, tenant_id, embedding, namespace, kind, status)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        row_id,
                        doc.tenant_id,
                        sqlite_vec.serialize_float32(doc.vector),
                        doc.namespace,
                        doc.kind,
                        doc.status,
                    ),
                )

    def delete(
        self, tenant_id: str, doc_ids: Sequence[str], *, written_before: datetime | None = None
    ) -> None:
        _no_repeats(written_before)
        if not doc_ids:
            return
        with self._write() as conn:
            _delete_rows(
                conn,
                "SELECT id FROM documents WHERE tenant_id = ? AND doc_id IN (SELECT value FROM json_each(?))",
                (tenant_id, json.dumps(list(doc_ids))),
            )

    def delete_tenant_namespace(
        self, tenant_id: str, namespace: str, *, written_before: datetime | None = None
    ) -> None:
        _no_repeats(written_before)
        with self._write() as conn:
            _delete_rows(
                conn, "SELECT id FROM documents WHERE tenant_id = ? AND namespace = ?", (tenant_id, namespace)
            )

    def search(
        self,
        tenant_id: str,
        *,
        namespaces: Sequence[str],
        kinds: Sequence[str],
        text: str,
        vector: Sequence[float] | None,
        limit: int,
        mode: SearchMode = "hybrid",
        scale: ScoreScale = DEFAULT_SCALE,
        clauses: Sequence[Clause] = (),
    ) -> list[IndexHit]:
        plan = plan_search(text, vector, limit, mode, clauses)
        if limit < 1 or not namespaces or not kinds or not (plan.keyword or plan.vector):
            return []
        if plan.vector and vector is not None:
            for checked in (vector, *plan.clause_vectors):
                self._check_vector(checked)
        filters: dict[str, Any] = {
            "tenant_id": tenant_id,
            "namespaces": json.dumps(list(namespaces)),
            "kinds": json.dumps(list(kinds)),
            "depth": plan.depth,
        }
        keyword: list[RankedDocument] = []
        nearest: list[list[RankedDocument]] = []
        # One read transaction: every ranking sees the same snapshot of the file.
        with self._read() as conn:
            if plan.keyword:
                keyword = _ranked(conn, _KEYWORD_RANKING, {**filters, "match": _fts_match(plan.terms)})
            if plan.vector and vector is not None:
                for query in (vector, *plan.clause_vectors):
                    serialized = sqlite_vec.serialize_float32(list(query))
                    nearest.append(_ranked(conn, _VECTOR_RANKING, {**filters, "vector": serialized}))
        whole, *by_clause = nearest or [[]]
        return fuse(keyword, whole, limit, scale, plan.names, by_clause)

    def _check_vector(self, vector: Sequence[float]) -> None:
        if len(vector) != self._dimension:
            raise ValueError(f"vector has {len(vector)} dimensions, the index has {self._dimension}")
        if not all(math.isfinite(value) for value in vector):
            raise ValueError("vector values must be finite")

    def _connection(self) -> apsw.Connection:
        if self._conn is not None:
            return self._conn
        # SQLite may answer SQLITE_BUSY at once, without calling the busy handler, where waiting
        # could deadlock (sqlite.org/c3ref/busy_handler.html); two processes switching a new file
        # to WAL together hit that. Opening is idempotent, so it is retried within the same timeout.
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                self._conn = self._open()
                return self._conn
            except IndexUnavailableError as error:
                if not isinstance(error.__cause__, apsw.BusyError) or time.monotonic() >= deadline:
                    raise
                time.sleep(_OPEN_RETRY_PAUSE_S)

    def _open(self) -> apsw.Connection:
        with _translate_errors():
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = apsw.Connection(str(self._path))
            try:
                conn.set_busy_timeout(self._busy_timeout_ms)
                conn.enable_load_extension(True)
                conn.load_extension(sqlite_vec.loadable_path())
                conn.enable_load_extension(False)
                conn.register_fts5_function("lucene_bm25", _lucene_bm25)
                conn.execute("PRAGMA journal_mode = WAL")
                # WAL with synchronous NORMAL stays consistent after a crash (it may lose the last commits
                # on power loss, which the outbox replays) and avoids an fsync per write.
                conn.execute("PRAGMA synchronous = NORMAL")
                self._create_schema(conn)
            except BaseException:
                conn.close()
                raise
        return conn

    def _create_schema(self, conn: apsw.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_SCHEMA.format(dimension=self._dimension))
            conn.execute(
                "INSERT OR IGNORE INTO index_meta (key, value) VALUES ('dimension', ?)",
                (str(self._dimension),),
            )
            row = conn.execute("SELECT value FROM index_meta WHERE key = 'dimension'").fetchone()
            if row is None or int(row[0]) != self._dimension:
                raise IndexRequestError(
                    f"{self._path} holds {row[0] if row else '?'}-dimension vectors, not {self._dimension}"
                )
        except BaseException:
            _rollback(conn)
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[apsw.Connection]:
        with self._lock, _translate_errors():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                _rollback(conn)
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[apsw.Connection]:
        with self._lock, _translate_errors():
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                _rollback(conn)


def _rollback(conn: apsw.Connection) -> None:
    # SQLite rolls back by itself after some errors; a second ROLLBACK would fail.
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _document_row(doc: IndexDocument) -> dict[str, Any]:
    return {
        "tenant_id": doc.tenant_id,
        "doc_id": doc.doc_id,
        "namespace": doc.namespace,
        "kind": doc.kind,
        "status": doc.status,
        "title": doc.title,
        "text": doc.text,
        "tags": to_json(doc.tags).decode(),
        "payload": to_json(doc.payload).decode(),
        "updated_at": doc.updated_at.isoformat(),
    }


def _delete_rows(conn: apsw.Connection, select_ids: str, params: tuple[str, ...]) -> None:
    """Delete the documents whose ids `select_ids` returns, from all three tables."""
    for (row_id,) in conn.execute(select_ids, params).fetchall():
        conn.execute("DELETE FROM documents_vec WHERE id = ?", (row_id,))
        conn.execute("DELETE FROM documents_fts WHERE rowid = ?", (row_id,))
        conn.execute("DELETE FROM documents WHERE id = ?", (row_id,))


def _lucene_bm25(api: apsw.FTS5ExtensionApi, *args: apsw.SQLiteValue) -> float:
    """BM25 as Lucene (so OpenSearch's `multi_match` of type `most_fields`) computes it: per column,
    idf = ln(1 + (N - n + 0.5) / (n + 0.5)) with n the rows holding the word in that column, times
    tf / (tf + k1 (1 - b + b len / mean len)), times the column's weight, summed over columns.

    FTS5's own bm25() differs in ways that break a fixed scale: its idf drops to ~0 when a word is
    in half the rows or more (every word of a one-document corpus), it keeps the (k1 + 1) factor,
    and it pools the columns. This one runs in Python per matched row (a few microseconds each).
    """
    weights = [float(w) for w in args if isinstance(w, int | float)]
    rows = max(api.row_count, 1)
    columns = min(len(weights), api.column_count)
    frequencies = api.aux_data
    if frequencies is None:  # rows per (phrase, column), counted once per query
        frequencies = [_rows_with(api, phrase, columns) for phrase in range(api.phrase_count)]
        api.aux_data = frequencies
    score = 0.0
    for column in range(columns):
        mean_length = api.column_total_size(column) / rows or 1.0
        norm = BM25_K1 * (1.0 - _BM25_B + _BM25_B * api.column_size(column) / mean_length)
        for phrase in range(api.phrase_count):
            tf = len(api.phrase_column_offsets(phrase, column))
            if tf:
                n = frequencies[phrase][column]
                idf = math.log(1.0 + (rows - n + 0.5) / (n + 0.5))
                score += weights[column] * idf * tf / (tf + norm)
    return score


def _rows_with(api: apsw.FTS5ExtensionApi, phrase: int, columns: int) -> list[int]:
    counts = [0] * columns

    def count(row: apsw.FTS5ExtensionApi, _: object) -> None:
        for column in range(columns):
            if row.phrase_column_offsets(0, column):
                counts[column] += 1

    api.query_phrase(phrase, count, None)
    return counts


def _fts_match(terms: Sequence[str]) -> str:
    """An FTS5 query that matches any of the terms, each quoted, so no input is read as syntax."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def _ranked(conn: apsw.Connection, sql: str, params: dict[str, Any]) -> list[RankedDocument]:
    """Rows of (doc_id, kind, namespace, payload, score, similarity).

    Keyword score: `_lucene_bm25`, on OpenSearch's scale. Vector: cosine distance is
    1 - cosine similarity, so the score is the similarity itself.
    """
    return [
        RankedDocument(
            doc_id=doc_id,
            kind=kind,
            namespace=namespace,
            payload=json.loads(payload),
            score=float(score),
            similarity=None if similarity is None else float(similarity),
        )
        for doc_id, kind, namespace, payload, score, similarity in conn.execute(sql, params)
    ]
