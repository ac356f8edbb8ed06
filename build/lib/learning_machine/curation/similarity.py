"""Near-duplicate groups among embedded texts: cosine similarity and union-find, in plain Python.

Per-user memory layers hold tens to thousands of items; comparisons are made within windows of
WINDOW items (ordered so that likely duplicates sit together), which bounds the work of a unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import mul

WINDOW = 1_500


def unit_vector(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Of two unit vectors."""
    return sum(map(mul, a, b))


def similar_groups(
    vectors: Sequence[Sequence[float]], threshold: float, same: Sequence[str] | None = None
) -> list[tuple[list[int], float]]:
    """Groups (index lists, lowest similarity that joined them) of items at `threshold` or closer.

    `same` optionally gives each item a key that must be equal for two items to join (e.g.
    polarity)."""
    parent = list(range(len(vectors)))
    weakest: dict[int, float] = {}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    units = [unit_vector(v) for v in vectors]
    for start in range(0, len(units), WINDOW):
        window = range(start, min(start + WINDOW, len(units)))
        for i in window:
            for j in range(i + 1, window.stop):
                if same is not None and same[i] != same[j]:
                    continue
                score = cosine(units[i], units[j])
                if score >= threshold:
                    a, b = root(i), root(j)
                    if a != b:
                        parent[b] = a
                        weakest[a] = min(weakest.get(a, 1.0), weakest.pop(b, 1.0), score)
    groups: dict[int, list[int]] = {}
    for i in range(len(units)):
        groups.setdefault(root(i), []).append(i)
    return [(members, round(weakest.get(r, 1.0), 3)) for r, members in groups.items() if len(members) > 1]
