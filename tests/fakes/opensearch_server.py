"""A fake OpenSearch node on 127.0.0.1 for the OpenSearch index adapter's tests.

No OpenSearch node can be installed on these machines, so the adapter is checked against the
request and response shapes OpenSearch documents. This fake records every request (method, path,
headers, raw body) and answers with bodies shaped like the documented ones (each shape below names
its documentation page). It also keeps documents and evaluates the subset of the query DSL the
adapter uses, so contract tests can check what the requests express (filters, keys, deletes):

- queries: `bool` (`must`, `filter`), `term`, `terms`, `multi_match` (`fields` with `^boost`),
  `knn` with its own `filter`, `match_all`; `_source` (false, a list, or includes/excludes);
  `sort` on one keyword field with `search_after`; `size`;
- `knn` follows the k-NN docs: the clause's own `filter` is applied while the `k` nearest are
  chosen (lucene efficient filtering), a filter outside the clause only after them; the score is
  the lucene `cosinesimil` score (1 + cosine) / 2;
- `multi_match` scoring is NOT BM25: a term-count stand-in (boosted field matches summed) that
  orders by how many query words a document contains. Relevance is OpenSearch's business and is
  not what these tests claim to check.

`server_ids=True` emulates a Serverless vector search collection: a bulk `index` or `create` that
carries `_id` fails with 400 "Document ID is not supported in create/index operation request"
(the error AOSS returns), the server generates ids, and `_refresh` and `_delete_by_query` answer 404.
Writes are visible at once (a real node shows them after its refresh interval).

    with FakeOpenSearch() as node:
        node.url                       # http://127.0.0.1:PORT
        node.fail_next(503)            # the next request answers 503 (documented error shape)
        node.respond_next(200, body)   # the next request answers exactly this body
        node.requests                  # RecordedRequest(method, path, query, headers, body)
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http import FakeHTTPServer

Json = dict[str, Any]

_WORD = re.compile(r"\w+")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        """The lines of a bulk or _msearch body; the body must end with a newline, as documented."""
        text = self.body.decode()
        assert text.endswith("\n"), "NDJSON bodies end with a newline"
        return [json.loads(line) for line in text.splitlines() if line]


@dataclass
class Scripted:
    status: int
    body: Any
    delay: float = 0.0


@dataclass
class _Index:
    body: Json
    docs: dict[str, Json] = field(default_factory=dict)


def error_body(status: int, kind: str, reason: str, **extra: Any) -> Json:
    """An error as OpenSearch answers it ("REST API reference", common error response)."""
    cause = {"type": kind, "reason": reason, **extra}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


class FakeOpenSearch:
    def __init__(self, *, server_ids: bool = False, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server_ids = server_ids
        self.requests: list[RecordedRequest] = []
        self.indices: dict[str, _Index] = {}
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = _HTTPServer((host, port), _Handler, self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, status: int, kind: str = "scripted_failure", times: int = 1) -> None:
        for _ in range(times):
            self.respond_next(status, error_body(status, kind, f"scripted {status}"))

    def respond_next(self, status: int, body: Any, delay: float = 0.0) -> None:
        with self._lock:
            self._script.append(Scripted(status, body, delay))

    def documents(self, index: str) -> dict[str, Json]:
        with self._lock:
            return dict(self.indices[index].docs)

    def requests_to(self, suffix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(suffix)]

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-opensearch",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- request handling ---------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Scripted:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.popleft()
            return self._route(request)

    def _route(self, request: RecordedRequest) -> Scripted:
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        if len(parts) == 1 and method == "PUT":
            return self._create_index(parts[0], request.json())
        if parts and parts[-1] == "_bulk" and method in ("POST", "PUT"):
            return self._bulk(parts[0] if len(parts) == 2 else None, request.ndjson())
        if len(parts) == 2 and parts[1] == "_msearch":
            return self._msearch(parts[0], request.ndjson())
        if len(parts) == 2 and parts[1] == "_search":
            index = self._existing(parts[0])
            if index is None:
                return _index_not_found(parts[0])
            return Scripted(200, self._search(parts[0], index, request.json() if request.body else {}))
        if len(parts) == 2 and parts[1] == "_delete_by_query" and not self.server_ids:
            return self._delete_by_query(parts[0], request.json())
        missing = f"no route {method} {request.path}"
        return Scripted(404, error_body(404, "resource_not_found_exception", missing))

    def _existing(self, name: str) -> _Index | None:
        return self.indices.get(name)

    def _create_index(self, name: str, body: Json) -> Scripted:
        if name in self.indices:
            # "Create index" of an existing name: 400 resource_already_exists_exception.
            uid = uuid.uuid5(uuid.NAMESPACE_DNS, name).hex
            return Scripted(
                400,
                error_body(
                    400,
                    "resource_already_exists_exception",
                    f"index [{name}/{uid}] already exists",
                    index_uuid=uid,
                    index=name,
                ),
            )
        self.indices[name] = _Index(body=body)
        # "Create index" response (OpenSearch docs, Index APIs > Create index).
        return Scripted(200, {"acknowledged": True, "shards_acknowledged": True, "index": name})

    def _bulk(self, path_index: str | None, lines: list[Json]) -> Scripted:
        # "Bulk" response (OpenSearch docs, Document APIs > Bulk): per-action items, in order.
        items: list[Json] = []
        position = 0
        while position < len(lines):
            ((op, meta),) = lines[position].items()
            position += 1
            source = None
            if op in ("index", "create", "update"):
                source = lines[position]
                position += 1
            name = meta.get("_index", path_index)
            items.append({op: self._bulk_action(op, name, meta.get("_id"), source)})
        errors = any(next(iter(item.values()))["status"] >= 300 for item in items)
        return Scripted(200, {"took": 3, "errors": errors, "items": items})

    def _bulk_action(self, op: str, name: str, doc_id: str | None, source: Json | None) -> Json:
        index = self._existing(name)
        head = {"_index": name, "_id": doc_id}
        if index is None:
            return {**head, "status": 404, "error": _index_not_found(name).body["error"]}
        if op in ("index", "create"):
            if self.server_ids and doc_id is not None:
                reason = "Document ID is not supported in create/index operation request"
                error = {"type": "illegal_argument_exception", "reason": reason}
                return {**head, "status": 400, "error": error}
            doc_id = doc_id or uuid.uuid4().hex[:20]
            created = doc_id not in index.docs
            index.docs[doc_id] = dict(source or {})
            return {
                **head,
                "_id": doc_id,
                "_version": 1,
                "result": "created" if created else "updated",
                "_shards": {"total": 2, "successful": 1, "failed": 0},
                "_seq_no": len(index.docs),
                "_primary_term": 1,
                "status": 201 if created else 200,
            }
        if op == "delete":
            found = index.docs.pop(doc_id or "", None) is not None
            return {
                **head,
                "_version": 2,
                "result": "deleted" if found else "not_found",
                "_shards": {"total": 2, "successful": 1, "failed": 0},
                "status": 200 if found else 404,
            }
        return {**head, "status": 400, "error": {"type": "illegal_argument_exception", "reason": op}}

    def _msearch(self, path_index: str, lines: list[Json]) -> Scripted:
        # "Multi-search" response (OpenSearch docs, Search APIs > Multi-search): one entry per
        # search, in order, each a search response plus its `status`.
        responses = []
        for header, body in zip(lines[::2], lines[1::2], strict=True):
            name = header.get("index", path_index)
            index = self._existing(name)
            if index is None:
                responses.append(_index_not_found(name).body)
                continue
            responses.append({**self._search(name, index, body), "status": 200})
        return Scripted(200, {"took": 4, "responses": responses})

    def _search(self, name: str, index: _Index, body: Json) -> Json:
        query = body.get("query", {"match_all": {}})
        scored = _evaluate(query, list(index.docs.items()))
        sort = body.get("sort")
        if sort:
            ((sort_field, order),) = sort[0].items()
            scored.sort(key=lambda pair: str(index.docs[pair[0]].get(sort_field)), reverse=order == "desc")
            after = body.get("search_after")
            if after is not None:
                scored = [p for p in scored if str(index.docs[p[0]].get(sort_field)) > str(after[0])]
        hits = []
        for doc_id, score in scored[: body.get("size", 10)]:
            hit: Json = {"_index": name, "_id": doc_id, "_score": None if sort else score}
            source = _select_source(index.docs[doc_id], body.get("_source", True))
            if source is not None:
                hit["_source"] = source
            if sort:
                hit["sort"] = [index.docs[doc_id].get(next(iter(sort[0])))]
            hits.append(hit)
        # "Search" response (OpenSearch docs, Search APIs > Search): hits.total, max_score, hits[].
        return {
            "took": 2,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {
                "total": {"value": len(scored), "relation": "eq"},
                "max_score": max((h["_score"] for h in hits if h["_score"] is not None), default=None),
                "hits": hits,
            },
        }

    def _delete_by_query(self, name: str, body: Json) -> Scripted:
        index = self._existing(name)
        if index is None:
            return _index_not_found(name)
        doomed = [doc_id for doc_id, _ in _evaluate(body["query"], list(index.docs.items()))]
        for doc_id in doomed:
            del index.docs[doc_id]
        # "Delete by query" response (OpenSearch docs, Document APIs > Delete by query).
        return Scripted(
            200,
            {
                "took": 14,
                "timed_out": False,
                "total": len(doomed),
                "deleted": len(doomed),
                "batches": 1,
                "version_conflicts": 0,
                "noops": 0,
                "retries": {"bulk": 0, "search": 0},
                "throttled_millis": 0,
                "requests_per_second": -1.0,
                "throttled_until_millis": 0,
                "failures": [],
            },
        )


def _index_not_found(name: str) -> Scripted:
    return Scripted(404, error_body(404, "index_not_found_exception", f"no such index [{name}]", index=name))


def _select_source(source: Json, spec: Any) -> Json | None:
    if spec is False:
        return None
    if isinstance(spec, list):
        return {k: v for k, v in source.items() if k in spec}
    if isinstance(spec, dict):
        includes = spec.get("includes")
        excludes = set(spec.get("excludes", []))
        return {k: v for k, v in source.items() if (includes is None or k in includes) and k not in excludes}
    return dict(source)


# -- the query DSL subset ------------------------------------------------------------------------


def _evaluate(query: Json, docs: list[tuple[str, Json]]) -> list[tuple[str, float]]:
    """Matching documents with scores, best first (stable on insertion order)."""
    ((kind, spec),) = query.items()
    if kind == "knn":
        return _knn(spec, docs)
    must = _clauses(spec.get("must")) if kind == "bool" else []
    if any("knn" in clause for clause in must):
        # A filter beside the knn clause applies to the k nearest only, after they were chosen.
        sources = dict(docs)
        nearest = _evaluate(next(c for c in must if "knn" in c), docs)
        rest = {"bool": {**spec, "must": [c for c in must if "knn" not in c]}}
        return [(doc_id, score) for doc_id, score in nearest if _score(rest, sources[doc_id]) is not None]
    scores = [(doc_id, _score(query, source)) for doc_id, source in docs]
    matched = [(doc_id, score) for doc_id, score in scores if score is not None]
    return sorted(matched, key=lambda pair: -pair[1])


def _score(query: Json, source: Json) -> float | None:
    """The document's score under a non-knn query, or None when it does not match."""
    ((kind, spec),) = query.items()
    if kind == "match_all":
        return 1.0
    if kind == "term":
        ((name, value),) = spec.items()
        return 0.0 if value in _values(source, name) else None
    if kind == "terms":
        ((name, values),) = spec.items()
        return 0.0 if set(values) & set(_values(source, name)) else None
    if kind == "multi_match":
        words = set(_WORD.findall(spec["query"].lower()))
        total = 0.0
        for entry in spec["fields"]:
            name, _, boost = entry.partition("^")
            text = " ".join(str(v) for v in _values(source, name)).lower()
            total += float(boost or 1) * sum(1 for w in _WORD.findall(text) if w in words)
        return total if total > 0 else None
    if kind == "bool":
        total = 0.0
        for clause in _clauses(spec.get("filter")):
            if _score(clause, source) is None:
                return None
        for clause in _clauses(spec.get("must")):
            score = _score(clause, source)
            if score is None:
                return None
            total += score
        return total
    raise AssertionError(f"the fake does not evaluate {kind!r} queries")


def _knn(spec: Json, docs: list[tuple[str, Json]]) -> list[tuple[str, float]]:
    ((name, params),) = spec.items()
    query = params["vector"]
    candidates = docs
    if "filter" in params:
        candidates = [(doc_id, s) for doc_id, s in docs if _score(params["filter"], s) is not None]
    scored = [(doc_id, (1 + _cosine(query, s[name])) / 2) for doc_id, s in candidates if name in s]
    scored.sort(key=lambda pair: -pair[1])
    return scored[: params["k"]]


def _clauses(value: Any) -> list[Json]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _values(source: Json, name: str) -> list[Any]:
    value = source.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


_HTTPServer = FakeHTTPServer[FakeOpenSearch]


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.fake._closing.is_set():
            # Closed: drop kept-alive connections too, as a node that went away would.
            self.close_connection = True
            return
        url = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers={k: v for k, v in self.headers.items()},
            body=raw,
        )
        answer = self.server.fake.handle(request)
        if answer.delay and self.server.fake._closing.wait(answer.delay):
            return
        payload = json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve
