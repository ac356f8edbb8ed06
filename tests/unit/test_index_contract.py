"""The knowledge-index contract, run against every engine.

- `embedded`: the real SQLite engine on disk (apsw + FTS5 + sqlite-vec).
- `opensearch-<flavour>` (managed, serverless, serverless-nextgen): the real OpenSearch adapter
  over HTTP against `tests.fakes.opensearch_server` playing that flavour, which evaluates the
  documented query DSL the adapter sends (filters, knn with its filter, ids, deletes) and refuses
  what the flavour does not support (client document ids, lucene, an explicit engine on NextGen,
  `_delete_by_query` and `_refresh` on Serverless). What these runs prove is that the adapter's
  requests express the contract (tenant, namespace, kind and status filters inside the query; one
  document per key; deletes that reach every copy). They prove nothing about OpenSearch's
  relevance beyond its scale: the fake scores keywords with Lucene's BM25 formula over its own
  crude analyzer, so assertions here never depend on fine keyword order, but the calibrated
  scores of one corpus must agree across engines (`test_every_engine_scores_on_one_scale`).
  That the two engines fuse the same rankings into the same order is checked in
  test_opensearch_index.py against the documented `_msearch` response.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from learning_machine.adapters.index.base import KnowledgeIndex
from learning_machine.adapters.index.embedded import EmbeddedIndex
from learning_machine.adapters.index.opensearch import OpenSearchIndex
from learning_machine.core.clauses import Clause
from learning_machine.core.scoring import CLAUSE_WEIGHT
from tests.fakes.opensearch_server import FakeOpenSearch
from tests.support.index_docs import DIMENSION, document, embed

ENGINES = ["embedded", "opensearch-managed", "opensearch-serverless", "opensearch-serverless-nextgen"]
KINDS = ["knowledge", "entity"]
GLOBAL = ["global"]


@pytest.fixture(params=ENGINES)
def index(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[KnowledgeIndex]:
    if request.param == "embedded":
        embedded = EmbeddedIndex(tmp_path / "index.db", DIMENSION)
        embedded.ensure()
        yield embedded
        embedded.close()
        return
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    flavour = request.param.removeprefix("opensearch-")
    with FakeOpenSearch(flavour=flavour) as node:
        engine = OpenSearchIndex(node.url, "knowledge", DIMENSION, flavour, "eu-west-1")
        engine.ensure()
        yield engine


def search(index: KnowledgeIndex, text: str, *, tenant: str = "acme", mode: str = "hybrid", **kwargs):
    options = {"namespaces": GLOBAL, "kinds": KINDS, "limit": 10} | kwargs
    return index.search(tenant, text=text, vector=embed(text), mode=mode, **options)  # type: ignore[arg-type]


def ids(hits) -> list[str]:
    return [hit.doc_id for hit in hits]


def test_ensure_is_idempotent(index: KnowledgeIndex) -> None:
    index.ensure()
    index.upsert([document("k1", "Deploy checklist", "run the smoke tests before every deploy")])

    index.ensure()  # a second cold start finds the index and must not recreate or empty it

    assert [hit.doc_id for hit in search(index, "deploy checklist", mode="keyword")] == ["k1"]


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "vector"])
def test_a_document_is_found_with_its_payload(index: KnowledgeIndex, mode: str) -> None:
    index.upsert(
        [document("k1", "Deploy checklist", "run the smoke tests before every deploy", source="api")]
    )

    (hit,) = search(index, "deploy checklist smoke tests", mode=mode)

    assert hit.doc_id == "k1"
    assert (hit.kind, hit.namespace) == ("knowledge", "global")
    assert hit.payload == {"doc_id": "k1", "title": "Deploy checklist", "source": "api"}
    assert (hit.keyword_rank is not None) == (mode != "vector")
    assert (hit.vector_rank is not None) == (mode != "keyword")


def test_another_tenants_identical_document_never_appears(index: KnowledgeIndex) -> None:
    index.upsert([document("k1", "Quarterly revenue", "numbers", tenant="globex")])

    for mode in ("hybrid", "keyword", "vector"):
        assert search(index, "quarterly revenue numbers", mode=mode) == []

    index.upsert([document("k1", "Quarterly revenue", "numbers", tenant="acme")])
    hits = search(index, "quarterly revenue numbers")
    assert ids(hits) == ["k1"]
    assert ids(search(index, "quarterly revenue numbers", tenant="globex")) == ["k1"]


def test_tenant_ids_containing_the_key_separator_do_not_collide(index: KnowledgeIndex) -> None:
    index.upsert([document("c", "Shared words", tenant="a:b"), document("b:c", "Shared words", tenant="a")])

    assert ids(search(index, "shared words", tenant="a:b")) == ["c"]
    assert ids(search(index, "shared words", tenant="a")) == ["b:c"]


def test_only_the_requested_namespaces_are_searched(index: KnowledgeIndex) -> None:
    index.upsert(
        [
            document("g", "Coffee preference", namespace="global"),
            document("u1", "Coffee preference", namespace="user:ada"),
            document("u2", "Coffee preference", namespace="user:bob"),
        ]
    )

    assert ids(search(index, "coffee preference", namespaces=["user:ada"])) == ["u1"]
    assert sorted(ids(search(index, "coffee preference", namespaces=["global", "user:bob"]))) == ["g", "u2"]
    assert search(index, "coffee preference", namespaces=[]) == []


def test_only_the_requested_kinds_are_returned(index: KnowledgeIndex) -> None:
    index.upsert([document("e1", "Acme Corp", kind="entity"), document("k1", "Acme Corp", kind="knowledge")])

    assert ids(search(index, "acme corp", kinds=["entity"])) == ["e1"]
    assert ids(search(index, "acme corp", kinds=["knowledge"])) == ["k1"]
    assert search(index, "acme corp", kinds=[]) == []


def test_pending_documents_are_never_returned_until_approved(index: KnowledgeIndex) -> None:
    proposal = document("p1", "Use blue green deploys", "proposal text", status="pending")
    index.upsert([proposal])

    for mode in ("hybrid", "keyword", "vector"):
        assert search(index, "blue green deploys proposal", mode=mode) == []

    index.upsert([proposal.model_copy(update={"status": "active"})])
    assert ids(search(index, "blue green deploys proposal")) == ["p1"]


def test_upserting_twice_keeps_one_document_with_the_latest_content(index: KnowledgeIndex) -> None:
    index.upsert([document("k1", "Release train", "weekly")])
    index.upsert([document("k1", "Release train", "fortnightly", version=2)])

    (hit,) = search(index, "release train")
    assert hit.payload["version"] == 2
    assert search(index, "weekly", mode="keyword") == []
    assert ids(search(index, "fortnightly", mode="keyword")) == ["k1"]


def test_delete_removes_only_the_named_documents_of_the_tenant(index: KnowledgeIndex) -> None:
    index.upsert(
        [
            document("k1", "Alpha note"),
            document("k2", "Alpha note too"),
            document("k1", "Alpha note", tenant="globex"),
        ]
    )

    index.delete("acme", ["k1", "never-existed"])
    index.delete("acme", [])

    assert ids(search(index, "alpha note")) == ["k2"]
    assert ids(search(index, "alpha note", tenant="globex")) == ["k1"]


def test_delete_tenant_namespace_removes_that_namespace_of_that_tenant_only(index: KnowledgeIndex) -> None:
    index.upsert(
        [
            document("u1", "Ada likes tea", namespace="user:ada"),
            document("u2", "Ada likes cake", namespace="user:ada"),
            document("g1", "Ada likes tea", namespace="global"),
            document("u1", "Ada likes tea", namespace="user:ada", tenant="globex"),
        ]
    )

    index.delete_tenant_namespace("acme", "user:ada")

    assert search(index, "ada likes tea cake", namespaces=["user:ada"]) == []
    assert ids(search(index, "ada likes tea")) == ["g1"]
    assert ids(search(index, "ada likes tea", namespaces=["user:ada"], tenant="globex")) == ["u1"]


@pytest.mark.parametrize(
    "text",
    ['"', "AND OR (", 'title:"x', "*", "NEAR(a b)", "-", "^2", "{}", "\\", "' OR 1=1 --", "🙂", "", "   "],
)
def test_any_query_text_is_safe(index: KnowledgeIndex, text: str) -> None:
    index.upsert([document("k1", "Plain words", "nothing special")])

    for mode in ("hybrid", "keyword"):
        hits = search(index, text, mode=mode)
        assert all(hit.doc_id == "k1" for hit in hits)


def test_query_text_with_syntax_still_matches_its_words(index: KnowledgeIndex) -> None:
    index.upsert([document("k1", "Hello world", "greeting")])

    assert ids(search(index, 'say "hello" AND (world', mode="keyword")) == ["k1"]


def test_the_filter_is_applied_inside_the_query(index: KnowledgeIndex) -> None:
    query = embed("alpha")
    crowd = [document(f"other-{i}", "alpha", tenant="globex", vector=query) for i in range(500)]
    crowd += [document(f"ns-{i}", "alpha", namespace="user:bob", vector=query) for i in range(50)]
    crowd += [document(f"pending-{i}", "alpha", status="pending", vector=query) for i in range(50)]
    index.upsert(crowd)
    index.upsert([document("mine", "omega beta", vector=embed("omega beta"))])

    hits = index.search("acme", namespaces=GLOBAL, kinds=KINDS, text="", vector=query, limit=1, mode="vector")

    assert ids(hits) == ["mine"]


def test_hybrid_ranks_a_document_found_by_both_rankings_first(index: KnowledgeIndex) -> None:
    query = "incident review"
    index.upsert(
        [
            document(
                "words-only", "Incident review incident review", "incident", vector=embed("unrelated text")
            ),
            document("both", "Incident review", vector=embed(query)),
            document("vector-only", "Nothing alike", vector=embed(f"{query} and more")),
        ]
    )

    hits = index.search("acme", namespaces=GLOBAL, kinds=KINDS, text=query, vector=embed(query), limit=3)

    assert hits[0].doc_id == "both"
    assert hits[0].keyword_rank is not None and hits[0].vector_rank is not None
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_limit_caps_the_hits(index: KnowledgeIndex) -> None:
    index.upsert([document(f"k{i}", f"Topic number {i}") for i in range(8)])

    assert len(search(index, "topic number", limit=3)) == 3
    assert search(index, "topic number", limit=0) == []


SCALE_CORPUS = [
    ("k1", "Deploy checklist", "run the smoke tests before every deploy"),
    ("k2", "Database", "the payments team runs PostgreSQL and Kafka"),
    ("k3", "Coffee", "the office coffee machine is on the third floor"),
    ("k4", "Oncall", "page the oncall engineer when the error rate doubles"),
]


def test_every_engine_scores_on_one_scale(index: KnowledgeIndex) -> None:
    """Scores are calibrated (core/scoring.py), not normalized per query: the same corpus and query give
    the same scores on every engine, an unrelated query scores near 0, and the best item of a
    query scores the same whatever else the query found."""
    index.upsert([document(doc_id, title, text) for doc_id, title, text in SCALE_CORPUS])

    deploy = {h.doc_id: h.score for h in search(index, "deploy smoke tests")}
    words = {h.doc_id: h.score for h in search(index, "payments kafka", mode="keyword")}
    unrelated = search(index, "weather forecast paris")

    # Measured on the embedded engine; OpenSearch computes the same BM25 (Lucene's formula, which
    # the embedded engine implements) and reports cosine as (1 + cos) / 2, which the adapter undoes.
    assert deploy == pytest.approx({"k1": 0.994369, "k2": 0.0, "k3": 0.0, "k4": 0.0}, abs=0.01)
    assert words == pytest.approx({"k2": 0.134298}, abs=0.01)
    assert [h.score for h in unrelated] == [0.0] * len(unrelated)


def test_each_clause_of_a_query_runs_its_own_vector_ranking(index: KnowledgeIndex) -> None:
    """A query that asks two things finds what answers each (core/clauses.py), in the one request:
    here the query's own vector is near neither document, each clause's vector is one of them."""
    index.upsert(
        [
            document("ring", "Sold the motorbike", vector=embed("ring sale motorbike")),
            document("proposal", "She said yes", vector=embed("proposal went well")),
        ]
    )
    query = embed("unrelated words entirely")
    clauses = [Clause("sale", embed("ring sale motorbike")), Clause("proposal", embed("proposal went well"))]

    alone = index.search("acme", namespaces=GLOBAL, kinds=KINDS, text="", vector=query, limit=5)
    split = index.search(
        "acme", namespaces=GLOBAL, kinds=KINDS, text="", vector=query, limit=5, clauses=clauses
    )

    assert all(hit.score < 0.5 for hit in alone)
    assert sorted(ids(split)) == ["proposal", "ring"]
    assert [hit.score for hit in split] == pytest.approx([CLAUSE_WEIGHT, CLAUSE_WEIGHT], abs=0.01)


def _at_cosine(cosine: float) -> list[float]:
    """A unit vector whose cosine with the first axis (the query below) is `cosine`."""
    return [cosine, (1.0 - cosine**2) ** 0.5] + [0.0] * (DIMENSION - 2)


def test_hybrid_finds_an_item_that_neither_ranking_puts_near_the_top(index: KnowledgeIndex) -> None:
    """Words and meaning both good, neither the best: 25 items beat it on words alone and 25 on
    meaning alone, yet it scores above all of them, so each ranking must reach that deep (150
    unrelated items make its word rare enough to count)."""
    query = [1.0] + [0.0] * (DIMENSION - 1)
    words = [document(f"words-{i}", "falcon falcon falcon", vector=_at_cosine(0.0)) for i in range(25)]
    meaning = [document(f"meaning-{i}", "unrelated", vector=_at_cosine(0.42)) for i in range(25)]
    others = [document(f"other-{i}", "nothing here", vector=_at_cosine(-0.5)) for i in range(150)]
    both = document("both", "falcon notes", vector=_at_cosine(0.41))
    index.upsert([*words, *meaning, *others, both])

    hits = index.search("acme", namespaces=GLOBAL, kinds=KINDS, text="falcon", vector=query, limit=5)

    assert hits[0].doc_id == "both"
    assert hits[0].keyword_rank is not None and hits[0].keyword_rank > 20
    assert hits[0].vector_rank is not None and hits[0].vector_rank > 20
