"""The OpenSearch engine: Amazon OpenSearch Serverless (`aoss`) or a managed domain (`es`).

opensearch-py with SigV4 signing (`RequestsAWSV4SignerAuth`, the current name of `AWSV4SignerAuth`,
over `RequestsHttpConnection`, as opensearch-py documents for AWS), credentials from the boto3
session (the Lambda role). One index holds every tenant; every query filters on `tenant_id`,
`namespace`, `kind` and `status` inside the query: the k-NN clause carries the filter itself (the
lucene engine filters while it searches, so filtered-out documents cannot crowd out the `k`
nearest), and the BM25 query carries the same bool filter. A search is one `_msearch` request with
both bodies, fused by `fusion.fuse` exactly like the embedded engine.

Serverless differs from a domain in ways that shape this module. Sources: AWS "Supported
operations and plugins in Amazon OpenSearch Serverless" (`POST <index>/_create/<id>` is listed "for
search collection types only"); the error AOSS returns, quoted in aws-sdk-pandas PR #2784 and
langchainjs issue #4346; mem0 PR #3893 and searchkick issue #1714 (`_refresh` answers 404);
argilla PR #3251 (400 "true refresh policy is not supported"); opensearch-java issue #1112
(`_delete_by_query` answers 404 on AOSS).
- Vector search collections refuse client document ids: a bulk `index` with `_id` fails with
  400 "Document ID is not supported in create/index operation request". With `service="aoss"`
  documents are written without `_id`; the `"{tenant}:{doc_id}"` key is a keyword field. An upsert
  looks up the copies already stored under its keys, indexes the new copies, then deletes the old
  ones by their server ids; search collapses copies of one key (newest `updated_at` wins).
- No refresh: writes become searchable after the collection's own refresh interval (seconds).
  Nothing here asks for a refresh on either service (a domain shows writes after its interval,
  1 s by default). On Serverless, a delete or re-upsert issued within that interval can miss a
  copy written just before it: search collapses the stray copy, and the next write or delete of
  its key removes it. Deletes that must not miss (forget-user) should be repeated after the
  interval, which the outbox around this adapter can do.
- No `_delete_by_query`: deleting a namespace lists the copies (paged on `copy_id`), then deletes
  them in bulk.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
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

from .base import IndexDocument, IndexHit, IndexRequestError, IndexUnavailableError, SearchMode
from .fusion import RankedDocument, fuse, plan_search

Service = Literal["aoss", "es"]

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


def index_body(dimension: int) -> dict[str, Any]:
    """Settings and mappings of the index (OpenSearch "k-NN vector" and "Methods and engines")."""
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
                "vector": {
                    "type": "knn_vector",
                    "dimension": dimension,
                    "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"},
                },
                # Returned to callers, never searched: stored in _source only.
                "payload": {"type": "object", "enabled": False},
                "updated_at": {"type": "date"},
            },
        },
    }


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
        service: Service,
        region: str,
        client: OpenSearch | None = None,
    ) -> None:
        self._index = index_name
        self._dimension = dimension
        self._server_ids = service == "aoss"
        self._client = client if client is not None else build_client(endpoint, service, region)

    def ensure(self) -> None:
        with _translate_errors():
            try:
                self._client.indices.create(index=self._index, body=index_body(self._dimension))
            except RequestError as error:
                if error.error != "resource_already_exists_exception":
                    raise

    def upsert(self, docs: Sequence[IndexDocument]) -> None:
        for doc in docs:
            if len(doc.vector) != self._dimension:
                raise ValueError(f"vector has {len(doc.vector)} dimensions, the index has {self._dimension}")
        if not docs:
            return
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

    def delete(self, tenant_id: str, doc_ids: Sequence[str]) -> None:
        if not doc_ids:
            return
        if self._server_ids:
            ids = self._find_copies(_copies_of(tenant_id, doc_ids))
        else:
            ids = [document_key(tenant_id, doc_id) for doc_id in doc_ids]
        self._bulk_delete(ids)

    def delete_tenant_namespace(self, tenant_id: str, namespace: str) -> None:
        scope = [{"term": {"tenant_id": tenant_id}}, {"term": {"namespace": namespace}}]
        if self._server_ids:
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
    ) -> list[IndexHit]:
        plan = plan_search(text, vector, limit, mode)
        if limit < 1 or not namespaces or not kinds or not (plan.keyword or plan.vector):
            return []
        scope = scope_filter(tenant_id, namespaces, kinds)
        names: list[str] = []
        lines: list[dict[str, Any]] = []
        if plan.keyword:
            names.append("keyword")
            lines += [{}, self._keyword_body(" ".join(plan.terms), scope, plan.depth)]
        if plan.vector and vector is not None:
            if len(vector) != self._dimension:
                raise ValueError(f"vector has {len(vector)} dimensions, the index has {self._dimension}")
            names.append("vector")
            lines += [{}, self._vector_body(vector, scope, plan.depth)]
        with _translate_errors():
            reply = self._client.msearch(body=lines, index=self._index)
        responses = reply.get("responses", [])
        _raise_for_items([r for r in responses if "error" in r], "searches")
        if len(responses) != len(names):
            raise IndexRequestError(f"_msearch answered {len(responses)} searches, {len(names)} were sent")
        rankings = {
            name: _ranking(r["hits"]["hits"], vector_scores=name == "vector")
            for name, r in zip(names, responses, strict=True)
        }
        return fuse(rankings.get("keyword", []), rankings.get("vector", []), limit)

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
            # lucene's cosinesimil score is (1 + cosine) / 2; keyword scores are not similarities.
            similarity=2.0 * scores[doc_id] - 1.0 if vector_scores else None,
        )
        for doc_id in ordered
    ]


def _timestamp(source: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(source["updated_at"])
