"""Relevance and size: rank a user's memories against a text, and fit them in a token budget.

Per-user memories (tens to thousands) are scored in process after one query, on the calibrated
scale of `scoring.relevance` (BM25 over the memory text, and the cosine similarity of the stored
memory vector when there is one). Search orders by that score alone; the context block orders by
it shaped by authority (a weight per layer, policies the most) and a small recency term.
Token counts are estimated (about four characters a token, never less than one a word),
which needs no tokenizer download and errs on the generous side.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import TypeVar

from ..models.common import Layer, utc_now
from ..models.memories import Memory, QueryVector
from .clauses import Clause
from .scoring import lucene_scale, relevances

T = TypeVar("T")

_WORD = re.compile(r"[a-z0-9]+(?:['.-][a-z0-9]+)*")
STOPWORDS = frozenset(
    "a an and are as at be but by do does for from has have i i'm im in is it its me my of on or so that the "
    "this to was we were what when where which who will with you your our us can could would should".split()
)
RECENCY_SECONDS = 30 * 86_400  # a memory this old counts half as recent as a new one
LAYER_WEIGHT = {Layer.POLICIES: 1.5, Layer.PROFILE: 1.2, Layer.KNOWLEDGE: 1.0, Layer.FEEDBACK: 0.9}


def estimate_tokens(text: str) -> int:
    return max(len(text) // 4, len(text.split()), 1 if text else 0)


def terms(text: str) -> list[str]:
    return [t for t in _WORD.findall(text.lower()) if t not in STOPWORDS]


# One user's memories are too few for document frequencies to say which words are rare (in a
# three-memory corpus every matched word looks common and scores near 0): idf counts as if there
# were at least this many memories, so a word in one memory of three still counts as rare.
MIN_MEMORY_CORPUS = 20


# Memory texts tokenized per container (warm Lambda): get-context and search score every memory of
# a user on each request, and a text's terms never change. Keyed by the text itself.
TOKENIZED_TEXTS_PER_CONTAINER = 8192


@lru_cache(maxsize=TOKENIZED_TEXTS_PER_CONTAINER)
def term_counts(text: str) -> tuple[dict[str, int], int]:
    """A text's term frequencies and its length in terms."""
    found = terms(text)
    return dict(Counter(found)), len(found)


def bm25_scores(
    query: str, documents: Sequence[str], k1: float = 1.2, b: float = 0.75, min_corpus: int = 0
) -> list[float]:
    if not documents:
        return []
    docs = [term_counts(d) for d in documents]
    avg_len = sum(length for _, length in docs) / len(docs) or 1.0
    n = max(len(docs), min_corpus)
    query_terms = set(terms(query))
    # Only the query's terms score: look them up alone (a user's memories hold thousands of words).
    matched = [
        {t: tf[t] for t in query_terms if t in tf} if not tf.keys().isdisjoint(query_terms) else {}
        for tf, _ in docs
    ]
    doc_freq = Counter(t for tf in matched for t in tf)
    idf = {t: math.log(1 + (n - doc_freq[t] + 0.5) / (doc_freq[t] + 0.5)) for t in doc_freq}
    scores = []
    for (_, length), tf in zip(docs, matched, strict=True):
        if not tf:
            scores.append(0.0)
            continue
        norm = k1 * (1 - b + b * length / avg_len)
        scores.append(sum(idf[t] * freq * (k1 + 1) / (freq + norm) for t, freq in tf.items()))
    return scores


def memory_scores(
    query: str,
    memories: Sequence[Memory],
    query_vector: Sequence[float] | None = None,
    clauses: Sequence[Clause] = (),
) -> list[float]:
    """Each memory's calibrated relevance to the query (`scoring.relevance`), in order; a query
    that asks several things counts its clauses too (`core/clauses.py`)."""
    keyword = bm25_scores(query, [m.content for m in memories], min_corpus=MIN_MEMORY_CORPUS)
    clause_cosines = [_cosines(memories, c.vector) for c in clauses if c.vector is not None]
    return relevances(
        _cosines(memories, query_vector),
        [lucene_scale(bm25) for bm25 in keyword],
        clause_cosines=clause_cosines if query_vector is not None else (),
    )


def _cosines(memories: Sequence[Memory], vector: Sequence[float] | None) -> list[float | None]:
    if vector is None:
        return [None] * len(memories)
    prepared = QueryVector.of(vector)
    return [memory.similarity(prepared) for memory in memories]


def rank_memories(
    memories: Sequence[Memory],
    query: str | None,
    now: datetime | None = None,
    query_vector: Sequence[float] | None = None,
    clauses: Sequence[Clause] = (),
) -> list[Memory]:
    """What the context block shows first: relevance to the query (calibrated, in [0, 1]) shaped by
    authority (the layer's weight) and recency. Without a query, authority and recency decide."""
    now = now or utc_now()
    scores = memory_scores(query, memories, query_vector, clauses) if query else [0.0] * len(memories)
    # (relevance + 0.5) * authority + 0.25 * recency, recency = 1 / (1 + age in days / 30)
    shaped = [
        (relevance + 0.5) * LAYER_WEIGHT[memory.layer]
        + 0.25 / (1.0 + max((now - memory.updated_at).total_seconds(), 0.0) / RECENCY_SECONDS)
        for memory, relevance in zip(memories, scores, strict=True)
    ]
    order = sorted(range(len(memories)), key=shaped.__getitem__, reverse=True)
    return [memories[i] for i in order]


def take_within_budget(items: Iterable[T], budget: int, cost: Callable[[T], int]) -> tuple[list[T], int]:
    """Keep items in order while they fit; return what was kept and how many were dropped."""
    kept: list[T] = []
    dropped = 0
    used = 0
    for entry in items:
        size = cost(entry)
        if used + size <= budget:
            kept.append(entry)
            used += size
        else:
            dropped += 1
    return kept, dropped
