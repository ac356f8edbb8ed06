"""The ranking both engines share: which rankings to run, how deep, and how to score the union.

Each engine runs up to two rankings in one request (BM25 over title and text; k-NN over the
vector, cosine) and hands both to `fuse`, which scores every candidate on the one fixed scale of
`scoring.relevance` from its cosine similarity and its BM25 score (on Lucene's scale: the embedded
engine divides FTS5's score by k1 + 1). Nothing depends on the other candidates of the query, so
the same item gets the same score in every query that finds it, and unrelated items score near 0
instead of being stretched to 1 by min-max normalization (what this module did before).

A query that asks several things at once brings its clauses (`core/clauses.py`), each with its
vector: the engine runs one more k-NN ranking per clause in the same request, and an item's meaning
is the best of the whole query's similarity and each clause's (`scoring.meaning`).

Hybrid beats either ranking alone on the project's retrieval test (tests/unit/test_retrieval_quality.py):
meaning carries paraphrases, and a rare exact term (an error code, a ticket id) adds its keyword
evidence on top. Stopwords are left out of the keyword query, so "how do I ..." matches nothing
by itself.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...core.clauses import Clause
from ...core.query_meaning import name_words, names_in
from ...core.ranking import STOPWORDS
from ...core.scoring import DEFAULT_SCALE, ScoreScale, relevance
from ...core.statements import asks_only
from .base import DocumentKind, IndexHit, SearchMode

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
    names: tuple[str, ...] = ()  # names the query's embedding leaves out (`query_meaning`)
    clause_vectors: tuple[Sequence[float], ...] = ()  # one more k-NN ranking each (`core/clauses.py`)


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


def candidate_depth(limit: int, hybrid: bool = False) -> int:
    """How many candidates each ranking contributes.

    One ranking alone: a few more than `limit` (its order is the fused order, but for the rules of
    `_meaning`). Hybrid: `MAX_CANDIDATES` from each ranking, whatever the limit. Fusion scores an
    item from both its pieces of evidence, so an item whose words and meaning are both good but
    neither the best sits low in each ranking and still outscores items that lead one of them.
    With `limit * 4` (80 for the harness's 20 results) the long and pair chats missed such items:
    depth 200 took pair-chat recall@10 0.81 -> 0.85 and multi-hop all-in-top-10 0.28 -> 0.39
    (bench/quality/README.md). It also makes a result's rank independent of the limit asked.
    """
    if hybrid:
        return MAX_CANDIDATES
    return min(max(limit * 4, 20), MAX_CANDIDATES)


def plan_search(
    text: str,
    vector: Sequence[float] | None,
    limit: int,
    mode: SearchMode,
    clauses: Sequence[Clause] = (),
) -> SearchPlan:
    terms = query_terms(text)
    keyword_ranking = mode in ("hybrid", "keyword") and bool(terms)
    vector_ranking = mode in ("hybrid", "vector") and vector is not None
    return SearchPlan(
        terms=terms,
        keyword=keyword_ranking,
        vector=vector_ranking,
        depth=candidate_depth(limit, hybrid=keyword_ranking and vector_ranking),
        names=names_in(text),
        clause_vectors=tuple(c.vector for c in clauses if c.vector is not None) if vector_ranking else (),
    )


def _meaning(document: RankedDocument, similarity: float | None, names: Collection[str]) -> float | None:
    """The similarity (to the query or one of its clauses) that counts as meaning evidence. Full
    for an entity the query names (its name or an alias, every word of it among the names the
    query's embedding left out, `core/query_meaning.py`); none for an insight whose content only
    asks questions, since its vector stands for what it asks, not for anything it tells
    (`core/statements.py`). The hit still reports its own similarity (near-duplicate checks read
    it)."""
    if document.kind == "entity" and names and _named(document.payload, names):
        return 1.0
    if document.kind == "knowledge" and asks_only(str(document.payload.get("content", ""))):
        return None
    return similarity


def _named(payload: Mapping[str, Any], names: Collection[str]) -> bool:
    called = [payload.get("name"), *(payload.get("aliases") or [])]
    return any(
        words and all(word in names for word in words)
        for words in (name_words(str(name)) for name in called if name)
    )


def _similarities(ranking: Sequence[RankedDocument]) -> dict[str, float]:
    """Each document's similarity in one k-NN ranking (its first, best, entry)."""
    found: dict[str, float] = {}
    for document in ranking:
        if document.similarity is not None:
            found.setdefault(document.doc_id, document.similarity)
    return found


def fuse(
    keyword: Sequence[RankedDocument],
    vector: Sequence[RankedDocument],
    limit: int,
    scale: ScoreScale = DEFAULT_SCALE,
    names: Collection[str] = (),
    clause_rankings: Sequence[Sequence[RankedDocument]] = (),
) -> list[IndexHit]:
    """Score the union of the rankings (best first) on the calibrated scale; at most `limit` hits.

    `keyword` scores are BM25 on Lucene's scale; `vector` entries carry their cosine similarity to
    the query, and each of `clause_rankings` (k-NN too) to one clause of it. A doc_id seen twice in
    one ranking keeps its first (best) entry. Ties break on the query's similarity, then on doc_id,
    so the order is deterministic.
    """
    ranks: dict[str, dict[str, int]] = {}
    documents: dict[str, RankedDocument] = {}
    bm25: dict[str, float] = {}
    similarities: dict[str, float] = {}
    for name, ranking in (("keyword", keyword), ("vector", vector)):
        position = 0
        for document in ranking:
            if name in ranks.get(document.doc_id, {}):
                continue
            position += 1
            ranks.setdefault(document.doc_id, {})[name] = position
            documents.setdefault(document.doc_id, document)
            if name == "keyword":
                bm25[document.doc_id] = document.score
            elif document.similarity is not None:
                similarities[document.doc_id] = document.similarity
    by_clause = [_similarities(ranking) for ranking in clause_rankings]
    for ranking in clause_rankings:
        for document in ranking:
            ranks.setdefault(document.doc_id, {})
            documents.setdefault(document.doc_id, document)
    scores = {
        doc_id: relevance(
            _meaning(documents[doc_id], similarities.get(doc_id), names),
            bm25.get(doc_id),
            scale,
            [_meaning(documents[doc_id], clause.get(doc_id), names) for clause in by_clause],
        )
        for doc_id in ranks
    }
    order = sorted(ranks, key=lambda doc_id: (-scores[doc_id], -similarities.get(doc_id, -1.0), doc_id))
    return [
        IndexHit(
            doc_id=doc_id,
            kind=documents[doc_id].kind,
            namespace=documents[doc_id].namespace,
            score=scores[doc_id],
            keyword_rank=ranks[doc_id].get("keyword"),
            vector_rank=ranks[doc_id].get("vector"),
            keyword_score=bm25.get(doc_id),
            payload=dict(documents[doc_id].payload),
            similarity=similarities.get(doc_id),
        )
        for doc_id in order[: max(limit, 0)]
    ]
