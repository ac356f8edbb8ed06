"""The dataset format (README.md), loaded and checked before anything is imported."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_TURN_CHARS = 8_000  # what an imported insight's content may hold
UNANSWERABLE = "unanswerable"  # the one category whose questions have no evidence
_ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


class DatasetError(ValueError):
    """The file does not follow the format; the message names the place."""


@dataclass(frozen=True)
class Turn:
    turn_id: str
    speaker: str
    text: str
    session_id: str
    date: str


@dataclass(frozen=True)
class Question:
    question_id: str
    question: str
    evidence: tuple[str, ...]
    category: str
    answer: str | None = None


@dataclass(frozen=True)
class Conversation:
    conversation_id: str
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Dataset:
    name: str
    conversations: tuple[Conversation, ...]


def item_id(turn_id: str) -> str:
    """The import's item id: the turn id itself when the API accepts it as an id, else a hash of it
    (the turn id always travels verbatim in the insight's `source`)."""
    if _ITEM_ID.match(turn_id):
        return turn_id
    return "turn-" + hashlib.sha256(turn_id.encode()).hexdigest()[:24]


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}.{key}: a non-empty string is required")
    return value


def _list(raw: dict[str, Any], key: str, where: str) -> list[Any]:
    value = raw.get(key)
    if not isinstance(value, list) or not value:
        raise DatasetError(f"{where}.{key}: a non-empty list is required")
    return value


def _evidence(question: dict[str, Any], category: str, where: str) -> list[Any]:
    """Evidence turns: none for an unanswerable question, at least one for any other."""
    value = question.get("evidence", [])
    if category != UNANSWERABLE:
        if not isinstance(value, list) or not value:
            rule = f"a non-empty list is required (empty only when the category is {UNANSWERABLE!r})"
            raise DatasetError(f"{where}.evidence: {rule}")
        return value
    if value != []:
        raise DatasetError(f"{where}.evidence: an {UNANSWERABLE!r} question has no evidence (an empty list)")
    return value


def parse(document: Any, name: str) -> Dataset:
    if not isinstance(document, dict):
        raise DatasetError("the file must hold a JSON object")
    conversations = []
    seen_turns: set[str] = set()
    for c, raw in enumerate(_list(document, "conversations", "$")):
        where = f"conversations[{c}]"
        turns: list[Turn] = []
        for s, session in enumerate(_list(raw, "sessions", where)):
            at = f"{where}.sessions[{s}]"
            session_id, date = _text(session, "session_id", at), _text(session, "date", at)
            for t, turn in enumerate(_list(session, "turns", at)):
                spot = f"{at}.turns[{t}]"
                turn_id = _text(turn, "turn_id", spot)
                text = _text(turn, "text", spot)
                if turn_id in seen_turns:
                    raise DatasetError(f"{spot}.turn_id: {turn_id!r} is used twice")
                if len(text) > MAX_TURN_CHARS:
                    raise DatasetError(f"{spot}.text: longer than {MAX_TURN_CHARS} characters")
                seen_turns.add(turn_id)
                turns.append(Turn(turn_id, _text(turn, "speaker", spot), text, session_id, date))
        own_turns = {turn.turn_id for turn in turns}
        questions = []
        for q, question in enumerate(_list(raw, "questions", where)):
            spot = f"{where}.questions[{q}]"
            category = _text(question, "category", spot)
            evidence = _evidence(question, category, spot)
            unknown = [e for e in evidence if e not in own_turns]
            if unknown:
                raise DatasetError(f"{spot}.evidence: {unknown} are not turns of this conversation")
            answer = question.get("answer")
            questions.append(
                Question(
                    question_id=_text(question, "question_id", spot),
                    question=_text(question, "question", spot),
                    evidence=tuple(evidence),
                    category=category,
                    answer=str(answer) if answer is not None else None,
                )
            )
        conversation_id = _text(raw, "conversation_id", where)
        conversations.append(Conversation(conversation_id, tuple(turns), tuple(questions)))
    return Dataset(str(document.get("name") or name), tuple(conversations))


def load(path: Path) -> Dataset:
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path}: {error}") from error
    return parse(document, path.stem)
