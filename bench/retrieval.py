"""Retrieval quality of the knowledge index: top-1 hits per mode on the project's own corpus.

Paraphrased questions (meaning, few shared words) and exact-term questions (error codes, ticket
ids, product names), answered by hybrid, keyword-only and vector-only search on the embedded
engine with the local sentence model. tests/unit/test_retrieval_quality.py asserts on the same
evaluation; this writes the figures.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.common import write_result
from learning_machine.adapters.embeddings.local_model import SentenceModelEmbedder
from learning_machine.adapters.index.base import IndexDocument, SearchMode
from learning_machine.adapters.index.embedded import EmbeddedIndex

CORPUS = Path(__file__).parents[1] / "tests" / "data" / "retrieval_corpus.json"
MODES: tuple[SearchMode, ...] = ("hybrid", "keyword", "vector")


def evaluate(corpus_path: Path = CORPUS) -> dict[str, dict[str, int]]:
    """Questions answered at rank 1, per category and mode (plus the number of questions)."""
    corpus = json.loads(corpus_path.read_text())
    embedder = SentenceModelEmbedder()
    with tempfile.TemporaryDirectory() as folder:
        index = EmbeddedIndex(Path(folder) / "index.db", embedder.dimension)
        index.ensure()
        documents = corpus["documents"]
        vectors = embedder.embed([f"{d['title']}. {d['text']}" for d in documents])
        when = datetime(2026, 1, 1, tzinfo=UTC)
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
                    updated_at=when,
                )
                for d, v in zip(documents, vectors, strict=True)
            ]
        )
        questions = corpus["questions"]
        counts: dict[str, dict[str, int]] = {}
        for question, vector in zip(questions, embedder.embed([q["text"] for q in questions]), strict=True):
            found = counts.setdefault(question["category"], {"questions": 0, **dict.fromkeys(MODES, 0)})
            found["questions"] += 1
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
                found[mode] += bool(hits) and hits[0].doc_id == question["answer"]
        index.close()
    return counts


def main() -> int:
    counts = evaluate()
    ok = all(c["hybrid"] >= max(c["keyword"], c["vector"]) for c in counts.values())
    write_result("retrieval", {"top1_by_category": counts, "hybrid_at_least_as_good_as_each": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
