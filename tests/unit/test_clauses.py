"""A question that asks several things is also asked clause by clause (core/clauses.py): where it
splits, how a clause's meaning counts, and that the clauses cost one embedding call and ride in the
one index request."""

from __future__ import annotations

import pytest

from learning_machine.adapters.embeddings.base import EmbedderKind
from learning_machine.adapters.index.fusion import RankedDocument, fuse
from learning_machine.core.clauses import MAX_CLAUSES, Clause, clauses_of
from learning_machine.core.ranking import memory_scores
from learning_machine.core.scoring import CLAUSE_WEIGHT, meaning, relevance, relevances, semantic
from learning_machine.models.common import Layer
from learning_machine.models.memories import Memory
from learning_machine.models.provenance import Provenance
from learning_machine.services.indexing import Indexer
from tests.support.recording import RecordingEmbedder, RecordingIndex


@pytest.mark.parametrize(
    ("question", "clauses"),
    [
        (
            "What did Theo sell to pay for an engagement ring, and how did the proposal go?",
            ("What did Theo sell to pay for an engagement ring", "how did the proposal go"),
        ),
        ("Who is Theo engaged to and what is her job?", ("Who is Theo engaged to", "what is her job")),
        (
            "What was the food truck first called, why did it change, and what is it called now?",
            ("What was the food truck first called", "why did it change", "what is it called now"),
        ),
        (
            "Who came from Penang to help Mei, and for how long did they plan to stay?",
            ("Who came from Penang to help Mei", "for how long did they plan to stay"),
        ),
    ],
)
def test_a_question_splits_where_a_new_question_opens(question: str, clauses: tuple[str, ...]) -> None:
    assert clauses_of(question) == clauses


@pytest.mark.parametrize(
    "question",
    [
        "Which database does the team use?",
        "What did you do in May and in June?",  # "and" without a question word: one question
        "What does Jonah study or do for a living?",  # "or" joins alternatives of one question
        "Who is Lotte, and why?",  # a clause of fewer than three words
        "The team moved to Dagster. What did they use before, and why did they switch?",  # two sentences
        "",
    ],
)
def test_a_question_that_asks_one_thing_has_no_clauses(question: str) -> None:
    assert clauses_of(question) == ()


def test_at_most_max_clauses_are_asked() -> None:
    question = ", ".join(f"what did step {n} do" for n in range(MAX_CLAUSES + 2)) + "?"
    assert len(clauses_of(question)) == MAX_CLAUSES


def test_meaning_is_the_best_of_the_query_and_its_clauses_a_clause_discounted() -> None:
    assert meaning(0.65, [0.1]) == semantic(0.65) == 1.0
    assert meaning(0.1, [0.65]) == pytest.approx(CLAUSE_WEIGHT)  # a clause alone never reaches 1
    assert meaning(0.4, [0.5, None]) == pytest.approx(max(semantic(0.4), CLAUSE_WEIGHT * semantic(0.5)))
    assert relevance(0.1, None, clause_cosines=[0.65]) == pytest.approx(CLAUSE_WEIGHT)
    assert relevance(0.1, None) == 0.0


def test_clause_cosines_are_aligned_with_the_items() -> None:
    # Two items, two clauses: the first clause matches item 0, the second item 1.
    scores = relevances([0.1, 0.1], [None, None], clause_cosines=[[0.65, 0.1], [0.1, 0.65]])
    assert scores == pytest.approx([CLAUSE_WEIGHT, CLAUSE_WEIGHT])
    assert relevances([0.1, 0.1], [None, None]) == [0.0, 0.0]


def _memory(memory_id: str, content: str, embedding: list[float]) -> Memory:
    return Memory(
        memory_id=memory_id,
        user_id="u",
        layer=Layer.KNOWLEDGE,
        content=content,
        provenance=Provenance(source="api"),
        vector=embedding,
    )


def test_a_memory_that_answers_one_clause_scores_on_that_clause() -> None:
    memories = [_memory("m1", "Has two cats", [1.0, 0.0, 0.0]), _memory("m2", "Uses Kafka", [0.0, 1.0, 0.0])]
    query, clauses = [0.0, 0.0, 1.0], (Clause("pets", [1.0, 0.0, 0.0]), Clause("queue", [0.0, 1.0, 0.0]))

    assert memory_scores("zz", memories, query) == [0.0, 0.0]
    assert memory_scores("zz", memories, query, clauses) == pytest.approx([CLAUSE_WEIGHT, CLAUSE_WEIGHT])


def _ranked(doc_id: str, similarity: float, content: str = "a statement") -> RankedDocument:
    payload = {"content": content}
    return RankedDocument(doc_id, "knowledge", "global", payload, similarity, similarity)


def test_fusion_scores_what_only_a_clause_found_and_keeps_the_query_s_similarity() -> None:
    whole = [_ranked("whole", 0.65), _ranked("clause", 0.1)]
    by_clause = [[_ranked("clause", 0.65), _ranked("only-clause", 0.65), _ranked("whole", 0.2)]]

    hits = {hit.doc_id: hit for hit in fuse([], whole, 10, clause_rankings=by_clause)}

    assert hits["whole"].score == 1.0
    assert hits["clause"].score == pytest.approx(CLAUSE_WEIGHT)
    assert hits["clause"].similarity == 0.1  # what a hit reports is its similarity to the query
    assert hits["only-clause"].score == pytest.approx(CLAUSE_WEIGHT)
    assert hits["only-clause"].vector_rank is None


def test_an_insight_that_only_asks_gets_no_meaning_from_a_clause_either() -> None:
    asks = _ranked("asks", 0.65, content="How did the proposal go?")
    hits = fuse([], [], 10, clause_rankings=[[asks]])
    assert [hit.score for hit in hits] == [0.0]


@pytest.mark.parametrize("kind", ["local-model", "remote"])
def test_the_query_and_its_clauses_are_embedded_in_one_call_and_sent_in_one_search(
    kind: EmbedderKind,
) -> None:
    embedder, index = RecordingEmbedder(kind), RecordingIndex()
    question = "What did Theo sell to pay for a ring, and how did the proposal go?"

    Indexer(index=index, embedder=embedder).search("acme", ["global"], ["knowledge"], question, limit=5)

    # One call: the question, then its clauses, each without the names in it.
    assert embedder.calls == [
        [
            "What did sell to pay for a ring, and how did the proposal go?",
            "What did sell to pay for a ring",
            "how did the proposal go",
        ]
    ]
    (sent,) = index.searches
    assert [clause.text for clause in sent["clauses"]] == list(clauses_of(question))


def test_the_hashing_fallback_asks_no_clauses_since_a_clause_is_only_some_of_its_words() -> None:
    embedder, index = RecordingEmbedder("fallback"), RecordingIndex()
    question = "What did Theo sell to pay for a ring, and how did the proposal go?"

    Indexer(index=index, embedder=embedder).search("acme", ["global"], ["knowledge"], question, limit=5)

    assert embedder.calls == [[question]]
    assert index.searches[0]["clauses"] == ()
