"""A query's embedding leaves out the names in it (a semantic model only); its keywords keep them."""

from __future__ import annotations

import pytest

from learning_machine.adapters.embeddings.base import EmbedderKind
from learning_machine.adapters.index.fusion import RankedDocument, fuse
from learning_machine.core.query_meaning import meaning_text, name_words, names_in
from learning_machine.core.scoring import relevance
from learning_machine.services.indexing import Indexer
from tests.support.recording import RecordingEmbedder, RecordingIndex


@pytest.mark.parametrize(
    ("query", "embedded"),
    [
        ("Who is Nadia's employer now?", "Who is employer now?"),
        ("What is Tomás's position at Valle Vista now?", "What is position at now?"),
        # Acronyms stay: the model knows many of them as words.
        ("When did Caroline go to the LGBTQ support group?", "When did go to the LGBTQ support group?"),
        # "I" and its contractions are not names; a word that opens a sentence is not one either.
        ("I'm asking about Acme. What does Acme sell?", "I'm asking about What does sell?"),
        ("what is the weather in Paris tomorrow", "what is the weather in tomorrow"),
        # Months and weekdays date the question: they stay.
        ("What trip did Nadia take in May 2024?", "What trip did take in May 2024?"),
        ("Where was Ingrid on Sunday, June 4?", "Where was on Sunday, June 4?"),
    ],
)
def test_names_are_left_out_of_the_embedded_text(query: str, embedded: str) -> None:
    assert meaning_text(query) == embedded


@pytest.mark.parametrize(
    "query",
    [
        "which database does the team use",  # no name
        "Nadia",  # nothing would be left
        "Deploy Checklist For Payments",  # title case: most words capitalised
        "ask Falcon Kafka",  # two names in three words
    ],
)
def test_a_query_without_names_or_made_mostly_of_them_is_embedded_whole(query: str) -> None:
    assert meaning_text(query) == query


@pytest.mark.parametrize("kind", ["local-model", "remote"])
def test_a_semantic_model_embeds_the_query_without_names_keywords_keep_them(kind: EmbedderKind) -> None:
    embedder, index = RecordingEmbedder(kind), RecordingIndex()
    indexer = Indexer(index=index, embedder=embedder)
    indexer.search("acme", ["global"], ["entity"], "when does Falcon ship?", limit=5)
    assert embedder.texts == ["when does ship?"]
    assert index.searches[0]["text"] == "when does Falcon ship?"


def test_the_hashing_fallback_embeds_the_query_whole_since_names_are_what_it_matches() -> None:
    embedder = RecordingEmbedder("fallback")
    indexer = Indexer(index=RecordingIndex(), embedder=embedder)
    indexer.embed_query("when does Falcon ship?")
    assert embedder.texts == ["when does Falcon ship?"]


def test_the_names_left_out_are_given_lowercased_without_possessives() -> None:
    assert names_in("When did Nadia's team move to Tidewater Energy?") == ("nadia", "tidewater", "energy")
    assert names_in("Deploy Checklist For Payments") == ()  # embedded whole: no names left out
    assert names_in("which database does the team use") == ()


def test_query_names_and_entity_names_compare_in_the_same_words() -> None:
    assert name_words("Nadia's") == ["nadia"]
    assert name_words("O\u2019Brien's") == name_words("O'Brien") == ["o", "brien"]
    assert names_in("What does Siobhan O'Brien teach?") == ("siobhan", "o", "brien")


def test_an_entity_the_query_names_counts_as_fully_meant() -> None:
    def entity(doc_id: str, name: str, aliases: list[str], similarity: float) -> RankedDocument:
        payload = {"name": name, "aliases": aliases}
        return RankedDocument(doc_id, "entity", "global", payload, 2 * similarity - 1, similarity)

    falcon = entity("falcon", "Falcon", [], 0.2)
    acme = entity("acme", "Acme Corp", ["ACME"], 0.3)
    other = entity("other", "Falconry Club", [], 0.6)
    hits = {h.doc_id: h for h in fuse([], [falcon, acme, other], limit=5, names=("falcon", "acme"))}

    assert hits["falcon"].score == 1.0 and hits["falcon"].similarity == 0.2
    assert hits["acme"].score == 1.0  # through its alias: every word of "Acme Corp" is not named
    assert hits["other"].score == relevance(0.6, None)  # "falcon" is not "falconry"
