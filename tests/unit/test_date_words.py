"""ISO dates in a stored text also reach the keyword ranking in words."""

from __future__ import annotations

from pathlib import Path

from learning_machine.core.date_words import with_dates_in_words
from learning_machine.models.knowledge import Insight
from learning_machine.models.provenance import Provenance
from tests.support.recording import recording_indexer


def test_an_iso_date_is_followed_by_its_words() -> None:
    assert with_dates_in_words("Nadia, 2024-05-20") == "Nadia, 2024-05-20 (Monday 20 May 2024)"
    assert with_dates_in_words("from 2023-02-28 to 2023-03-01.") == (
        "from 2023-02-28 (Tuesday 28 February 2023) to 2023-03-01 (Wednesday 1 March 2023)."
    )


def test_what_is_not_an_iso_date_is_left_as_written() -> None:
    for text in ["2024-13-45", "2023-02-29", "ticket 12024-05-20", "2024-05-20-1", "8 May 2023", ""]:
        assert with_dates_in_words(text) == text


def test_the_keyword_ranking_finds_an_iso_dated_item_by_its_month_and_the_embedding_is_unchanged(
    tmp_path: Path,
) -> None:
    indexer, embedder = recording_indexer(tmp_path)
    insights = [
        Insight(
            insight_id=f"i{n}",
            namespace="global",
            title=title,
            content="Notes from the standup.",
            provenance=Provenance(source="api"),
        )
        for n, title in enumerate(["Standup 2024-03-11", "Standup 2024-05-20"])
    ]
    indexer.put_insights("acme", insights)
    assert embedder.texts == ["Notes from the standup."] * 2  # what is embedded is the text as written
    hits = indexer.search("acme", ["global"], ["knowledge"], "what happened in May", limit=5, mode="keyword")
    assert [h.payload["title"] for h in hits] == ["Standup 2024-05-20"]
