"""A deterministic embedder that needs nothing installed: feature hashing, not a semantic model.

Word unigrams and character trigrams (of each word, with boundary marks) are hashed into the
vector with a sign, so collisions cancel out on average instead of piling up. Texts that share
words or word pieces come out close; paraphrases with different words do not: the demo says so.
Hashes come from blake2b, never `hash()`, which is salted per process: the same text gets the
same vector in every process, which a persistent index depends on.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from ...core.scoring import ScoreScale
from .base import normalized

# Shared words and word pieces, not meaning: unrelated sentences land below 0.15 and a text that
# shares the query's key words above 0.3 (measured in tests/unit/test_search_scores.py's probes).
HASHING_SCALE = ScoreScale(cosine_floor=0.15, cosine_full=0.6)

_WORD = re.compile(r"\w+")
# Whole words are the stronger signal; trigrams make "deploy" and "deployment" overlap.
_WORD_WEIGHT = 1.0
_TRIGRAM_WEIGHT = 0.5
# A text without any word still gets a unit vector (indexes reject or mis-rank zero vectors).
_EMPTY_FEATURE = "empty:"


class HashingEmbedder:
    """The Embedder protocol by feature hashing; deterministic across processes and machines."""

    kind: Literal["fallback"] = "fallback"
    score_scale = HASHING_SCALE

    def __init__(self, dimension: int) -> None:
        if dimension < 1:
            raise ValueError(f"the dimension must be positive, not {dimension}")
        self.dimension = dimension
        self.name = f"hashing-{dimension} (deterministic fallback, not a semantic model)"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(text) for text in texts]

    def embed_one(self, text: str) -> list[float]:
        vector = [0.0] * self.dimension
        for feature, weight in _features(text).items():
            slot, sign = _slot(feature, self.dimension)
            vector[slot] += sign * weight
        return normalized(vector)


def _features(text: str) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for word in _WORD.findall(text.lower()):
        counts["w:" + word] += 1
        marked = f" {word} "
        counts.update("c:" + marked[start : start + 3] for start in range(len(marked) - 2))
    if not counts:
        return {_EMPTY_FEATURE: 1.0}
    # Sublinear counts: a word said five times is not five times the topic.
    return {
        feature: (_WORD_WEIGHT if feature.startswith("w:") else _TRIGRAM_WEIGHT) * (1.0 + math.log(count))
        for feature, count in counts.items()
    }


@lru_cache(maxsize=65536)
def _slot(feature: str, dimension: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return (value >> 1) % dimension, 1.0 if value & 1 else -1.0
