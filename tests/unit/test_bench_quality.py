"""The retrieval quality harness's pure parts: metrics over evidence ids and dataset validation."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.quality import long_chats
from bench.quality.dataset import DatasetError, item_id, load, parse
from bench.quality.metrics import by_category, recall_at, reciprocal_rank, score

LONG_CHATS = Path(__file__).resolve().parents[2] / "bench" / "quality" / "data" / "long_chats.json"

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


def test_the_long_chats_dataset_is_valid_and_long() -> None:
    dataset = load(LONG_CHATS)
    assert dataset.name == "long_chats" and len(dataset.conversations) >= 4
    for conversation in dataset.conversations:
        assert len(conversation.turns) >= 150
        assert len({turn.session_id for turn in conversation.turns}) >= 8
        categories = Counter(q.category for q in conversation.questions)
        assert len(conversation.questions) >= 25
        assert set(categories) == {"single-hop", "multi-hop", "temporal", "knowledge-update", "unanswerable"}
        for question in conversation.questions:
            assert (question.category == "unanswerable") == (not question.evidence), question.question_id
            if question.category == "multi-hop":
                assert len(question.evidence) >= 2, question.question_id


def test_the_long_chats_file_is_what_its_generator_builds_from_the_written_chats() -> None:
    assert json.loads(LONG_CHATS.read_text()) == long_chats.build()


def test_a_question_citing_an_unknown_label_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "chat.txt"
    source.write_text(
        "@conversation c\n@user Ann\n== 2024-01-01\nU#hi: hello\nA: hi Ann\n"
        "Q single-hop | Who? | Ann | hi\nQ multi-hop | Who else? | nobody | hi, bye\n"
    )
    with pytest.raises(long_chats.SourceError, match=r"c-q2 cites unknown labels \['bye'\]"):
        long_chats.conversation(source)
    source.write_text(source.read_text().replace(", bye", ""))
    conversation = long_chats.conversation(source)
    assert [q["evidence"] for q in conversation["questions"]] == [["c-s1-t1"], ["c-s1-t1"]]
    assert conversation["sessions"][0]["turns"][1] == {
        "turn_id": "c-s1-t2",
        "speaker": "assistant",
        "text": "hi Ann",
    }


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
        (lambda d: d["conversations"][0]["questions"][0].update(evidence=[]), "questions[0].evidence"),
        (lambda d: d["conversations"][0]["questions"][0].pop("evidence"), "questions[0].evidence"),
        (lambda d: d["conversations"][0]["questions"][0].update(category="unanswerable"), "has no evidence"),
        (
            lambda d: d["conversations"][0]["questions"][0].update(category="unanswerable", evidence="none"),
            "questions[0].evidence",
        ),
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


def test_only_an_unanswerable_question_may_have_no_evidence() -> None:
    document = _minimal()
    questions = document["conversations"][0]["questions"]
    questions.append({"question_id": "q2", "question": "Who?", "evidence": [], "category": "unanswerable"})
    question = parse(document, "ok").conversations[0].questions[1]
    assert question.evidence == () and question.category == "unanswerable"
    questions[1]["category"] = "temporal"
    with pytest.raises(DatasetError, match=r"conversations\[0\]\.questions\[1\]\.evidence.*'unanswerable'"):
        parse(document, "broken")


def test_unanswerable_questions_report_what_came_back_not_recall() -> None:
    contexts = {500: (["t1", "t2"], 120)}
    answered = score("single-hop", ["t1", "t2"], ["t1"], {500: (["t1"], 80)}, [0.9, 0.3])
    nothing_to_find = score("unanswerable", ["t1", "t2", "t3"], [], contexts, [0.7, 0.2, 0.1])
    quiet = score("unanswerable", [], [], {500: ([], 0)}, [])
    low = score("unanswerable", ["t4"], [], {500: (["t4"], 40)}, [0.4])
    assert not nothing_to_find.answerable and not nothing_to_find.all_in_top
    assert not quiet.context[500].all_evidence
    report = by_category([answered, nothing_to_find, quiet, low])
    unanswerable = report["unanswerable"]
    assert unanswerable == {
        "questions": 3,
        "top_score_mean": 0.3667,
        "top_score_below_0.5": 0.6667,
        # Results a default search returns (scores at or above min_score 0.2): 2, 0 and 1.
        "results_mean": 1.0,
        "nothing_by_default": 0.3333,
        "context_max_tokens_500": {"items_mean": 1.0, "tokens_mean": 53.3},
    }
    # Overall averages recall over answerable questions only: the unanswerable ones would drag it to 0.
    assert report["overall"]["questions"] == 1
    assert report["overall"]["recall@1"] == 1.0 and report["overall"]["mrr"] == 1.0
    assert report["single-hop"]["top_score_mean"] == 0.9
    assert report["single-hop"]["top_score_below_0.5"] == 0.0
    assert report["single-hop"]["results_mean"] == 2.0


def test_a_turn_context_holds_the_question_it_answers_or_with_neighbours_the_turns_before() -> None:
    from bench.quality.__main__ import turn_context

    document = _minimal()
    session = document["conversations"][0]["sessions"][0]
    session["turns"] = [
        {"turn_id": "a1", "speaker": "Ana", "text": "Where did you go in May?"},
        {"turn_id": "a2", "speaker": "Bo", "text": "Lisbon, with my sister."},
        {"turn_id": "a3", "speaker": "Ana", "text": "Lovely."},
    ]
    document["conversations"][0]["questions"][0]["evidence"] = ["a2"]
    conversation = parse(document, "ok").conversations[0]

    assert turn_context(conversation, 1, 0) == "Answering: Where did you go in May?"
    assert turn_context(conversation, 2, 0) is None  # the turn before it asks nothing
    assert turn_context(conversation, 0, 0) is None  # nothing precedes the first turn
    assert turn_context(conversation, 2, 2) == (
        "After: Ana: Where did you go in May? Bo: Lisbon, with my sister."
    )
    assert turn_context(conversation, 0, 1) is None


def test_a_turn_embeds_its_text_alone_and_leaves_speaker_and_date_to_the_title() -> None:
    from bench.quality.__main__ import import_turns

    document = _minimal()
    session = document["conversations"][0]["sessions"][0]
    session["date"] = "3 September 2023, 7:40 pm"
    session["turns"] = [{"turn_id": "a1", "speaker": "Bo", "text": "Lisbon, with my sister."}]
    document["conversations"][0]["questions"][0]["evidence"] = ["a1"]
    conversation = parse(document, "ok").conversations[0]
    calls: list[tuple[str, str, dict]] = []

    class Recording:
        def call(self, method: str, path: str, body: dict) -> dict:
            calls.append((method, path, body))
            return {}

    # One turn, so no question before it: no context.
    import_turns(Recording(), "u1", conversation)  # type: ignore[arg-type]
    [(_, path, body)] = calls
    assert path == "/v1/knowledge/import"
    [item] = body["items"]
    assert item["title"] == "Bo, 3 September 2023, 7:40 pm"
    assert item["content"] == "Lisbon, with my sister." and item["context"] is None


def test_the_pair_chats_file_is_what_its_generator_builds_from_the_written_chats() -> None:
    pair_chats = LONG_CHATS.with_name("pair_chats.json")
    assert json.loads(pair_chats.read_text()) == long_chats.build("pair_chats")
