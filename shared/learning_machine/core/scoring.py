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


def relevance(cosine: float | None, bm25: float | None, scale: ScoreScale = DEFAULT_SCALE) -> float:
    """The calibrated score of one item for one query, in [0, 1], rounded for stable output."""
    return relevances([cosine], [bm25], scale)[0]


def relevances(
    cosines: Sequence[float | None], bm25s: Sequence[float | None], scale: ScoreScale = DEFAULT_SCALE
) -> list[float]:
    """`relevance` of many items in one loop (get-context scores every memory of a user): the
    meaning and the words as in `semantic` and `lexical`, combined as a probabilistic OR."""
    return [
        round(1.0 - (1.0 - semantic(cosine, scale)) * (1.0 - KEYWORD_SHARE * lexical(bm25)), 6)
        for cosine, bm25 in zip(cosines, bm25s, strict=True)
    ]


def lucene_scale(bm25_with_k1_factor: float) -> float:
    """A BM25 score that includes the (k1 + 1) factor (`ranking.bm25_scores`) on Lucene's scale,
    which both index engines report."""
    return bm25_with_k1_factor / (BM25_K1 + 1.0)


def scale_of(embedder: object) -> ScoreScale:
    """The embedder's own scale (its `score_scale` attribute), else the default."""
    scale = getattr(embedder, "score_scale", None)
    return scale if isinstance(scale, ScoreScale) else DEFAULT_SCALE
