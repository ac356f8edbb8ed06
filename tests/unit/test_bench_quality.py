"""The retrieval quality harness's pure parts: metrics over evidence ids and dataset validation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bench.quality.dataset import DatasetError, item_id, load, parse
from bench.quality.metrics import by_category, recall_at, reciprocal_rank, score

SAMPLE = Path(__file__).resolve().parents[2] / "bench" / "quality" / "data" / "sample.json"


def test_recall_counts_the_share_of_evidence_in_the_first_k() -> None:
    ranked = ["a", "b", "c", "d"]
    assert recall_at(ranked, ["b", "d"], 1) == 0.0
    assert recall_at(ranked, ["b", "d"], 2) == 0.5
    assert recall_at(ranked, ["b", "d"], 20) == 1.0
    assert recall_at(ranked, ["z"], 20) == 0.0


def test_reciprocal_rank_is_that_of_the_first_evidence_found() -> None:
    assert reciprocal_rank(["a", "b", "c"], ["c", "b"]) == 0.5
    assert reciprocal_rank(["a", "b", "c"], ["a"]) == 1.0
    assert reciprocal_rank(["a", "b", "c"], ["z"]) == 0.0


def test_scores_average_per_category_and_overall() -> None:
    ranked = ["t1", "x"] + [f"n{i}" for i in range(9)] + ["t2"]
    multi = score("multi-hop", ranked, ["t1", "t2"], {500: (["t1"], 300)})
    single = score("single-hop", ["t3"], ["t3"], {500: (["t3"], 100)})
    assert multi.recall == {1: 0.5, 5: 0.5, 10: 0.5, 20: 1.0}
    assert not multi.all_in_top and single.all_in_top
    assert multi.context[500].recall == 0.5 and not multi.context[500].all_evidence
    report = by_category([multi, single])
    assert report["single-hop"]["recall@1"] == 1.0
    assert report["overall"]["recall@1"] == 0.75
    assert report["overall"]["mrr"] == 1.0
    assert report["overall"]["all_evidence_in_top_10"] == 0.5
    assert report["overall"]["context_max_tokens_500"] == {
        "evidence_recall": 0.75,
        "all_evidence": 0.5,
        "tokens_mean": 200.0,
    }


def test_the_shipped_sample_is_valid() -> None:
    dataset = load(SAMPLE)
    turns = sum(len(c.turns) for c in dataset.conversations)
    questions = [q for c in dataset.conversations for q in c.questions]
    assert dataset.name == "sample" and turns >= 60 and len(questions) >= 30
    assert {q.category for q in questions} == {"single-hop", "multi-hop", "temporal", "preference"}


def _minimal() -> dict[str, Any]:
    return {
        "conversations": [
            {
                "conversation_id": "c1",
                "sessions": [
                    {
                        "session_id": "s1",
                        "date": "2025-01-01",
                        "turns": [{"turn_id": "t1", "speaker": "A", "text": "hi"}],
                    }
                ],
                "questions": [{"question_id": "q1", "question": "?", "evidence": ["t1"], "category": "x"}],
            }
        ]
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["conversations"][0]["questions"][0].update(evidence=["t9"]), "questions[0].evidence"),
        (lambda d: d["conversations"][0]["sessions"][0]["turns"][0].pop("speaker"), "turns[0].speaker"),
        (lambda d: d["conversations"][0]["sessions"][0].update(date=""), "sessions[0].date"),
        (
            lambda d: d["conversations"][0]["sessions"][0]["turns"].append(
                {"turn_id": "t1", "speaker": "B", "text": "again"}
            ),
            "used twice",
        ),
        (lambda d: d["conversations"][0]["questions"][0].pop("category"), "questions[0].category"),
        (lambda d: d.update(conversations=[]), "$.conversations"),
    ],
)
def test_an_invalid_dataset_is_refused_naming_the_place(change: Any, message: str) -> None:
    document = copy.deepcopy(_minimal())
    parse(document, "ok")  # valid before the change
    change(document)
    with pytest.raises(DatasetError, match=message.replace("[", r"\[").replace("$", r"\$")):
        parse(document, "broken")


def test_turn_ids_the_api_refuses_as_item_ids_are_hashed_stably() -> None:
    assert item_id("D1:3") == "D1:3"
    assert item_id("session 1 / turn 3") == item_id("session 1 / turn 3")
    assert item_id("session 1 / turn 3").startswith("turn-")
