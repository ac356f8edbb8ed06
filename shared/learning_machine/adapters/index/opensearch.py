"""The OpenSearch engine: Amazon OpenSearch Serverless (`aoss`) or a managed domain (`es`).

opensearch-py with SigV4 signing (`RequestsAWSV4SignerAuth`, the current name of `AWSV4SignerAuth`,
over `RequestsHttpConnection`, as opensearch-py documents for AWS), credentials from the boto3
session (the Lambda role). One index holds every tenant; every query filters on `tenant_id`,
`namespace`, `kind` and `status` inside the query: the k-NN clause carries the filter itself
(efficient filtering: filtered-out documents cannot crowd out the `k` nearest), and the BM25 query
carries the same bool filter. A search is one `_msearch` request with both bodies, fused by
`fusion.fuse` exactly like the embedded engine.

The flavour (`LM_OPENSEARCH_FLAVOUR`, the template's `KnowledgeIndexFlavour`) decides the mapping
and the requests; `FLAVOURS` below holds each one's rules with their sources:
- `serverless`: a classic Serverless VECTORSEARCH collection. AWS, "Working with vector search
  collections" (https://docs.aws.amazon.com/opensearch-service/latest/developerguide/serverless-vector-search.html),
  Limitations: no Lucene engine (nor faiss IVF); its filtered-search example maps faiss HNSW. So the
  vector is faiss HNSW, cosinesimil (faiss takes cosinesimil from OpenSearch 2.19, "Methods and
  engines"; Serverless runs a current version), and filtering inside k-NN is faiss efficient
  filtering (OpenSearch "Filtering data": faiss HNSW from 2.9).
- `serverless-nextgen`: a NextGen VECTORSEARCH collection. The same rules, but an explicit
  `engine` is refused ("Field parameter 'engine' is not supported", as reported on such a
  collection); it maps knn_vector to faiss HNSW itself (AWS Migration Assistant, "Amazon
  OpenSearch Serverless NextGen considerations"). The method names HNSW and the space, no engine.
- `managed`: an OpenSearch Service domain, OpenSearch 2.4 or later: lucene HNSW, cosinesimil, whose
  efficient filtering inside the k-NN query exists from 2.4 (OpenSearch "Filtering data").

Serverless differs from a domain in ways that shape this module. Sources: AWS "Supported
operations and plugins in Amazon OpenSearch Serverless"
(https://docs.aws.amazon.com/opensearch-service/latest/developerguide/serverless-genref.html: no
`_refresh`, no `_delete_by_query` among the supported operations; `_create/<id>` and
`PUT <index>/_doc/<id>` "for search collection types only"); AWS Migration Assistant, "Collection
types" (VECTORSEARCH: server-generated ids); the error AOSS returns, quoted in aws-sdk-pandas PR
#2784 and langchainjs issue #4346.
- Vector search collections refuse client document ids: a bulk `index` with `_id` fails with
  400 "Document ID is not supported in create/index operation request". There documents are
  written without `_id`; the `"{tenant}:{doc_id}"` key is a keyword field. An upsert looks up the
  copies already stored under its keys, indexes the new copies, then deletes the old ones by their
  server ids; search collapses copies of one key (newest `updated_at` wins) until the `Indexer`'s
  repeat (below) removes a copy the lookup could not see yet.
- No refresh: a write becomes searchable after the collection's refresh interval (60 s, "Working
  with vector search collections", Limitations), and nothing here asks for a refresh on any
  flavour. A delete issued within that interval cannot find a copy written just before it. So
  every copy records when it was written (`indexed_at`), `visibility_delay_seconds` says how long
  a write may stay invisible, and the `Indexer` repeats each delete (and, for an upsert, the
  removal of older copies) once that delay has passed, restricted to copies written before the
  first attempt (`written_before`), so a document written again since then is never touched.
- No `_delete_by_query`: deleting a namespace lists the copies (paged on `copy_id`), then deletes
  them in bulk by their server ids.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import boto3
from opensearchpy import ConnectionError as TransportConnectionError
from opensearchpy import (
    OpenSearch,
    RequestError,
    RequestsAWSV4SignerAuth,
    RequestsHttpConnection,
    TransportError,
    helpers,
)

from ...core.clauses import Clause
from ...core.scoring import DEFAULT_SCALE, ScoreScale
from .base import IndexDocument, IndexHit, IndexRequestError, IndexUnavailableError, SearchMode
from .fusion import RankedDocument, fuse, plan_search

logger = logging.getLogger(__name__)

Service = Literal["aoss", "es"]
Flavour = Literal["serverless", "serverless-nextgen", "managed"]


@dataclass(frozen=True)
class FlavourRules:
    """What one flavour of OpenSearch accepts (sources in the module docstring)."""

    service: Service  # the SigV4 signing name
    engine: str | None  # the k-NN engine to name in the mapping; None: name none
    server_ids: bool  # client document ids refused: documents get server-generated ids
    delete_by_query: bool  # `_delete_by_query` is supported
    visibility_delay_seconds: float  # how long a write may stay invisible to search


FLAVOURS: dict[str, FlavourRules] = {
    # Classic VECTORSEARCH collection: faiss HNSW, server ids, no delete_by_query, 60 s refresh.
    "serverless": FlavourRules("aoss", "faiss", True, False, 60.0),
    # NextGen VECTORSEARCH collection: the same, but no explicit engine (faiss HNSW by itself).
    "serverless-nextgen": FlavourRules("aoss", None, True, False, 60.0),
    # Managed domain, OpenSearch 2.4+: lucene HNSW with efficient filtering; client ids; the
    # default refresh interval is 1 s, and delete_by_query only sees refreshed documents.
    "managed": FlavourRules("es", "lucene", False, True, 1.0),
}

DEFAULT_TIMEOUT_SECONDS = 10.0
BULK_CHUNK = 500
LOOKUP_PAGE = 1_000
# Fields search reads back; the vector stays on the server.
_HIT_FIELDS = ["doc_id", "kind", "namespace", "payload", "updated_at"]


def build_client(
    endpoint: str, service: Service, region: str, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> OpenSearch:
    """A SigV4-signed client for a collection or domain endpoint (with or without `https://`)."""
    url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    secure = url.scheme == "https"
    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise IndexUnavailableError("no AWS credentials to sign OpenSearch requests with")
    return OpenSearch(
        hosts=[{"host": url.hostname, "port": url.port or (443 if secure else 80)}],
        http_auth=RequestsAWSV4SignerAuth(credentials, region, service),
        use_ssl=secure,
        verify_certs=secure,
        connection_class=RequestsHttpConnection,
        # The signature covers the body as sent; compression would change it after signing.
        http_compress=False,
        timeout=timeout,
        max_retries=1,
        retry_on_timeout=True,
    )


def vector_method(flavour: Flavour) -> dict[str, str]:
    """The knn_vector `method` of a flavour (OpenSearch "Methods and engines")."""
    engine = FLAVOURS[flavour].engine
    return {"name": "hnsw", **({"engine": engine} if engine else {}), "space_type": "cosinesimil"}


def index_body(dimension: int, flavour: Flavour) -> dict[str, Any]:
    """Settings and mappings of the index (OpenSearch "k-NN vector" and "Methods and engines").

    No shard or replica settings: Serverless manages them itself."""
    return {
        "settings": {"index": {"knn": True}},
        "mappings": {
            # Only the fields below, so a stray field can never grow the mapping.
            "dynamic": "strict",
            "properties": {
                "key": {"type": "keyword"},
                "copy_id": {"type": "keyword"},
                "doc_id": {"type": "keyword"},
                "tenant_id": {"type": "keyword"},
                "namespace": {"type": "keyword"},
                "kind": {"type": "keyword"},
                "status": {"type": "keyword"},
                # English stemming, like the porter tokenizer of the embedded engine's FTS5 table.
                "title": {"type": "text", "analyzer": "english"},
                "text": {"type": "text", "analyzer": "english"},
                "tags": {"type": "keyword"},
                "vector": {"type": "knn_vector", "dimension": dimension, "method": vector_method(flavour)},
                # Returned to callers, never searched: stored in _source only.
                "payload": {"type": "object", "enabled": False},
                "updated_at": {"type": "date"},
                # When this copy was written (epoch milliseconds): follow-up deletes take only
                # copies written before their first attempt.
                "indexed_at": {"type": "long"},
            },
        },
    }


def _wall_clock() -> float:
    return time.time()


def document_key(tenant_id: str, doc_id: str) -> str:
    """`{tenant_id}:{doc_id}`, with `%` and `:` escaped in the tenant so two tenants never share a key."""
    return f"{tenant_id.replace('%', '%25').replace(':', '%3A')}:{doc_id}"


def scope_filter(tenant_id: str, namespaces: Sequence[str], kinds: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {"term": {"tenant_id": tenant_id}},
        {"terms": {"namespace": list(namespaces)}},
        {"terms": {"kind": list(kinds)}},
        {"term": {"status": "active"}},
    ]


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except TransportConnectionError as error:  # includes ConnectionTimeout and SSLError
        raise IndexUnavailableError(f"OpenSearch unreachable: {error}") from error
    except TransportError as error:
        if _retryable(error.status_code):
            raise IndexUnavailableError(f"OpenSearch unavailable: {error}") from error
        raise IndexRequestError(f"OpenSearch refused the request: {error}") from error


def _retryable(status: object) -> bool:
    return isinstance(status, int) and (status == 429 or status >= 500)


def _raise_for_items(errors: Sequence[dict[str, Any]], what: str) -> None:
    """Bulk and _msearch report failures per item; 429 and 5xx mean "try again later"."""
    if not errors:
        return
    statuses = [item.get("status", 500) for item in errors]
    message = f"{len(errors)} {what} failed: {errors[0]}"
    if any(_retryable(status) for status in statuses):
        raise IndexUnavailableError(message)
    raise IndexRequestError(message)


class OpenSearchIndex:
    """A `KnowledgeIndex` in one OpenSearch index shared by every tenant."""

    def __init__(
        self,
        endpoint: str,
        index_name: str,
        dimension: int,
        flavour: Flavour,
        region: str,
        client: OpenSearch | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._index = index_name
        self._dimension = dimension
        self._flavour = flavour
        self._rules = FLAVOURS[flavour]
        self._server_ids = self._rules.server_ids
        self._clock = clock
        self._ready = False
        self._client = client if client is not None else build_client(endpoint, self._rules.service, region)

    @property
    def visibility_delay_seconds(self) -> float:
        return self._rules.visibility_delay_seconds

    def ensure(self) -> None:
        """Create the index if it is missing. A refusal means the index cannot be used until an
        operator fixes it (wrong flavour, a dimension that differs from an existing index's):
        it is reported as unavailable, so reads degrade and writes wait in the outbox instead of
        failing, and every later operation tries again first."""
        try:
            with _translate_errors():
                try:
                    self._client.indices.create(
                        index=self._index, body=index_body(self._dimension, self._flavour)
                    )
                except RequestError as error:
                    if error.error != "resource_already_exists_exception":
                        raise
        except IndexRequestError as error:
            logger.error("the %s index %s cannot be created: %s", self._flavour, self._index, error)
            raise IndexUnavailableError(f"the knowledge index cannot be created: {error}") from error
        self._ready = True

    def _ensured(self) -> None:
        if not self._ready:
            self.ensure()

    def upsert(self, docs: Sequence[IndexDocument]) -> None:
        for doc in docs:
            if len(doc.vector) != self._dimension:
                raise ValueError(f"vector has {len(doc.vector)} dimensions, the index has {self._dimension}")
        if not docs:
            return
        self._ensured()
        if not self._server_ids:
            self._bulk(
                {
                    "_op_type": "index",
                    "_index": self._index,
                    "_id": document_key(d.tenant_id, d.doc_id),
                    "_source": self._source(d),
                }
                for d in docs
            )
            return
        # Serverless: no client ids. Find the copies stored now, write the new ones, then drop the old.
        stale = []
        for tenant_id, doc_ids in _by_tenant(docs).items():
            stale += self._find_copies(_copies_of(tenant_id, doc_ids))
        self._bulk({"_op_type": "index", "_index": self._index, "_source": self._source(d)} for d in docs)
        self._bulk_delete(stale)

    def delete(
        self, tenant_id: str, doc_ids: Sequence[str], *, written_before: datetime | None = None
    ) -> None:
        if not doc_ids:
            return
        self._ensured()
        if self._server_ids or written_before is not None:
            ids = self._find_copies(_copies_of(tenant_id, doc_ids) + _written_before(written_before))
        else:
            ids = [document_key(tenant_id, doc_id) for doc_id in doc_ids]
        self._bulk_delete(ids)

    def delete_tenant_namespace(
        self, tenant_id: str, namespace: str, *, written_before: datetime | None = None
    ) -> None:
        self._ensured()
        scope = [{"term": {"tenant_id": tenant_id}}, {"term": {"namespace": namespace}}]
        scope += _written_before(written_before)
        if not self._rules.delete_by_query:
            # Serverless has no _delete_by_query: list the copies, then delete them in bulk.
            self._bulk_delete(self._find_copies(scope))
            return
        with _translate_errors():
            self._client.delete_by_query(
                index=self._index,
                body={"query": {"bool": {"filter": scope}}},
                params={"conflicts": "proceed"},
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
        self._ensured()
        scope = scope_filter(tenant_id, namespaces, kinds)
        names: list[str] = []
        lines: list[dict[str, Any]] = []
        if plan.keyword:
            names.append("keyword")
            lines += [{}, self._keyword_body(" ".join(plan.terms), scope, plan.depth)]
        if plan.vector and vector is not None:
            # The query's k-NN search, then one per clause: all in the one _msearch request.
            for position, query in enumerate((vector, *plan.clause_vectors)):
                if len(query) != self._dimension:
                    raise ValueError(f"vector has {len(query)} dimensions, the index has {self._dimension}")
                names.append("vector" if position == 0 else f"clause {position}")
                lines += [{}, self._vector_body(query, scope, plan.depth)]
        with _translate_errors():
            reply = self._client.msearch(body=lines, index=self._index)
        responses = reply.get("responses", [])
        _raise_for_items([r for r in responses if "error" in r], "searches")
        if len(responses) != len(names):
            raise IndexRequestError(f"_msearch answered {len(responses)} searches, {len(names)} were sent")
        rankings = {
            name: _ranking(r["hits"]["hits"], vector_scores=name != "keyword")
            for name, r in zip(names, responses, strict=True)
        }
        by_clause = [ranking for name, ranking in rankings.items() if name.startswith("clause")]
        return fuse(
            rankings.get("keyword", []), rankings.get("vector", []), limit, scale, plan.names, by_clause
        )

    @staticmethod
    def _keyword_body(query: str, scope: list[dict[str, Any]], depth: int) -> dict[str, Any]:
        # most_fields adds the field scores, as FTS5's bm25() adds its weighted columns.
        match = {"multi_match": {"query": query, "fields": ["title^2", "text"], "type": "most_fields"}}
        return {"size": depth, "_source": _HIT_FIELDS, "query": {"bool": {"must": [match], "filter": scope}}}

    @staticmethod
    def _vector_body(vector: Sequence[float], scope: list[dict[str, Any]], depth: int) -> dict[str, Any]:
        knn = {"vector": list(vector), "k": depth, "filter": {"bool": {"filter": scope}}}
        return {"size": depth, "_source": _HIT_FIELDS, "query": {"knn": {"vector": knn}}}

    def _source(self, doc: IndexDocument) -> dict[str, Any]:
        return {
            "key": document_key(doc.tenant_id, doc.doc_id),
            "copy_id": uuid.uuid4().hex,
            "indexed_at": int((self._clock or _wall_clock)() * 1000),
            **doc.model_dump(mode="json"),
        }

    def _find_copies(self, scope: list[dict[str, Any]]) -> list[str]:
        """Server ids of every stored copy in scope, paged on the unique `copy_id`."""
        ids: list[str] = []
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": LOOKUP_PAGE,
                "_source": False,
                "sort": [{"copy_id": "asc"}],
                "query": {"bool": {"filter": scope}},
            }
            if after is not None:
                body["search_after"] = after
            with _translate_errors():
                hits = self._client.search(index=self._index, body=body)["hits"]["hits"]
            ids += [hit["_id"] for hit in hits]
            if len(hits) < LOOKUP_PAGE:
                return ids
            after = hits[-1]["sort"]

    def _bulk_delete(self, ids: Sequence[str]) -> None:
        # A document already gone answers 404: deleting it again is not a failure.
        self._bulk(({"_op_type": "delete", "_index": self._index, "_id": i} for i in ids), missing_ok=True)

    def _bulk(self, actions: Iterable[dict[str, Any]], missing_ok: bool = False) -> None:
        """One bulk request per BULK_CHUNK actions; failed items raise after the whole batch ran."""
        with _translate_errors():
            _, errors = helpers.bulk(
                self._client,
                actions,
                chunk_size=BULK_CHUNK,
                raise_on_error=False,
                max_retries=0,
                ignore_status=(404,) if missing_ok else (),
            )
        failures = [next(iter(item.values())) for item in errors]
        _raise_for_items([f for f in failures if not (missing_ok and f.get("status") == 404)], "bulk actions")


def _copies_of(tenant_id: str, doc_ids: Iterable[str]) -> list[dict[str, Any]]:
    keys = [document_key(tenant_id, doc_id) for doc_id in doc_ids]
    return [{"term": {"tenant_id": tenant_id}}, {"terms": {"key": keys}}]


def _written_before(moment: datetime | None) -> list[dict[str, Any]]:
    """Copies written at or before `moment` (Range query on the epoch-millisecond `indexed_at`)."""
    if moment is None:
        return []
    return [{"range": {"indexed_at": {"lte": int(moment.timestamp() * 1000)}}}]


def _by_tenant(docs: Sequence[IndexDocument]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for doc in docs:
        grouped.setdefault(doc.tenant_id, []).append(doc.doc_id)
    return grouped


def _ranking(hits: Sequence[dict[str, Any]], *, vector_scores: bool = False) -> list[RankedDocument]:
    """Hits in server order; copies of one document (Serverless) collapse to the best place, newest copy."""
    position: dict[str, int] = {}
    newest: dict[str, dict[str, Any]] = {}
    scores: dict[str, float] = {}
    for hit in hits:
        source = hit["_source"]
        doc_id = source["doc_id"]
        position.setdefault(doc_id, len(position))
        scores.setdefault(doc_id, float(hit.get("_score") or 0.0))
        current = newest.get(doc_id)
        if current is None or _timestamp(source) > _timestamp(current):
            newest[doc_id] = source
    ordered = sorted(position, key=position.__getitem__)
    return [
        RankedDocument(
            doc_id=doc_id,
            kind=newest[doc_id]["kind"],
            namespace=newest[doc_id]["namespace"],
            payload=newest[doc_id].get("payload") or {},
            score=scores[doc_id],
            # The cosinesimil score is (2 - (1 - cosine)) / 2 = (1 + cosine) / 2 for every engine
            # (OpenSearch "Spaces"); keyword scores are not similarities.
            similarity=2.0 * scores[doc_id] - 1.0 if vector_scores else None,
        )
        for doc_id in ordered
    ]


def _timestamp(source: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(source["updated_at"])
