"""Entities: a few stock phrasings, resolved against the entities the request shows."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ....models.entities import EntityType
from ....models.extraction import (
    MAX_ENTITY_OPERATIONS,
    EntityOp,
    EntityOperation,
    ExtractionRequest,
    ShownEntity,
)
from .reading import UserTurn
from .rules import CLAUSE_STOP, NAME, ORG, ROLE
from .text import as_sentence, clauses, clip, is_question, normalised, word_set

_ENTITY_NAME = r"(?-i:(?!(?:I|We|It|This|That|They|He|She|You|The|Our|My|Your|There|Here|What|A|An)\b)"
_ENTITY_NAME += r"[A-Z][\w&.'-]*(?:\s+[A-Z0-9][\w&.'-]*){0,3})"
_FACT_VERBS = (
    "uses|runs on|is written in|is built (?:on|with)|is hosted (?:on|at|in)|is deployed (?:on|to)|"
    "depends on|is owned by|is led by|is based in"
)
# Verbs with one value at a time: a new object replaces the old one ("runs on Postgres 16").
_SINGLE_VALUED = word_set(
    "runs_on is_written_in is_hosted_on is_hosted_at is_hosted_in is_owned_by is_led_by is_based_in "
    "is_deployed_on is_deployed_to"
)
_ENTITY_FACT = re.compile(
    rf"^(?P<name>{_ENTITY_NAME})\s+(?:now\s+|currently\s+|still\s+|also\s+)?(?P<verb>{_FACT_VERBS})\s+"
    r"(?P<obj>.+)$",
    re.I,
)
# "Falcon runs on X, and Falcon uses Y": a second named subject starts a second statement.
_ENTITY_STATEMENT_SPLIT = re.compile(
    rf",?\s+(?:and|but)\s+(?={_ENTITY_NAME}\s+(?:now\s+|also\s+)?(?:{_FACT_VERBS})\b)", re.I
)
_KINDS: dict[str, EntityType] = {
    **dict.fromkeys(["company", "startup", "firm", "vendor", "client", "customer", "agency"], "company"),
    **dict.fromkeys(
        ["project", "app", "application", "service", "library", "cli", "website", "repo", "api"], "project"
    ),
    **dict.fromkeys(["tool", "database", "framework", "platform", "system", "queue", "language"], "system"),
    **dict.fromkeys(["product"], "product"),
}
_ENTITY_KIND = re.compile(
    rf"^(?P<name>{_ENTITY_NAME})\s+is\s+(?:an?|our|my|the)\s+(?:[\w-]+\s+){{0,4}}?"
    rf"(?P<kind>{'|'.join(_KINDS)})\b",
    re.I,
)
_EMPLOYER = (
    re.compile(
        rf"\bI work (?:at|for)\s+(?P<company>{ORG})(?:\s+as (?:an?|the)\s+(?P<role>{ROLE}))?{CLAUSE_STOP}",
        re.I,
    ),
    re.compile(
        rf"\b(?:I'm|I am)\s+(?:{NAME},\s+)?(?:an?|the)\s+(?P<role>{ROLE})\s+(?:at|for)\s+"
        rf"(?P<company>{ORG}){CLAUSE_STOP}",
        re.I,
    ),
)
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH_NAME = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_EVENT_DATE = re.compile(
    rf"\b(?:on\s+)?(?P<date>yesterday|today|(?:last|this)\s+(?:{_WEEKDAY}|week|month)|\d+\s+(?:days?|weeks?)\s+ago|"
    rf"{_MONTH_NAME}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?"
    rf"{_MONTH_NAME}(?:\s+\d{{4}})?|\d{{4}}-\d{{2}}-\d{{2}})\b,?",
    re.I,
)
_EVENT = re.compile(
    r"^(?P<who>we|I|the team|our team)\s+(?:just\s+|finally\s+)?(?P<verb>launched|released|shipped|"
    r"deployed|migrated|signed|hired|closed|started|finished|completed|announced|moved|acquired|upgraded)\s+"
    rf"(?:the\s+)?(?P<name>{_ENTITY_NAME})(?P<rest>.*)$",
    re.I,
)
_WHO = {"we": "The user's team", "i": "The user", "the team": "The team", "our team": "The user's team"}


@dataclass
class EntityPlan:
    """Entity operations, each at most once, resolved against the shown entities."""

    shown: Sequence[ShownEntity]
    operations: list[EntityOperation] = field(default_factory=list)

    def entity(self, name: str) -> ShownEntity | None:
        key = normalised(name)
        return next((e for e in self.shown if key in {normalised(n) for n in (e.name, *e.aliases)}), None)

    def put(self, op: EntityOp, name: str, turn_index: int, **fields: Any) -> None:
        shown = self.entity(name)
        operation = EntityOperation.of(op, shown.name if shown else name, turn_index, **fields)
        key = (operation.op, normalised(operation.entity), normalised(operation.content or ""))
        if all((o.op, normalised(o.entity), normalised(o.content or "")) != key for o in self.operations):
            self.operations.append(operation)

    def fact(self, name: str, verb: str, obj: str, turn_index: int) -> None:
        """A new fact, a no-op when shown already, or the successor of the shown fact it changes."""
        content = as_sentence(f"{name} {verb.lower()} {obj}")
        shown = self.entity(name)
        for fact in shown.facts if shown else []:
            if normalised(fact.content) == normalised(content):
                return
            old = _ENTITY_FACT.match(fact.content.rstrip("."))
            if shown and shown.writable and old and _replaces(verb.lower(), obj, old):
                self.put("supersede_fact", name, turn_index, content=content, fact_id=fact.fact_id)
                return
        self.put("add_fact", name, turn_index, content=content)


def _replaces(verb: str, obj: str, old: re.Match[str]) -> bool:
    if old["verb"].lower() != verb or normalised(old["obj"]) == normalised(obj):
        return False
    same_thing = obj.split()[0].lower() == old["obj"].split()[0].lower()  # "Postgres 15" -> "Postgres 16"
    return verb.replace(" ", "_") in _SINGLE_VALUED or same_thing


def entity_operations(request: ExtractionRequest, turns: Sequence[UserTurn]) -> list[EntityOperation]:
    if not request.learn_entities:
        return []
    plan = EntityPlan(request.entities)
    for turn in turns:
        for sentence in turn.sentences:
            if not is_question(sentence):
                for clause in clauses(sentence):
                    for statement in _ENTITY_STATEMENT_SPLIT.split(clause):
                        _entity_clause(plan, statement.strip(" .!"), turn.turn_index)
    return plan.operations[:MAX_ENTITY_OPERATIONS]


def _entity_clause(plan: EntityPlan, clause: str, turn_index: int) -> None:
    for pattern in _EMPLOYER:
        if (m := pattern.search(clause)) and (company := m["company"].strip(" .,;:!?")):
            role = clip(m["role"] or "")
            plan.put("upsert", company, turn_index, entity_type="company")
            works = f"{company} employs the user" + (f" as {_article(role)} {role}" if role else "")
            plan.put("add_fact", company, turn_index, content=as_sentence(works))
            return
    if m := _ENTITY_KIND.match(clause):
        description = re.sub(r"\b(?:our|my)\b", "the user's", clip(clause), flags=re.I)
        kind = _KINDS[m["kind"].lower()]
        plan.put("upsert", m["name"], turn_index, entity_type=kind, description=as_sentence(description))
        return
    if (m := _ENTITY_FACT.match(clause)) and (obj := clip(m["obj"], lists=True)):
        plan.fact(m["name"], m["verb"], obj, turn_index)
        return
    if date := _EVENT_DATE.search(clause):
        undated = (clause[: date.start()] + " " + clause[date.end() :]).strip(" ,")
        if m := _EVENT.match(re.sub(r"\s+", " ", undated)):
            said = f"{_WHO[m['who'].lower()]} {m['verb'].lower()} {m['name']} {clip(m['rest'])}"
            plan.put("add_event", m["name"], turn_index, content=as_sentence(said), date_text=date["date"])


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
