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
  chosen (efficient filtering, refused for an engine or version that lacks it), a filter outside
  the clause only after them; the score is the `cosinesimil` score (1 + cosine) / 2 ("Spaces");
- `range` on a numeric field (the `indexed_at` of repeated deletes);
- `multi_match` (`most_fields`) scores each field with Lucene's BM25 (k1 1.2, b 0.75, idf
  ln(1 + (N - n + 0.5) / (n + 0.5)), no (k1 + 1) factor, as Lucene 8+ and so OpenSearch compute
  it; field statistics over the index's documents) times the field's boost, summed; words are
  lowercased and a plural `s` dropped, a crude stand-in for the `english` analyzer. The adapter
  turns these scores into calibrated ones, so the scale matters here, not OpenSearch's exact
  analysis.

`flavour` picks what the node plays, strictly (each rule cites its page next to it, in `_Rules`
and the methods that apply them, and answers in the shape OpenSearch gives errors):
- `managed`: an OpenSearch Service domain of `version` (default 2.19): engines and filters as the
  k-NN documentation dates them;
- `serverless`: a classic Serverless VECTORSEARCH collection: no lucene, nmslib or IVF; no client
  document ids; no `_refresh`, `_delete_by_query`, refresh parameters, shard or replica settings;
- `serverless-nextgen`: the same, and an explicit `engine` in a mapping is refused.
Writes become searchable `refresh_interval` seconds after they were made, on `clock` (a
`ManualClock` lets a test move time instead of sleeping); deletes by id act at once, as a get or
delete by id does on OpenSearch. It is a stand-in checked against documentation, not OpenSearch.

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
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Literal, Self
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
    status: int = 0  # what the node answered

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


Flavour = Literal["managed", "serverless", "serverless-nextgen"]

# -- sources of the rules (cited next to each rule below) ----------------------------------------
AWS_VECTOR = (
    "https://docs.aws.amazon.com/opensearch-service/latest/developerguide/serverless-vector-search.html"
    ' "Working with vector search collections"'
)
AWS_OPERATIONS = (
    "https://docs.aws.amazon.com/opensearch-service/latest/developerguide/serverless-genref.html"
    ' "Supported operations and plugins in Amazon OpenSearch Serverless"'
)
AWS_COLLECTION_TYPES = (
    "https://docs.aws.amazon.com/solutions/latest/migration-assistant-for-amazon-opensearch-service/"
    'mts-collection-types.html "Collection types" (Migration Assistant for Amazon OpenSearch Service)'
)
AWS_NEXTGEN = (
    "https://docs.aws.amazon.com/solutions/latest/migration-assistant-for-amazon-opensearch-service/"
    'tdvk-serverless.html "Amazon OpenSearch Serverless NextGen considerations"'
)
OS_FILTERING = 'https://docs.opensearch.org/latest/vector-search/filter-search-knn/index/ "Filtering data"'
OS_ENGINES = (
    "https://docs.opensearch.org/latest/mappings/supported-field-types/knn-methods-engines/"
    ' "Methods and engines"'
)


class ManualClock:
    """Seconds since the epoch that move only when a test says so (`advance`)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class _Index:
    body: Json
    docs: dict[str, Json] = field(default_factory=dict)
    # When each document becomes searchable (the node's clock); absent: at once.
    visible_at: dict[str, float] = field(default_factory=dict)
    # The k-NN engine of each knn_vector field, as the mapping resolved it.
    engines: dict[str, str] = field(default_factory=dict)


def error_body(status: int, kind: str, reason: str, **extra: Any) -> Json:
    """An error as OpenSearch answers it ("REST API reference", common error response)."""
    cause = {"type": kind, "reason": reason, **extra}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


class FakeOpenSearch:
    def __init__(
        self,
        *,
        flavour: Flavour = "managed",
        version: tuple[int, int] = (2, 19),
        refresh_interval: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.flavour = flavour
        self.serverless = flavour != "managed"
        self.version = version
        self.refresh_interval = refresh_interval
        self.clock = clock
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

    def forget_script(self) -> None:
        """Drop the scripted answers not given yet: the node answers for itself again."""
        with self._lock:
            self._script.clear()

    def respond_next(self, status: int, body: Any, delay: float = 0.0) -> None:
        with self._lock:
            self._script.append(Scripted(status, body, delay))

    def documents(self, index: str) -> dict[str, Json]:
        """Every stored document, searchable yet or not."""
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
            answer = self._script.popleft() if self._script else self._route(request)
            request.status = answer.status
            return answer

    def _route(self, request: RecordedRequest) -> Scripted:
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        if self.serverless and "refresh" in request.query:
            # Serverless manages refreshes: a write asking for one is refused (400 "true refresh
            # policy is not supported", reported in argilla PR #3251); refresh interval 60 s
            # (AWS_VECTOR, Limitations).
            reason = f"{request.query['refresh'][0]} refresh policy is not supported"
            return Scripted(400, error_body(400, "illegal_argument_exception", reason))
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
            body = request.json() if request.body else {}
            refusal = self._query_refusal(index, body)
            if refusal:
                return Scripted(400, error_body(400, "search_phase_execution_exception", refusal))
            return Scripted(200, self._search(parts[0], index, body))
        if len(parts) == 2 and parts[1] == "_delete_by_query" and not self.serverless:
            return self._delete_by_query(parts[0], request.json())
        if parts and parts[-1] == "_refresh" and not self.serverless:
            return Scripted(200, {"_shards": {"total": 1, "successful": 1, "failed": 0}})
        # Serverless: `_refresh` and `_delete_by_query` are not among the supported operations
        # (AWS_OPERATIONS); collections answer 404 to them (reported in opensearch-java issue
        # #1112 for _delete_by_query, mem0 PR #3893 and searchkick issue #1714 for _refresh).
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
        refusal = self._refuse_settings(body.get("settings", {}))
        engines: dict[str, str] = {}
        for field_name, mapping in body.get("mappings", {}).get("properties", {}).items():
            if mapping.get("type") != "knn_vector":
                continue
            engine_or_refusal = self._knn_engine(mapping)
            if engine_or_refusal.startswith("!"):
                refusal = refusal or engine_or_refusal[1:]
            engines[field_name] = engine_or_refusal
        if refusal:
            # A refused mapping: 400 mapper_parsing_exception, the reason also as `caused_by`
            # (the shape OpenSearch answers, e.g. the nmslib refusal quoted in GitLab issue 540086).
            reason = f"Failed to parse mapping [_doc]: {refusal}"
            cause = {"type": "illegal_argument_exception", "reason": refusal}
            return Scripted(400, error_body(400, "mapper_parsing_exception", reason, caused_by=cause))
        self.indices[name] = _Index(body=body, engines=engines)
        # "Create index" response (OpenSearch docs, Index APIs > Create index).
        return Scripted(200, {"acknowledged": True, "shards_acknowledged": True, "index": name})

    def _refuse_settings(self, settings: Json) -> str | None:
        """Serverless manages shards and replicas itself (AWS "How it works", and opensearch-go
        PR #374: such settings have no effect there). The fake refuses them, stricter than the
        service, so that the adapter can never come to depend on one."""
        flat = {**settings, **settings.get("index", {})}
        for key in (
            "number_of_shards",
            "number_of_replicas",
            "index.number_of_shards",
            "index.number_of_replicas",
        ):
            if self.serverless and key in flat:
                return f"setting [{key}] is managed by OpenSearch Serverless"
        return None

    def _knn_engine(self, mapping: Json) -> str:
        """The engine a knn_vector mapping resolves to, or "!reason" when this flavour refuses it."""
        method = mapping.get("method", {})
        named = method.get("engine")
        space = method.get("space_type", mapping.get("space_type", "l2"))
        if self.flavour == "serverless-nextgen":
            if named is not None:
                # NextGen refuses an explicit engine (the error reported on a NextGen collection)
                # and maps knn_vector to faiss HNSW itself (AWS_NEXTGEN).
                return "!Field parameter 'engine' is not supported"
            return "faiss"
        if self.flavour == "serverless":
            if named in ("lucene", "nmslib"):
                # Classic vector collections: no Lucene engine (AWS_VECTOR, Limitations); nmslib
                # is deprecated and refused for new indexes from OpenSearch 3.0 (OS_ENGINES;
                # Serverless needs clients compatible with OpenSearch 3.x).
                return f"!engine [{named}] is not supported on vector search collections"
            if method.get("name") == "ivf":
                return "!method [ivf] is not supported on vector search collections"  # AWS_VECTOR
            # Without an engine the collection builds nmslib HNSW (AWS_VECTOR, tutorial step 3:
            # "By default, this creates an index with a nmslib engine"), which cannot filter.
            return named or "nmslib"
        engine = named or ("nmslib" if self.version < (3, 0) else "faiss")
        if engine == "nmslib" and self.version >= (3, 0):
            return "!nmslib engine is deprecated in OpenSearch and cannot be used for new index creation"
        if engine == "lucene" and self.version < (2, 2):  # lucene HNSW from 2.2 (OS_FILTERING)
            return "!engine [lucene] is not supported"
        if engine == "faiss" and space == "cosinesimil" and self.version < (2, 19):
            # faiss takes cosinesimil from OpenSearch 2.19 (OS_ENGINES, Faiss engine).
            return '!"hnsw" with "faiss" configuration does not support space type: "cosinesimil"'
        return engine

    def _knn_filter_refusal(self, index: _Index, field_name: str) -> str | None:
        """Efficient filtering inside the knn clause: lucene from 2.4, faiss HNSW from 2.9;
        nmslib cannot filter (OS_FILTERING; "Engine [NMSLIB] does not support filters",
        opensearch-project/documentation-website issue #10149)."""
        engine = index.engines.get(field_name, "nmslib")
        minimum = {"lucene": (2, 4), "faiss": (2, 9)}.get(engine)
        if minimum is None:
            return f"Engine [{engine.upper()}] does not support filters"
        if not self.serverless and self.version < minimum:
            return f"Engine [{engine.upper()}] does not support filters before {minimum[0]}.{minimum[1]}"
        return None

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
            if self.serverless and doc_id is not None:
                # Vector search collections generate document ids (AWS_COLLECTION_TYPES:
                # VECTORSEARCH "server-generated IDs"; AWS_OPERATIONS: `_create/<id>` and
                # `PUT <index>/_doc/<id>` "for search collection types only"). The item error is
                # the one AOSS returns (quoted in aws-sdk-pandas PR #2784, langchainjs #4346).
                reason = "Document ID is not supported in create/index operation request"
                error = {"type": "illegal_argument_exception", "reason": reason}
                return {**head, "status": 400, "error": error}
            doc_id = doc_id or uuid.uuid4().hex[:20]
            created = doc_id not in index.docs
            index.docs[doc_id] = dict(source or {})
            # Searchable only after the refresh interval (60 s on vector collections, AWS_VECTOR).
            index.visible_at[doc_id] = self.clock() + self.refresh_interval
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
            index.visible_at.pop(doc_id or "", None)
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
            refusal = self._query_refusal(index, body)
            if refusal:
                responses.append(error_body(400, "search_phase_execution_exception", refusal))
                continue
            responses.append({**self._search(name, index, body), "status": 200})
        return Scripted(200, {"took": 4, "responses": responses})

    def _query_refusal(self, index: _Index, body: Json) -> str | None:
        query = body.get("query", {})
        if "knn" in query:
            ((field_name, params),) = query["knn"].items()
            if "filter" in params:
                return self._knn_filter_refusal(index, field_name)
        return None

    def _searchable(self, index: _Index) -> list[tuple[str, Json]]:
        now = self.clock()
        return [
            (doc_id, source)
            for doc_id, source in index.docs.items()
            if index.visible_at.get(doc_id, now) <= now
        ]

    def _search(self, name: str, index: _Index, body: Json) -> Json:
        query = body.get("query", {"match_all": {}})
        scored = _evaluate(query, self._searchable(index))
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
        # Delete by query searches first: it only reaches documents already refreshed.
        doomed = [doc_id for doc_id, _ in _evaluate(body["query"], self._searchable(index))]
        for doc_id in doomed:
            del index.docs[doc_id]
            index.visible_at.pop(doc_id, None)
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
    corpus = _Corpus(docs)
    scores = [(doc_id, _score(query, source, corpus)) for doc_id, source in docs]
    matched = [(doc_id, score) for doc_id, score in scores if score is not None]
    return sorted(matched, key=lambda pair: -pair[1])


class _Corpus:
    """Field statistics for BM25: document counts per word and mean field lengths."""

    def __init__(self, docs: list[tuple[str, Json]]) -> None:
        self.docs = docs
        self._stats: dict[str, tuple[dict[str, int], float]] = {}

    def stats(self, name: str) -> tuple[dict[str, int], float]:
        if name not in self._stats:
            frequency: dict[str, int] = {}
            lengths = []
            for _, source in self.docs:
                words = _analyze(" ".join(str(v) for v in _values(source, name)))
                lengths.append(len(words))
                for word in set(words):
                    frequency[word] = frequency.get(word, 0) + 1
            self._stats[name] = (frequency, (sum(lengths) / len(lengths)) if lengths else 1.0)
        return self._stats[name]


def _analyze(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]


def _bm25(query_words: set[str], text: str, name: str, corpus: _Corpus) -> float:
    words = _analyze(text)
    frequency, mean_length = corpus.stats(name)
    count = len(corpus.docs)
    total = 0.0
    for word in query_words:
        tf = words.count(word)
        if not tf:
            continue
        n = frequency.get(word, 0)
        idf = math.log(1 + (count - n + 0.5) / (n + 0.5))
        total += idf * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * len(words) / (mean_length or 1.0)))
    return total


def _score(query: Json, source: Json, corpus: _Corpus | None = None) -> float | None:
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
    if kind == "range":
        ((name, bounds),) = spec.items()
        value = source.get(name)
        checks = {
            "lte": lambda b: value <= b,
            "lt": lambda b: value < b,
            "gte": lambda b: value >= b,
            "gt": lambda b: value > b,
        }
        if value is None or not all(checks[op](bound) for op, bound in bounds.items()):
            return None
        return 0.0
    if kind == "multi_match":
        words = set(_analyze(spec["query"]))
        corpus = corpus or _Corpus([("", source)])
        total = 0.0
        for entry in spec["fields"]:
            name, _, boost = entry.partition("^")
            text = " ".join(str(v) for v in _values(source, name))
            total += float(boost or 1) * _bm25(words, text, name, corpus)
        return total if total > 0 else None
    if kind == "bool":
        total = 0.0
        for clause in _clauses(spec.get("filter")):
            if _score(clause, source) is None:
                return None
        for clause in _clauses(spec.get("must")):
            score = _score(clause, source, corpus)
            if score is None:
                return None
            total += score
        return total
    raise AssertionError(f"the fake does not evaluate {kind!r} queries")


_RANGE = {
    "lte": lambda value, bound: value <= bound,
    "lt": lambda value, bound: value < bound,
    "gte": lambda value, bound: value >= bound,
    "gt": lambda value, bound: value > bound,
}


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
