"""Relevance on one fixed scale: a score in [0, 1] that means the same in every store, for every
query and every tenant, so a caller can set one threshold (`min_score`).

A score is built from two pieces of evidence, each mapped onto [0, 1] by a fixed transform (never
by the other results of the same query, which is what made every store's best item score 1.0):
- meaning: the cosine similarity of the query and item vectors, mapped linearly from the
  embedder's `cosine_floor` (what unrelated sentences reach with that model) to 1 at its
  `cosine_full` (a paraphrase of the same fact), clipped; each embedder declares its `ScoreScale`
  (the hashing fallback's cosines run lower than the local model's);
- words: a BM25 score on Lucene's scale (idf * tf-saturation, without BM25's constant (k1 + 1)
  factor, which Lucene 8+ and so OpenSearch leave out), saturated as `bm25 / (bm25 + BM25_HALF)`:
  one rare query word in a short text counts about a half, more matched words approach 1.
A query that asks several things at once is also asked clause by clause (`core/clauses.py`): the
meaning is then the best of the whole query's and each clause's, a clause's at `CLAUSE_WEIGHT`.
They combine as a probabilistic OR with the keyword evidence discounted (`KEYWORD_SHARE`): meaning
alone can reach 1, words alone reach at most `KEYWORD_SHARE`, and words add to meaning without
ever lowering it. Keyword evidence alone is weaker because matching a word says less than
matching a meaning ("use" in "never use emojis" does not make it about databases).

The defaults were measured on the project's datasets (bench/quality/README.md): with the local
model, questions nothing answers top out below `DEFAULT_MIN_SCORE` while most answerable ones
have their evidence above it. Another embedding model has other cosine ranges: its floor and full
mark are the two numbers to measure (`LM_SCORE_COSINE_FLOOR` / `LM_SCORE_COSINE_FULL` override).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BM25_HALF = 4.0
KEYWORD_SHARE = 0.6
# Lucene's BM25 k1 (the in-process ranking keeps BM25's (k1 + 1) factor, which Lucene drops).
BM25_K1 = 1.2
DEFAULT_MIN_SCORE = 0.2
# What a clause's meaning counts for beside the whole question's (bench/quality/README.md).
CLAUSE_WEIGHT = 0.85


@dataclass(frozen=True)
class ScoreScale:
    """Where one embedding model's cosine similarities mean "unrelated" and "the same thing"."""

    cosine_floor: float
    cosine_full: float


# all-MiniLM-L6-v2 (the local model), measured on bench/quality/data/long_chats.json (README).
DEFAULT_SCALE = ScoreScale(cosine_floor=0.15, cosine_full=0.65)


def semantic(cosine: float | None, scale: ScoreScale = DEFAULT_SCALE) -> float:
    if cosine is None:
        return 0.0
    span = scale.cosine_full - scale.cosine_floor
    return min(max((cosine - scale.cosine_floor) / span, 0.0), 1.0)


def lexical(bm25: float | None) -> float:
    """A BM25 score on Lucene's scale, saturated onto [0, 1)."""
    if bm25 is None or bm25 <= 0:
        return 0.0
    return bm25 / (bm25 + BM25_HALF)


def meaning(
    cosine: float | None, clause_cosines: Sequence[float | None] = (), scale: ScoreScale = DEFAULT_SCALE
) -> float:
    """The meaning evidence: `semantic` of the whole query's cosine, or of a clause's at
    `CLAUSE_WEIGHT`, whichever is higher."""
    best = semantic(cosine, scale)
    for clause_cosine in clause_cosines:
        best = max(best, CLAUSE_WEIGHT * semantic(clause_cosine, scale))
    return best


def combined(meaning: float, bm25: float | None) -> float:
    """Meaning and words as a probabilistic OR, rounded for stable output."""
    return round(1.0 - (1.0 - meaning) * (1.0 - KEYWORD_SHARE * lexical(bm25)), 6)


def relevance(
    cosine: float | None,
    bm25: float | None,
    scale: ScoreScale = DEFAULT_SCALE,
    clause_cosines: Sequence[float | None] = (),
) -> float:
    """The calibrated score of one item for one query, in [0, 1]; `clause_cosines` are the
    item's cosines to the query's clauses, if it has any (`core/clauses.py`)."""
    return combined(meaning(cosine, clause_cosines, scale), bm25)


def relevances(
    cosines: Sequence[float | None],
    bm25s: Sequence[float | None],
    scale: ScoreScale = DEFAULT_SCALE,
    clause_cosines: Sequence[Sequence[float | None]] = (),
) -> list[float]:
    """`relevance` of many items in one loop (get-context scores every memory of a user).
    `clause_cosines` holds one sequence per clause of the query, aligned with `cosines`."""
    if clause_cosines:
        per_item = list(zip(*clause_cosines, strict=True))
        return [
            combined(meaning(cosine, clauses, scale), bm25)
            for cosine, bm25, clauses in zip(cosines, bm25s, per_item, strict=True)
        ]
    return [combined(semantic(cosine, scale), bm25) for cosine, bm25 in zip(cosines, bm25s, strict=True)]


def lucene_scale(bm25_with_k1_factor: float) -> float:
    """A BM25 score that includes the (k1 + 1) factor (`ranking.bm25_scores`) on Lucene's scale,
    which both index engines report."""
    return bm25_with_k1_factor / (BM25_K1 + 1.0)


def scale_of(embedder: object) -> ScoreScale:
    """The embedder's own scale (its `score_scale` attribute), else the default."""
    scale = getattr(embedder, "score_scale", None)
    return scale if isinstance(scale, ScoreScale) else DEFAULT_SCALE
