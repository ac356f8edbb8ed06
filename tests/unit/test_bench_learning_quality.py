"""The learning-quality benchmark's matching rules and its shipped dataset."""

from __future__ import annotations

from typing import Any

from bench.learning_quality.__main__ import (
    DEFAULT_DATA,
    Snapshot,
    Totals,
    learn,
    score_session,
    session_time,
)
from bench.learning_quality.dataset import Session, load
from bench.learning_quality.matching import grounded, matches, stems


def test_terms_match_case_insensitively_with_alternatives() -> None:
    assert matches("The user prefers CONCISE answers.", ["concise|brief"])
    assert matches("Keeps answers brief, no emojis", ["concise|brief", "emoji"])
    assert not matches("The user prefers long answers.", ["concise|brief"])
    assert matches("anything", [""])


def test_an_item_without_any_word_said_is_invented() -> None:
    said = stems("I'm Alice, a data engineer at Netflix. Keep your answers concise.")
    assert grounded("The user prefers concise answers.", said)
    assert grounded("Netflix", said)
    assert not grounded("French", said)  # nobody spoke of French


def snapshot(**parts: Any) -> Snapshot:
    values: dict[str, Any] = {"profile": {}, "memories": [], "session": {}, "entities": [], "insights": []}
    return Snapshot(**{**values, **parts})


def memory(memory_id: str, content: str, layer: str = "knowledge") -> dict[str, Any]:
    return {"memory_id": memory_id, "content": content, "layer": layer}


def test_a_contradiction_kept_beside_its_replacement_is_a_duplicate() -> None:
    session = Session.model_validate(
        {"messages": [], "expect": {"memories": [{"terms": ["vegan"], "replaces": ["vegetarian"]}]}}
    )
    said = stems("I'm vegetarian. I've gone fully vegan now.")
    totals = Totals()
    state = snapshot(memories=[memory("m1", "The user is vegetarian."), memory("m2", "The user is vegan.")])
    score_session(session, state, None, said, "c", totals)
    assert totals.contradictions == {"updated": 0, "duplicated": 1, "missed": 0}
    assert totals.beliefs["c"] == ["knowledge: The user is vegetarian.", "knowledge: The user is vegan."]
    updated = Totals()
    score_session(session, snapshot(memories=[memory("m2", "The user is vegan.")]), None, said, "c", updated)
    assert updated.contradictions == {"updated": 1, "duplicated": 0, "missed": 0}
    assert updated.stores["memories"].matched == 1


def test_forbidden_invented_and_noise_items_cost_precision() -> None:
    session = Session.model_validate(
        {"noise": True, "messages": [], "forbid": {"profile": {"company": ["shopify"]}}}
    )
    said = stems("I work at Shopify. What is the capital of Australia?")
    state = snapshot(
        profile={"company": "Shopify", "language": "French"}, memories=[memory("m1", "Lives in Canberra.")]
    )
    status = {
        "operations": [
            {"store": "memories", "action": "add", "target": "m1"},
            {"store": "memories", "action": "delete", "target": "m9"},
            {"store": "session_context", "action": "replace", "target": "s"},
        ]
    }
    totals = Totals()
    score_session(session, state, status, said, "c", totals)
    profile, memories = totals.stores["profile"], totals.stores["memories"]
    assert (profile.items, profile.violations) == (2, 2)  # forbidden company, invented language
    # m1 is ungrounded and learned from noise: one wrong item, counted once; deleting m9 (no longer
    # held) in a noise session is one more wrong item.
    assert (memories.items, memories.violations) == (2, 2)
    assert sum("learned from noise: memories" in line for line in totals.wrong) == 2


def test_the_shipped_dataset_covers_every_store_and_mode() -> None:
    dataset = load(DEFAULT_DATA)
    assert len(dataset.conversations) >= 30
    covered = {tag for conversation in dataset.conversations for tag in conversation.covers}
    assert {
        "profile_fields",
        "policies",
        "profile",
        "knowledge",
        "feedback",
        "session",
        "planning",
    } <= covered
    assert {
        "entities",
        "learned_knowledge",
        "agentic",
        "propose",
        "noise",
        "contradiction",
        "retraction",
    } <= covered
    sessions = [s for c in dataset.conversations for s in c.sessions]
    assert any(s.noise for s in sessions) and any(s.tool_calls for s in sessions)


class _RecordingApi:
    """Answers as the API does for a transcript that was learned at once."""

    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
        if method == "POST":
            self.posted.append(body or {})
            return {"transcript_id": f"t{len(self.posted)}"}
        return {"status": "done", "usage": {"prompt_tokens": 1, "completion_tokens": 1}}


def test_a_session_is_sent_at_the_same_time_in_every_run() -> None:
    """The prompt shows the transcript's time: a time that moved between runs changed the replies."""
    session = Session(messages=[{"role": "user", "content": "I'm vegetarian."}])
    runs = []
    for _ in range(2):
        api = _RecordingApi()
        learn(api, "u", "c1-s2", session, session_time(2), "c1 session 2", Totals())  # type: ignore[arg-type]
        runs.append(api.posted[0]["occurred_at"])
    assert runs[0] == runs[1] == "2026-01-12T09:00:00+00:00"
