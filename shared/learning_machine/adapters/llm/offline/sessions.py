"""Session context: a bounded summary, and with planning a goal, a plan and the steps done."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from ....core.ranking import terms
from ....core.redaction import holds_secret
from ....models.extraction import (
    ExtractionRequest,
    SessionUpdate,
)
from .reading import UserTurn
from .rules import REST
from .text import FILLER, SENTENCE_END, capitalised, clauses, clip, oxford_join, stems, third_person

# The session summary is rewritten on every transcript; these bounds keep it from growing forever.
MAX_SUMMARY_SENTENCES = 8
MAX_SUMMARY_CHARS = 800
TOPICS_PER_TRANSCRIPT = 3
PLAN_STEP_OVERLAP = 0.5  # share of the shorter text's words shared by a done item and a plan step


_GOALS = (  # by priority: an explicit goal beats a passing "I want to"
    re.compile(
        r"\b(?:my|our|the)\s+(?:main\s+|overall\s+|end\s+|real\s+)?goal\s+"
        rf"(?:for (?:this|today|the session)\s+)?is\s+(?:to\s+)?{REST}",
        re.I,
    ),
    re.compile(r"\bI(?:'m| am)\s+trying\s+to\s+" + REST, re.I),
    re.compile(r"\bI(?:'d|\s+would)?\s+(?:really\s+)?(?:want|need|like|hope)\s+to\s+" + REST, re.I),
)
_NOT_A_GOAL = re.compile(r"^(?:know|ask|say|mention|add|point out|check whether|confirm)\b", re.I)
_PLAN_STATED = re.compile(r"\b(?:the|my|our)\s+plan\s+is(?:\s+to)?\s*:?\s*(?P<x>.+)$", re.I | re.S)
_PLAN_FIRST = re.compile(r"\b(?:first(?:ly)?|to start(?: with)?|start by)\b[,:]?\s*(?P<x>.+)$", re.I | re.S)
_STEP_SPLIT = re.compile(
    r"(?:[,;.]\s*|\s+)(?:and\s+)?(?:then|next|after that|afterwards|finally|lastly)\b[,:]?\s*"
    r"|\s*;\s*|,\s*(?:and\s+)?",
    re.I,
)
_STEP_LEAD = re.compile(r"^(?:I'll|I will|I'm going to|I want to|I need to|we'll|let's|to|I)\s+", re.I)
_DONE = (
    re.compile(
        r"\bI(?:'ve| have)?\s+(?:just\s+|already\s+|now\s+)?"
        rf"(?:finished|completed|done|wrapped up|got through)\s+(?:with\s+)?{REST}",
        re.I,
    ),
    re.compile(r"\b(?:I'm|I am)\s+(?:done|finished)\s+with\s+" + REST, re.I),
    re.compile(r"^(?:done with|finished|completed)\s+" + REST, re.I),
    re.compile(r"^(?P<x>[^.;!?]+?)\s+(?:is|are)\s+(?:now\s+)?(?:done|finished|complete|completed)\b", re.I),
)
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "last": -1}


def session_update(
    request: ExtractionRequest, turns: Sequence[UserTurn], topical: Sequence[str]
) -> SessionUpdate | None:
    if not request.learn_session:
        return None
    previous = request.previous_session
    fallback = [s for turn in turns for s in turn.sentences]  # when every sentence was about the user
    summary = bounded_summary(previous.summary if previous else "", transcript_summary(topical or fallback))
    if not request.planning:
        return SessionUpdate(summary=summary, goal=None, plan=[], progress=[])
    goal = find_goal(turns) or (previous.goal if previous else None)
    plan = find_plan(turns) or (list(previous.plan) if previous else [])
    known_steps = [*plan, *(previous.plan if previous else [])]
    progress = find_progress(turns, known_steps, previous.progress if previous else [])
    return SessionUpdate(summary=summary, goal=goal, plan=plan, progress=progress)


def transcript_summary(topical: Sequence[str]) -> str:
    """'Talked about order, a-48213 and arrived ("My order #A-48213 still hasn't arrived ...").'"""
    words = [w.removesuffix("'s") for s in topical for w in terms(s)]
    words = [w for w in words if w not in FILLER and len(w) > 2 and "'" not in w]  # no contractions
    topics = [word for word, _ in Counter(words).most_common(TOPICS_PER_TRANSCRIPT)]
    if not topics:
        return ""
    opener = next((s for s in topical if len(terms(s)) >= 3), "")
    opener = re.sub(r"[.!?]+", ",", opener.replace('"', "'")).strip(" ,")
    if len(opener) > 100:
        opener = opener[:100].rsplit(" ", 1)[0] + "..."
    return (
        f'Talked about {oxford_join(topics)} ("{opener}").'
        if opener
        else f"Talked about {oxford_join(topics)}."
    )


def bounded_summary(previous: str, latest: str) -> str:
    """The previous summary plus this transcript, dropping the oldest sentences past the bounds."""
    parts = [s for s in SENTENCE_END.split(previous.strip()) if s] + ([latest] if latest else [])
    parts = parts[-MAX_SUMMARY_SENTENCES:]
    while len(parts) > 1 and len(" ".join(parts)) > MAX_SUMMARY_CHARS:
        parts.pop(0)
    text = " ".join(parts)
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 3].rsplit(" ", 1)[0] + "..."


def find_goal(turns: Sequence[UserTurn]) -> str | None:
    for pattern in _GOALS:
        for turn in turns:
            for sentence in turn.sentences:
                match = pattern.search(sentence)
                goal = clip(match.group("x")) if match else ""
                if goal and not _NOT_A_GOAL.match(goal):
                    return capitalised(third_person(goal))
    return None


def find_plan(turns: Sequence[UserTurn]) -> list[str]:
    """The last plan stated in the transcript: a list, 'the plan is: a, b, c', or 'first a, then b'."""
    plan: list[str] = []
    for turn in turns:
        steps = (
            _listed_steps(turn)
            or _stated_steps(turn.text, _PLAN_STATED)
            or _stated_steps(turn.text, _PLAN_FIRST)
        )
        plan = steps or plan
    return plan


def _listed_steps(turn: UserTurn) -> list[str]:
    return _clean_steps(" ".join(line.sentences) for line in turn.lines if line.bulleted)


def _stated_steps(text: str, pattern: re.Pattern[str]) -> list[str]:
    match = pattern.search(text)
    if not match:
        return []
    body = match.group("x")
    connected = pattern is _PLAN_STATED or re.search(
        r"\b(?:then|next|after that|finally|lastly)\b", body, re.I
    )
    if not connected:
        return []
    # The chain of steps ends with the sentence that holds its last connector.
    last = list(re.finditer(r"\b(?:then|next|after that|afterwards|finally|lastly)\b", body, re.I))
    end = re.search(r"[.!?](?:\s|$)", body[last[-1].end() :]) if last else re.search(r"[.!?](?:\s|$)", body)
    if end:
        body = body[: (last[-1].end() if last else 0) + end.start()]
    return _clean_steps(_STEP_SPLIT.split(body))


def _clean_steps(raw: Iterable[str]) -> list[str]:
    steps = []
    for item in raw:
        step = clip(_STEP_LEAD.sub("", re.split(r"[.!?](?:\s|$)", item.strip())[0]))
        if step and not holds_secret(step):
            steps.append(capitalised(third_person(step)))
    return steps if len(steps) >= 2 else []


def find_progress(turns: Sequence[UserTurn], plan: Sequence[str], done_before: Sequence[str]) -> list[str]:
    progress = list(done_before)
    for turn in turns:
        for sentence in turn.sentences:
            for clause in clauses(sentence):
                done = next((m for m in (p.search(clause) for p in _DONE) if m), None)
                item = _plan_step(clip(done.group("x")), plan) if done else None
                if item and item.lower() not in {p.lower() for p in progress}:
                    progress.append(item)
    return progress


def _plan_step(done: str, plan: Sequence[str]) -> str | None:
    """Name a finished item by its plan step when they overlap ('reviewing sorting' -> 'Review sorting')."""
    if not done:
        return None
    numbered = re.search(
        r"\bstep\s+(\d+)\b|\b(first|second|third|fourth|fifth|sixth|last)\s+step\b", done, re.I
    )
    if numbered and plan:
        index = int(numbered.group(1)) - 1 if numbered.group(1) else _ORDINALS[numbered.group(2).lower()]
        index = index if index >= 0 else len(plan) + index
        return plan[index] if 0 <= index < len(plan) else None
    words = set(stems(done))
    best = max(plan, key=lambda step: len(words & set(stems(step))), default=None)
    if best and words:
        shared = len(words & set(stems(best)))
        if shared and shared / min(len(words), len(set(stems(best))) or 1) >= PLAN_STEP_OVERLAP:
            return best
    return capitalised(third_person(done))
