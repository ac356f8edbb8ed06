"""A knowledge item is embedded without its questions; its keywords keep every word."""

from __future__ import annotations

from pathlib import Path

import pytest

from learning_machine.adapters.index.fusion import RankedDocument, fuse
from learning_machine.core.scoring import relevance
from learning_machine.core.statements import asks_only, statements
from learning_machine.models.knowledge import Insight
from learning_machine.models.provenance import Provenance
from tests.support.recording import recording_indexer


@pytest.mark.parametrize(
    ("text", "told"),
    [
        ("Perfect. What is the book club reading?", "Perfect."),
        ("Lisbon! Have you been? It was great.", "Lisbon! It was great."),
        ('She asked "why not?" and left. We stayed.', "and left. We stayed."),
        ("Deploys happen on Thursdays", "Deploys happen on Thursdays"),
        ("Version 2.5 ships in May.", "Version 2.5 ships in May."),
        ("You sold the synth?! You loved that synth!", "You loved that synth!"),
    ],
)
def test_questions_are_left_out(text: str, told: str) -> None:
    assert statements(text) == told


@pytest.mark.parametrize("text", ["How was the honeymoon?", "Why? Why not?", ""])
def test_a_text_of_questions_only_is_kept_whole(text: str) -> None:
    assert statements(text) == text


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("When do you start at the council?", True),
        ("Any truck news? How is Dani?", True),
        ("A new dog?!", True),  # an exclamation after the question mark still asks
        ("Really!?", True),
        ("We won!", False),
        ("Perfect. What is the book club reading?", False),
        ("The council job starts in May.", False),
        ("", False),
    ],
)
def test_a_text_asks_only_when_every_sentence_is_a_question(text: str, asks: bool) -> None:
    assert asks_only(text) is asks


def test_an_insight_that_only_asks_gets_no_meaning_evidence_but_keeps_its_similarity() -> None:
    def document(doc_id: str, content: str, similarity: float) -> RankedDocument:
        payload = {"content": content}
        return RankedDocument(doc_id, "knowledge", "global", payload, 2 * similarity - 1, similarity)

    asking = document("asks", "When do you start at the council?", 0.9)
    telling = document("tells", "I start at the council on the 3rd of June.", 0.5)
    keyword = [RankedDocument("asks", "knowledge", "global", asking.payload, 3.0)]
    hits = {h.doc_id: h for h in fuse(keyword, [asking, telling], limit=5)}

    assert hits["asks"].score == relevance(None, 3.0)  # its words only
    assert hits["asks"].similarity == 0.9  # still reported: near-duplicate checks read it
    assert hits["tells"].score == relevance(0.5, None)
    assert hits["tells"].score > hits["asks"].score


def test_an_insight_is_embedded_without_its_questions_and_found_by_every_word(tmp_path: Path) -> None:
    indexer, embedder = recording_indexer(tmp_path)
    insight = Insight(
        insight_id="i1",
        namespace="global",
        title="Book club",
        content="Perfect. What is the book club reading?",
        provenance=Provenance(source="import"),
    )
    answer = Insight(
        insight_id="i2",
        namespace="global",
        title="Book club",
        content="Demon Copperhead.",
        context="Answering: What is the book club reading?",
        provenance=Provenance(source="import"),
    )
    indexer.put_insights("acme", [insight, answer])
    # The content without its questions; the context (what the content answers) whole.
    assert embedder.texts == ["Perfect.", "Demon Copperhead. Answering: What is the book club reading?"]
    hits = indexer.search("acme", ["global"], ["knowledge"], "reading", limit=5, mode="keyword")
    assert sorted(h.payload["insight_id"] for h in hits) == ["i1", "i2"]
