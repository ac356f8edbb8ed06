"""Hybrid retrieval on a small corpus made by the project (tests/data/retrieval_corpus.json):
paraphrased questions and exact-term questions. Hybrid must put the right document first at
least as often as keyword-only and as vector-only, on both kinds of question.

Uses the real local sentence model (all-MiniLM-L6-v2, installed by `make install`) and the
embedded index on disk: a semantic model is what makes the paraphrase half meaningful.
"""

from __future__ import annotations

import pytest

from bench.retrieval import evaluate


@pytest.fixture(scope="module")
def top1() -> dict[str, dict[str, int]]:
    return evaluate()


@pytest.mark.parametrize("category", ["paraphrase", "exact"])
def test_hybrid_is_at_least_as_good_as_either_ranking_alone(
    top1: dict[str, dict[str, int]], category: str
) -> None:
    found = top1[category]
    assert found["hybrid"] >= found["keyword"], found
    assert found["hybrid"] >= found["vector"], found


def test_each_ranking_has_its_strength(top1: dict[str, dict[str, int]]) -> None:
    """The corpus discriminates: meaning favours vectors, rare exact terms favour keywords."""
    assert top1["paraphrase"]["vector"] > top1["paraphrase"]["keyword"], top1
    assert top1["exact"]["keyword"] > top1["exact"]["vector"], top1
