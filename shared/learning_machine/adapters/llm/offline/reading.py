"""Reading the transcript: the user's turns, split into clauses, matched against the rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ....core.redaction import holds_secret
from ....models.common import Layer, Role
from ....models.extraction import (
    NumberedMessage,
)
from .rules import FORGET, Context, Fact, Finding, Forget, Rule
from .text import BULLET, clauses, is_question, sentences


@dataclass(frozen=True)
class Line:
    bulleted: bool  # "1. ..." or "- ...": an item of a list (a plan, usually)
    sentences: list[str]


@dataclass(frozen=True)
class UserTurn:
    """One user message, line by line, with secret-bearing sentences already removed."""

    turn_index: int
    lines: list[Line]
    previous_assistant: str | None

    @property
    def sentences(self) -> list[str]:
        return [s for line in self.lines for s in line.sentences]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def user_turns(messages: Sequence[NumberedMessage]) -> list[UserTurn]:
    turns = []
    previous_assistant: str | None = None
    for message in messages:
        content = message.content.replace("\u2019", "'").replace("\u2018", "'")
        if message.role == Role.ASSISTANT:
            previous_assistant = content
        elif message.role == Role.USER:
            lines = [
                Line(bool(BULLET.match(raw)), [s for s in sentences(raw) if not holds_secret(s)])
                for raw in content.splitlines()
            ]
            turns.append(
                UserTurn(message.turn_index, [line for line in lines if line.sentences], previous_assistant)
            )
    return turns


@dataclass
class Reading:
    """What the rules found, and the sentences that say what the conversation was about."""

    found: list[tuple[Finding, int]] = field(default_factory=list)  # with the turn index
    topical: list[str] = field(default_factory=list)


def read(
    turns: Sequence[UserTurn], rules: Sequence[Rule], known_projects: tuple[frozenset[str], ...]
) -> Reading:
    reading = Reading()
    for turn in turns:
        ctx = Context(turn.previous_assistant, known_projects)
        for sentence in turn.sentences:
            found = (
                []
                if is_question(sentence)
                else [f for c in clauses(sentence) for f in clause_findings(c, rules, ctx)]
            )
            reading.found.extend((finding, turn.turn_index) for finding in found)
            if all(_topical(finding) for finding in found):
                reading.topical.append(sentence)
    return reading


def _topical(finding: Finding) -> bool:
    """Introductions, style rules and feedback are about the user, not the topic of the session."""
    return isinstance(finding, Fact) and finding.layer in (Layer.KNOWLEDGE, Layer.PROFILE)


def clause_findings(clause: str, rules: Sequence[Rule], ctx: Context) -> list[Finding]:
    forget = FORGET.match(clause)
    if forget:
        # The forgotten statement must not be learned again by the other rules.
        target = forget.group("target").strip(" .!?")
        return [Forget(target)] if target and target.lower() not in ("it", "that", "this") else []
    found: list[Finding] = []
    claimed: set[str] = set()
    for rule in rules:
        if rule.group in claimed:
            continue
        match = rule.pattern.search(clause)
        produced = rule.handler(match, ctx) if match else []
        if produced:
            claimed.add(rule.group)
            found.extend(produced)
    return found
