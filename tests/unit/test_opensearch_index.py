"""The OpenSearch adapter's requests and response handling, against OpenSearch's documented shapes.

No OpenSearch node can be installed here (no Docker, no Maven Central), so the real adapter talks
HTTP to `tests.fakes.opensearch_server` on 127.0.0.1. The tests assert the requests it sends
against the documented request shapes, and feed it response bodies shaped like the documented
ones. Each shape relied on names the documentation page it comes from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from opensearchpy import helpers

from learning_machine.adapters.index import opensearch
from learning_machine.adapters.index.base import IndexHit, IndexRequestError, IndexUnavailableError
from learning_machine.adapters.index.fusion import RankedDocument, candidate_depth, fuse
from learning_machine.adapters.index.opensearch import FLAVOURS, Flavour, OpenSearchIndex, build_client
from learning_machine.core.clauses import Clause
from tests.fakes.opensearch_server import FakeOpenSearch, ManualClock, RecordedRequest, error_body
from tests.support.index_docs import DIMENSION, document, embed

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "eu-west-1"
INDEX = "knowledge"
SCOPE = [
    {"term": {"tenant_id": "acme"}},
    {"terms": {"namespace": ["global", "user:ada"]}},
    {"terms": {"kind": ["knowledge"]}},
    {"term": {"status": "active"}},
]
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256"
    r" Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r" SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)


@pytest.fixture(autouse=True)
def static_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake, static credentials for boto3's default chain; no profile or config file is read."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


ALL_FLAVOURS: list[Flavour] = ["serverless", "serverless-nextgen", "managed"]
SERVERLESS: list[Flavour] = ["serverless", "serverless-nextgen"]


@pytest.fixture
def node() -> Iterator[FakeOpenSearch]:
    with FakeOpenSearch(flavour="managed") as fake:
        yield fake


@pytest.fixture(params=SERVERLESS)
def serverless(request: pytest.FixtureRequest) -> Iterator[FakeOpenSearch]:
    with FakeOpenSearch(flavour=request.param) as fake:
        yield fake


@pytest.fixture(params=ALL_FLAVOURS)
def any_node(request: pytest.FixtureRequest) -> Iterator[FakeOpenSearch]:
    with FakeOpenSearch(flavour=request.param) as fake:
        yield fake


def engine(node: FakeOpenSearch, clock: ManualClock | None = None) -> OpenSearchIndex:
    """The adapter configured with the flavour the node plays."""
    extra = {"clock": clock} if clock is not None else {}
    index = OpenSearchIndex(node.url, INDEX, DIMENSION, node.flavour, REGION, **extra)  # type: ignore[arg-type]
    index.ensure()
    node.requests.clear()
    return index


def search(index: OpenSearchIndex, text: str = "deploy checklist", **kwargs: Any) -> list[IndexHit]:
    options: dict[str, Any] = {
        "namespaces": ["global", "user:ada"],
        "kinds": ["knowledge"],
        "text": text,
        "vector": embed(text),
        "limit": 5,
    } | kwargs
    return index.search("acme", **options)


def search_response(*searches: list[dict[str, Any]]) -> dict[str, Any]:
    """A documented `_msearch` response (OpenSearch docs, Search APIs > Multi-search, "Example
    response"): `responses[]`, each a search response (Search APIs > Search) plus its `status`."""
    return {
        "took": 7,
        "responses": [
            {
                "took": 3,
                "timed_out": False,
                "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                "hits": {
                    "total": {"value": len(hits), "relation": "eq"},
                    "max_score": hits[0]["_score"] if hits else None,
                    "hits": hits,
                },
                "status": 200,
            }
            for hits in searches
        ],
    }


def hit(
    doc_id: str, score: float, updated_at: str = "2024-05-01T12:00:00+00:00", payload: dict | None = None
) -> dict[str, Any]:
    """One `hits.hits[]` entry: `_index`, `_id`, `_score`, `_source` (Search APIs > Search)."""
    source = {
        "doc_id": doc_id,
        "kind": "knowledge",
        "namespace": "global",
        "payload": payload if payload is not None else {"doc_id": doc_id},
        "updated_at": updated_at,
    }
    return {"_index": INDEX, "_id": f"acme:{doc_id}", "_score": score, "_source": source}


# -- index creation ---------------------------------------------------------------------------


EXPECTED_METHOD = {
    # Classic vector collections: faiss HNSW (no lucene there); cosinesimil.
    "serverless": {"name": "hnsw", "engine": "faiss", "space_type": "cosinesimil"},
    # NextGen: no explicit engine (it refuses one and uses faiss HNSW).
    "serverless-nextgen": {"name": "hnsw", "space_type": "cosinesimil"},
    # Managed domains 2.4+: lucene HNSW, whose filter inside k-NN exists from 2.4.
    "managed": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"},
}


def test_ensure_creates_the_documented_knn_index_once_per_flavour(any_node: FakeOpenSearch) -> None:
    index = OpenSearchIndex(any_node.url, INDEX, DIMENSION, any_node.flavour, REGION)  # type: ignore[arg-type]

    index.ensure()
    index.ensure()  # the node answers 400 resource_already_exists_exception: not an error

    first, second = any_node.requests
    assert (first.method, first.path) == ("PUT", f"/{INDEX}")
    body = first.json()
    # k-NN index settings and knn_vector mapping (OpenSearch docs, "k-NN vector" field type and
    # "Methods and engines": method name, engine, space_type). No shard or replica settings.
    assert body["settings"] == {"index": {"knn": True}}
    fields = body["mappings"]["properties"]
    assert fields["vector"] == {
        "type": "knn_vector",
        "dimension": DIMENSION,
        "method": EXPECTED_METHOD[any_node.flavour],
    }
    for name in ("tenant_id", "namespace", "kind", "status", "doc_id", "tags", "key"):
        assert fields[name]["type"] == "keyword"
    assert fields["title"]["type"] == fields["text"]["type"] == "text"
    assert fields["payload"] == {"type": "object", "enabled": False}
    assert fields["updated_at"] == {"type": "date"}
    assert fields["indexed_at"] == {"type": "long"}
    assert second.json() == body
    assert any_node.indices[INDEX].body == body


@pytest.mark.parametrize("target", ALL_FLAVOURS)
@pytest.mark.parametrize("configured", ALL_FLAVOURS)
def test_only_the_configured_flavours_index_works(target: Flavour, configured: Flavour) -> None:
    """Each flavour refuses the others' mapping, or cannot filter inside k-NN with it: lucene on a
    vector collection, an engine on NextGen, no engine (nmslib) on a classic collection or a
    domain. A domain (2.19 here) also takes the classic collection's faiss mapping."""
    works = configured == target or (target, configured) == ("managed", "serverless")
    with FakeOpenSearch(flavour=target) as node:
        index = OpenSearchIndex(node.url, INDEX, DIMENSION, configured, REGION)

        def create_write_search() -> list[IndexHit]:
            index.ensure()
            index.upsert([document("k1", "Deploy checklist")])
            return search(index, mode="vector")

        if works:
            assert [h.doc_id for h in create_write_search()] == ["k1"]
        else:
            with pytest.raises((IndexUnavailableError, IndexRequestError)) as refusal:
                create_write_search()
            assert "mapper_parsing_exception" in str(refusal.value) or "does not support filters" in str(
                refusal.value
            )


def test_a_managed_domain_needs_2_4_for_the_filter_inside_knn() -> None:
    """lucene filters inside the k-NN query from OpenSearch 2.4 ("Filtering data")."""
    for version, filters in (((2, 3), False), ((2, 4), True)):
        with FakeOpenSearch(flavour="managed", version=version) as node:
            index = engine(node)
            index.upsert([document("k1", "Deploy checklist")])
            if filters:
                assert [h.doc_id for h in search(index, mode="vector")] == ["k1"]
            else:
                with pytest.raises(IndexRequestError, match="does not support filters"):
                    search(index, mode="vector")


def test_a_refusal_at_creation_means_unavailable_and_is_retried(node: FakeOpenSearch) -> None:
    """A refused index (wrong flavour, a dimension that clashes with an existing index) cannot be
    used until an operator fixes it: reads degrade and writes wait instead of failing, and every
    operation tries to create the index again first."""
    node.fail_next(400, "mapper_parsing_exception")
    index = OpenSearchIndex(node.url, INDEX, DIMENSION, "managed", REGION)

    with pytest.raises(IndexUnavailableError, match="mapper_parsing_exception"):
        index.ensure()
    node.fail_next(403, "security_exception")
    with pytest.raises(IndexUnavailableError, match="security_exception"):
        search(index)
    assert INDEX not in node.indices

    search(index)  # the node takes the index now
    assert [r.method for r in node.requests[-2:]] == ["PUT", "POST"]
    assert INDEX in node.indices


# -- signing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ALL_FLAVOURS)
def test_every_request_carries_a_valid_sigv4_signature_for_the_service(flavour: Flavour) -> None:
    service = FLAVOURS[flavour].service
    with FakeOpenSearch(flavour=flavour) as node:
        index = OpenSearchIndex(node.url, INDEX, DIMENSION, flavour, REGION)
        index.ensure()
        index.upsert([document("k1", "Deploy checklist")])
        search(index)
        index.delete("acme", ["k1"])

    assert node.requests
    for request in node.requests:
        match = AUTHORIZATION.fullmatch(request.headers["Authorization"])
        assert match, request.headers["Authorization"]
        assert (match["key"], match["region"], match["service"]) == (ACCESS_KEY, REGION, service)
        # The body hash is signed, so the body cannot change after signing (compression off).
        assert request.headers["X-Amz-Content-SHA256"] == hashlib.sha256(request.body).hexdigest()
        assert match["signature"] == expected_signature(
            request, node.url, match["signed"].split(";"), service
        )


def expected_signature(request: RecordedRequest, base_url: str, signed: list[str], service: str) -> str:
    """Recompute the SigV4 signature over what the node received, with botocore."""
    headers = {name: value for name, value in request.headers.items() if name.lower() in signed}
    query = urlencode(request.query, doseq=True)
    url = f"{base_url}{request.path}" + (f"?{query}" if query else "")
    aws_request = AWSRequest(method=request.method, url=url, data=request.body, headers=headers)
    aws_request.context["timestamp"] = request.headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION)
    return signer.signature(
        signer.string_to_sign(aws_request, signer.canonical_request(aws_request)), aws_request
    )


# -- writes -----------------------------------------------------------------------------------


def test_upsert_on_a_domain_is_one_bulk_request_keyed_by_tenant_and_doc_id(node: FakeOpenSearch) -> None:
    index = engine(node)
    docs = [document("k1", "First note", "body one"), document("k2", "Second note", namespace="user:ada")]

    index.upsert(docs)

    (request,) = node.requests
    assert (request.method, request.path) == ("POST", "/_bulk")
    # Bulk request body (OpenSearch docs, Document APIs > Bulk): NDJSON, an action line
    # (`{"index": {"_index", "_id"}}`) then the document, newline-terminated.
    lines = request.ndjson()
    assert lines[0] == {"index": {"_index": INDEX, "_id": "acme:k1"}}
    assert lines[2] == {"index": {"_index": INDEX, "_id": "acme:k2"}}
    source = lines[1]
    assert source["key"] == "acme:k1"
    assert {
        k: source[k] for k in ("doc_id", "tenant_id", "namespace", "kind", "status", "title", "text")
    } == {
        "doc_id": "k1",
        "tenant_id": "acme",
        "namespace": "global",
        "kind": "knowledge",
        "status": "active",
        "title": "First note",
        "text": "body one",
    }
    assert source["vector"] == pytest.approx(docs[0].vector)
    assert source["payload"] == docs[0].payload
    assert source["updated_at"] == "2024-05-01T12:00:00Z"
    assert set(node.documents(INDEX)) == {"acme:k1", "acme:k2"}


def test_upsert_on_serverless_sends_no_ids_and_replaces_the_previous_copy(serverless: FakeOpenSearch) -> None:
    index = engine(serverless)

    index.upsert([document("k1", "First version")])
    first_copy = set(serverless.documents(INDEX))
    index.upsert([document("k1", "Second version")])

    lookup, write, lookup_again, rewrite, drop = serverless.requests
    assert (lookup.path, write.path, lookup_again.path) == (
        f"/{INDEX}/_search",
        "/_bulk",
        f"/{INDEX}/_search",
    )
    assert lookup.json()["query"] == {
        "bool": {"filter": [{"term": {"tenant_id": "acme"}}, {"terms": {"key": ["acme:k1"]}}]}
    }
    # Serverless vector collections refuse `_id` on index actions: the action line has none.
    assert write.ndjson()[0] == {"index": {"_index": INDEX}}
    assert rewrite.ndjson()[0] == {"index": {"_index": INDEX}}
    assert drop.ndjson() == [{"delete": {"_index": INDEX, "_id": first_copy.pop()}}]
    (stored,) = serverless.documents(INDEX).values()
    assert stored["title"] == "Second version"


def test_client_ids_are_refused_by_a_serverless_collection(serverless: FakeOpenSearch) -> None:
    """Why the adapter writes without ids there: the domain request shape fails item by item."""
    engine(serverless)
    client = build_client(serverless.url, "aoss", REGION)
    action = {"_op_type": "index", "_index": INDEX, "_id": "acme:k1", "_source": {"doc_id": "k1"}}

    _, errors = helpers.bulk(client, [action], raise_on_error=False, max_retries=0)

    ((item,),) = [e.values() for e in errors]
    assert item["status"] == 400
    assert item["error"]["reason"] == "Document ID is not supported in create/index operation request"
    assert serverless.documents(INDEX) == {}


def test_delete_on_a_domain_is_one_bulk_of_delete_actions(node: FakeOpenSearch) -> None:
    index = engine(node)
    index.upsert([document("k1", "Note")])
    node.requests.clear()

    index.delete("acme", ["k1", "missing"])  # the missing one answers 404 not_found: not an error

    (request,) = node.requests
    assert request.ndjson() == [
        {"delete": {"_index": INDEX, "_id": "acme:k1"}},
        {"delete": {"_index": INDEX, "_id": "acme:missing"}},
    ]
    assert node.documents(INDEX) == {}


def test_delete_tenant_namespace_on_a_domain_is_one_delete_by_query(node: FakeOpenSearch) -> None:
    index = engine(node)

    index.delete_tenant_namespace("acme", "user:ada")

    (request,) = node.requests
    # Delete by query (OpenSearch docs, Document APIs > Delete by query): POST <index>/_delete_by_query.
    assert (request.method, request.path, request.query) == (
        "POST",
        f"/{INDEX}/_delete_by_query",
        {"conflicts": ["proceed"]},
    )
    assert request.json() == {
        "query": {"bool": {"filter": [{"term": {"tenant_id": "acme"}}, {"term": {"namespace": "user:ada"}}]}}
    }


def test_serverless_deletes_list_the_copies_page_by_page_then_delete_them(
    serverless: FakeOpenSearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(opensearch, "LOOKUP_PAGE", 2)
    index = engine(serverless)
    index.upsert([document(f"u{i}", "Ada note", namespace="user:ada") for i in range(5)])
    index.upsert([document("g1", "Ada note")])
    serverless.requests.clear()

    index.delete_tenant_namespace("acme", "user:ada")

    pages = serverless.requests_to("/_search")
    assert len(pages) == 3
    assert [page.json().get("search_after") is not None for page in pages] == [False, True, True]
    assert all(page.json()["sort"] == [{"copy_id": "asc"}] for page in pages)
    assert not serverless.requests_to("/_delete_by_query")
    (remaining,) = serverless.documents(INDEX).values()
    assert remaining["doc_id"] == "g1"


def test_no_refresh_is_ever_requested(any_node: FakeOpenSearch) -> None:
    index = engine(any_node)
    index.upsert([document("k1", "Note")])
    index.upsert([document("k1", "Note again")])
    search(index, "note")
    index.delete("acme", ["k1"])
    index.delete_tenant_namespace("acme", "global")

    assert any_node.requests
    for request in any_node.requests:
        assert "_refresh" not in request.path
        assert "refresh" not in request.query
        assert request.status < 400, (request.method, request.path)


# -- what the fake refuses on Serverless (so the adapter's tests would see it) -----------------


def raw_request(node: FakeOpenSearch, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    client = build_client(node.url, FLAVOURS[node.flavour].service, REGION)
    try:
        return 200, client.transport.perform_request(method, path, body=body)
    except opensearch.TransportError as error:
        return int(error.status_code), error.info


def test_a_serverless_collection_refuses_what_aws_documents_as_unsupported(
    serverless: FakeOpenSearch,
) -> None:
    engine(serverless)
    index_body = opensearch.index_body(DIMENSION, serverless.flavour)
    lucene = {"type": "knn_vector", "dimension": 4, "method": {"name": "hnsw", "engine": "lucene"}}
    nmslib = {"type": "knn_vector", "dimension": 4, "method": {"name": "hnsw", "engine": "nmslib"}}
    refused = {
        "_refresh": raw_request(serverless, "POST", f"/{INDEX}/_refresh"),
        "_delete_by_query": raw_request(
            serverless, "POST", f"/{INDEX}/_delete_by_query", {"query": {"match_all": {}}}
        ),
        "refresh=true": raw_request(serverless, "POST", "/_bulk?refresh=true", "{}\n"),
        "shards": raw_request(
            serverless, "PUT", "/other", {**index_body, "settings": {"number_of_shards": 2}}
        ),
        "lucene": raw_request(serverless, "PUT", "/lucene", {"mappings": {"properties": {"v": lucene}}}),
        "nmslib": raw_request(serverless, "PUT", "/nmslib", {"mappings": {"properties": {"v": nmslib}}}),
    }

    assert {name: status for name, (status, _) in refused.items()} == {
        "_refresh": 404,
        "_delete_by_query": 404,
        "refresh=true": 400,
        "shards": 400,
        "lucene": 400,
        "nmslib": 400,
    }
    assert refused["lucene"][1]["error"]["type"] == "mapper_parsing_exception"
    assert set(serverless.indices) == {INDEX}


def test_nextgen_refuses_any_explicit_engine_and_classic_needs_faiss_to_filter() -> None:
    faiss = {"type": "knn_vector", "dimension": DIMENSION, "method": {"name": "hnsw", "engine": "faiss"}}
    bare = {"type": "knn_vector", "dimension": DIMENSION}
    knn = {"size": 1, "query": {"knn": {"v": {"vector": embed("x"), "k": 1, "filter": {"match_all": {}}}}}}
    with FakeOpenSearch(flavour="serverless-nextgen") as nextgen:
        status, body = raw_request(nextgen, "PUT", "/faiss", {"mappings": {"properties": {"v": faiss}}})
        assert (status, body["error"]["caused_by"]["reason"]) == (
            400,
            "Field parameter 'engine' is not supported",
        )
        assert raw_request(nextgen, "PUT", "/bare", {"mappings": {"properties": {"v": bare}}})[0] == 200
        assert raw_request(nextgen, "POST", "/bare/_search", knn)[0] == 200
    with FakeOpenSearch(flavour="serverless") as classic:
        assert raw_request(classic, "PUT", "/bare", {"mappings": {"properties": {"v": bare}}})[0] == 200
        status, body = raw_request(classic, "POST", "/bare/_search", knn)
        assert (status, body["error"]["reason"]) == (400, "Engine [NMSLIB] does not support filters")


# -- writes that stay invisible for the refresh interval ---------------------------------------


def test_a_delete_within_the_refresh_interval_misses_a_copy_and_its_repeat_removes_it() -> None:
    clock = ManualClock()
    with FakeOpenSearch(flavour="serverless", refresh_interval=60.0, clock=clock) as node:
        index = engine(node, clock)
        assert index.visibility_delay_seconds == 60.0  # the documented refresh interval
        index.upsert([document("k1", "Note", namespace="user:ada")])
        clock.advance(5)

        index.delete("acme", ["k1"])  # the copy is not searchable yet: the lookup finds nothing
        assert len(node.documents(INDEX)) == 1
        first_attempt = datetime.fromtimestamp(clock(), UTC)
        clock.advance(1)
        index.upsert([document("k2", "Newer", namespace="user:ada")])  # written after the delete
        clock.advance(120)

        index.delete("acme", ["k1"], written_before=first_attempt)
        index.delete_tenant_namespace("acme", "user:ada", written_before=first_attempt)

        (kept,) = node.documents(INDEX).values()
        assert kept["doc_id"] == "k2"  # only what was written before the first attempt went


# -- search requests --------------------------------------------------------------------------


def test_search_is_one_msearch_with_a_bm25_and_a_knn_body_both_filtered(node: FakeOpenSearch) -> None:
    index = engine(node)
    vector = embed("deploy checklist")

    search(index, "Deploy the CHECKLIST!", vector=vector)

    (request,) = node.requests
    assert (request.method, request.path) == ("POST", f"/{INDEX}/_msearch")
    # Multi-search request body (Search APIs > Multi-search): NDJSON, a header line then a body
    # line per search; an empty header searches the index named in the path.
    keyword_header, keyword_body, vector_header, vector_body = request.ndjson()
    depth = candidate_depth(5, hybrid=True)
    assert keyword_header == vector_header == {}
    # Keyword search: multi_match over title^2 and text (Query DSL > Full-text > Multi-match),
    # with the scope in the bool query's filter context (Query DSL > Compound > Boolean).
    assert keyword_body["size"] == depth
    assert keyword_body["query"] == {
        "bool": {
            "must": [
                {
                    "multi_match": {
                        "query": "deploy checklist",  # the stopword "the" is dropped
                        "fields": ["title^2", "text"],
                        "type": "most_fields",
                    }
                }
            ],
            "filter": SCOPE,
        }
    }
    # Vector search: the knn query with `vector`, `k` and a `filter` inside the knn clause (k-NN
    # docs, "Filtering data" > efficient filtering, supported by the lucene engine).
    assert vector_body["size"] == depth
    knn = vector_body["query"]["knn"]["vector"]
    assert knn["vector"] == pytest.approx(vector)
    assert knn["k"] == depth
    assert knn["filter"] == {"bool": {"filter": SCOPE}}
    for body in (keyword_body, vector_body):
        assert "vector" not in body["_source"]


def test_each_clause_of_a_query_adds_one_knn_body_to_the_same_msearch(node: FakeOpenSearch) -> None:
    index = engine(node)
    clauses = [Clause("who sold it", embed("who sold it")), Clause("how did it go", embed("how did it go"))]

    search(index, "who sold it, and how did it go", clauses=clauses)
    search(index, "who sold it, and how did it go", clauses=clauses, mode="keyword")

    split, keyword_only = node.requests
    bodies = split.ndjson()[1::2]
    assert [list(body["query"]) for body in bodies] == [["bool"], ["knn"], ["knn"], ["knn"]]
    for body, clause in zip(bodies[2:], clauses, strict=True):
        knn = body["query"]["knn"]["vector"]
        assert knn["vector"] == pytest.approx(clause.vector)
        assert knn["filter"] == {"bool": {"filter": SCOPE}}
    assert [list(body["query"]) for body in keyword_only.ndjson()[1::2]] == [["bool"]]


@pytest.mark.parametrize(("mode", "clause"), [("keyword", "bool"), ("vector", "knn")])
def test_a_single_mode_sends_only_its_body(node: FakeOpenSearch, mode: str, clause: str) -> None:
    index = engine(node)

    search(index, mode=mode)

    header, body = node.requests[0].ndjson()
    assert header == {}
    assert list(body["query"]) == [clause]


def test_nothing_is_sent_when_there_is_nothing_to_search(node: FakeOpenSearch) -> None:
    index = engine(node)

    assert search(index, " ?! ", vector=None) == []
    assert search(index, namespaces=[]) == []
    assert node.requests == []


# -- search responses -------------------------------------------------------------------------


def test_the_documented_response_fuses_exactly_like_the_embedded_engine(node: FakeOpenSearch) -> None:
    """Both engines hand their rankings to `fusion.fuse`; OpenSearch reports cosine as (1 + cos) / 2
    (k-NN docs, "Spaces"), which the adapter turns back into the cosine, and BM25 on Lucene's
    scale, which the embedded engine computes too: the same calibrated scores."""
    bm25 = {"release": 7.5, "deploy": 6.1, "rollback": 2.0}
    cosine = {"deploy": 0.83, "release": 0.64, "oncall": 0.12, "coffee": -0.05}
    payloads = {doc_id: {"doc_id": doc_id} for doc_id in {*bm25, *cosine}}

    def ranked(scores: dict[str, float], similarity: bool) -> list[RankedDocument]:
        return [
            RankedDocument(
                doc_id=d,
                kind="knowledge",
                namespace="global",
                payload=payloads[d],
                score=v,
                similarity=v if similarity else None,
            )
            for d, v in sorted(scores.items(), key=lambda item: -item[1])
        ]

    expected = fuse(ranked(bm25, False), ranked(cosine, True), 3)
    keyword_hits = [hit(d, v) for d, v in sorted(bm25.items(), key=lambda item: -item[1])]
    vector_hits = [hit(d, (1 + v) / 2) for d, v in sorted(cosine.items(), key=lambda item: -item[1])]
    index = engine(node)
    node.respond_next(200, search_response(keyword_hits, vector_hits))

    found = index.search(
        "acme",
        namespaces=["global"],
        kinds=["knowledge"],
        text="deploy checklist",
        vector=embed("deploy"),
        limit=3,
    )

    assert [h.doc_id for h in found] == [h.doc_id for h in expected] == ["deploy", "release", "rollback"]
    for got, want in zip(found, expected, strict=True):
        assert got.model_dump(exclude={"score", "similarity"}) == want.model_dump(
            exclude={"score", "similarity"}
        )
        assert got.score == pytest.approx(want.score)
        assert got.similarity == pytest.approx(want.similarity) if want.similarity is not None else True


def test_copies_of_one_document_collapse_to_the_best_place_with_the_newest_content(
    serverless: FakeOpenSearch,
) -> None:
    node = serverless
    index = engine(node)
    stale = hit("k1", 9.0, "2024-05-01T12:00:00+00:00", {"version": 1})
    fresh = hit("k1", 5.0, "2024-05-02T12:00:00+00:00", {"version": 2})
    node.respond_next(200, search_response([stale, hit("k2", 7.0), fresh]))

    hits = search(index, mode="keyword")

    assert [(h.doc_id, h.keyword_rank, h.payload.get("version")) for h in hits] == [
        (
            "k1",
            1,
            2,
        ),
        ("k2", 2, None),
    ]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, IndexRequestError),
        (404, IndexRequestError),
        (429, IndexUnavailableError),
        (503, IndexUnavailableError),
    ],
)
def test_a_failed_search_inside_msearch_is_reported(
    node: FakeOpenSearch, status: int, error: type[Exception]
) -> None:
    index = engine(node)
    # A failed search is an `error` object plus its `status` in `responses[]` (Multi-search).
    node.respond_next(
        200, {"took": 1, "responses": [error_body(status, "search_phase_execution_exception", "x")]}
    )

    with pytest.raises(error):
        search(index, mode="keyword")


@pytest.mark.parametrize(("status", "error"), [(429, IndexUnavailableError), (400, IndexRequestError)])
def test_failed_bulk_items_are_reported(node: FakeOpenSearch, status: int, error: type[Exception]) -> None:
    index = engine(node)
    # A failed bulk action carries `status` and `error` in its item, `errors: true` on top (Bulk).
    item = {
        "_index": INDEX,
        "_id": "acme:k1",
        "status": status,
        "error": {"type": "es_rejected_execution_exception", "reason": "queue full"},
    }
    node.respond_next(200, {"took": 1, "errors": True, "items": [{"index": item}]})

    with pytest.raises(error):
        index.upsert([document("k1", "Note")])


def test_server_errors_mean_unavailable(node: FakeOpenSearch) -> None:
    index = engine(node)

    node.fail_next(503, times=2)  # the client retries a 503 once
    with pytest.raises(IndexUnavailableError):
        search(index)
    node.fail_next(429)
    with pytest.raises(IndexUnavailableError):
        index.upsert([document("k1", "Note")])
    node.fail_next(400, "illegal_argument_exception")
    with pytest.raises(IndexRequestError):
        index.delete_tenant_namespace("acme", "global")


def test_an_unreachable_node_means_unavailable(node: FakeOpenSearch) -> None:
    index = engine(node)
    node.close()

    with pytest.raises(IndexUnavailableError):
        search(index)


def test_a_timeout_means_unavailable(node: FakeOpenSearch) -> None:
    client = build_client(node.url, "es", REGION, timeout=0.2)
    index = OpenSearchIndex(node.url, INDEX, DIMENSION, "managed", REGION, client=client)
    index.ensure()
    for _ in range(2):  # the first attempt and its one retry
        node.respond_next(200, search_response([]), delay=2.0)

    with pytest.raises(IndexUnavailableError):
        search(index, mode="keyword")


def test_vector_scores_become_cosine_similarities() -> None:
    """lucene's cosinesimil score is (1 + cosine) / 2 (OpenSearch k-NN docs, "Spaces")."""
    from learning_machine.adapters.index.opensearch import _ranking

    hits = [
        {
            "_score": 0.9,
            "_source": {
                "doc_id": "a",
                "kind": "knowledge",
                "namespace": "global",
                "updated_at": "2026-01-01T00:00:00+00:00",
                "payload": {},
            },
        }
    ]
    assert _ranking(hits, vector_scores=True)[0].similarity == pytest.approx(0.8)
    assert _ranking(hits)[0].similarity is None
