"""Hybrid retrieval on a small corpus made by the project: paraphrased questions (meaning, few shared
words) and exact-term questions (error codes, ticket ids, product names). Hybrid must put the right
document first at least as often as keyword-only and as vector-only, on both kinds of question.

Uses the real local sentence model (all-MiniLM-L6-v2, installed by `make install`) and the embedded
index on disk: a semantic model is what makes the paraphrase half meaningful.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from learning_machine.adapters.embeddings.local_model import SentenceModelEmbedder
from learning_machine.adapters.index.base import IndexDocument, SearchMode
from learning_machine.adapters.index.embedded import EmbeddedIndex

CORPUS = json.loads((Path(__file__).parents[1] / "data" / "retrieval_corpus.json").read_text())
MODES: tuple[SearchMode, ...] = ("hybrid", "keyword", "vector")


@pytest.fixture(scope="module")
def top1(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, int]]:
    """Questions answered at rank 1, per category and mode."""
    embedder = SentenceModelEmbedder()
    index = EmbeddedIndex(tmp_path_factory.mktemp("quality") / "index.db", embedder.dimension)
    index.ensure()
    documents = CORPUS["documents"]
    vectors = embedder.embed([f"{d['title']}. {d['text']}" for d in documents])
    index.upsert(
        [
            IndexDocument(
                doc_id=d["id"],
                tenant_id="t",
                namespace="global",
                kind="knowledge",
                title=d["title"],
                text=d["text"],
                vector=v,
                payload={},
                updated_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
            for d, v in zip(documents, vectors, strict=True)
        ]
    )
    questions = CORPUS["questions"]
    query_vectors = embedder.embed([q["text"] for q in questions])
    counts: dict[str, dict[str, int]] = {}
    for question, vector in zip(questions, query_vectors, strict=True):
        for mode in MODES:
            hits = index.search(
                "t",
                namespaces=["global"],
                kinds=["knowledge"],
                text=question["text"],
                vector=vector,
                limit=1,
                mode=mode,
            )
            right = bool(hits) and hits[0].doc_id == question["answer"]
            counts.setdefault(question["category"], dict.fromkeys(MODES, 0))[mode] += right
    index.close()
    return counts


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
