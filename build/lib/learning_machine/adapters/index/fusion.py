"""The ranking both engines share: which rankings to run, how deep, and how to fuse them.

Relative score fusion: each ranking's scores are min-max normalized over the candidates of this
query (a document a ranking did not return counts 0 there), then combined as
`KEYWORD_WEIGHT * keyword + (1 - KEYWORD_WEIGHT) * vector` — the normalization-processor shape of
OpenSearch's hybrid search (min_max, weighted arithmetic mean). Min-max makes the engines agree: an
affine change of scores (lucene reports cosine as (1 + cos) / 2) normalizes to the same values.

Why not reciprocal rank fusion: on the project's retrieval test (tests/unit/test_retrieval_quality.py),
RRF let weak keyword matches on common words outvote a clear semantic match, and hybrid fell below
vector-only on paraphrased questions. With scores, a weak keyword match stays weak. The weight 0.25
(vector-leaning) is Weaviate's documented default for hybrid search (alpha 0.75); rare exact terms
(error codes, ticket ids) still win because their keyword score dominates the normalized range.
Stopwords are left out of the keyword query, so "how do I ..." matches nothing by itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...ranking import STOPWORDS
from .base import DocumentKind, IndexHit, SearchMode

KEYWORD_WEIGHT = 0.25
MAX_QUERY_TERMS = 32
MAX_CANDIDATES = 200

_TERM = re.compile(r"\w+")


@dataclass(frozen=True)
class RankedDocument:
    """One entry of a single ranking, best first, as an engine read it back."""

    doc_id: str
    kind: DocumentKind
    namespace: str
    payload: Mapping[str, Any]
    score: float  # the engine's own score: BM25 (higher is better) or the k-NN score
    similarity: float | None = None  # cosine similarity to the query vector (vector ranking only)


@dataclass(frozen=True)
class SearchPlan:
    terms: tuple[str, ...]
    keyword: bool
    vector: bool
    depth: int


def query_terms(text: str) -> tuple[str, ...]:
    """Words of the query, lowercased, deduplicated, capped: the keyword query both engines send.

    Operators and punctuation are dropped, so no user text can be read as query syntax; stopwords
    are dropped so that only words that carry meaning can make a keyword match.
    """
    seen: dict[str, None] = {}
    for term in _TERM.findall(text.lower()):
        if term in STOPWORDS:
            continue
        seen.setdefault(term, None)
        if len(seen) == MAX_QUERY_TERMS:
            break
    return tuple(seen)


def candidate_depth(limit: int) -> int:
    """How many candidates each ranking contributes: fusion needs more than `limit` from each."""
    return min(max(limit * 4, 20), MAX_CANDIDATES)


def plan_search(text: str, vector: Sequence[float] | None, limit: int, mode: SearchMode) -> SearchPlan:
    terms = query_terms(text)
    return SearchPlan(
        terms=terms,
        keyword=mode in ("hybrid", "keyword") and bool(terms),
        vector=mode in ("hybrid", "vector") and vector is not None,
        depth=candidate_depth(limit),
    )


def fuse(
    keyword: Sequence[RankedDocument],
    vector: Sequence[RankedDocument],
    limit: int,
    keyword_weight: float = KEYWORD_WEIGHT,
) -> list[IndexHit]:
    """Fuse two rankings (best first) into at most `limit` hits, best first.

    A doc_id seen twice in one ranking keeps its first (best) entry. With one ranking only (keyword
    or vector mode) its normalized score is the score. Ties break on the vector similarity, then
    on doc_id, so the order is deterministic.
    """
    weights = {"keyword": keyword_weight, "vector": 1.0 - keyword_weight}
    if not keyword or not vector:
        weights = {"keyword": 1.0, "vector": 1.0}
    ranks: dict[str, dict[str, int]] = {}
    normalized: dict[str, dict[str, float]] = {}
    documents: dict[str, RankedDocument] = {}
    for name, ranking in (("keyword", keyword), ("vector", vector)):
        best: dict[str, RankedDocument] = {}
        for document in ranking:
            best.setdefault(document.doc_id, document)
        if not best:
            continue
        low = min(d.score for d in best.values())
        high = max(d.score for d in best.values())
        for position, document in enumerate(best.values(), start=1):
            ranks.setdefault(document.doc_id, {})[name] = position
            span = high - low
            normalized.setdefault(document.doc_id, {})[name] = (document.score - low) / span if span else 1.0
            documents.setdefault(document.doc_id, document)
    similarities = {d.doc_id: d.similarity for d in vector if d.similarity is not None}

    def score(doc_id: str) -> float:
        return sum(weights[name] * value for name, value in normalized[doc_id].items())

    order = sorted(ranks, key=lambda doc_id: (-score(doc_id), -(similarities.get(doc_id) or -1.0), doc_id))
    return [
        IndexHit(
            doc_id=doc_id,
            kind=documents[doc_id].kind,
            namespace=documents[doc_id].namespace,
            score=round(score(doc_id), 6),
            keyword_rank=ranks[doc_id].get("keyword"),
            vector_rank=ranks[doc_id].get("vector"),
            payload=dict(documents[doc_id].payload),
            similarity=similarities.get(doc_id),
        )
        for doc_id in order[: max(limit, 0)]
    ]
