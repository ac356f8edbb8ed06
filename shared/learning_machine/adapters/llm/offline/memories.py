"""Consolidation: slots say which statements replace one another; memory and profile operations."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ....models.common import Layer
from ....models.extraction import (
    MAX_MEMORY_OPERATIONS,
    MAX_PROFILE_UPDATES,
    ExtractionRequest,
    MemoryOperation,
    ProfileFieldUpdate,
)
from ....models.memories import Memory
from .rules import (
    ANSWER_NOUN,
    CHANNEL,
    CONCISE,
    DETAILED,
    PROJECT_STATUS,
    PROJECT_VERBS,
    Fact,
    FieldValue,
    Finding,
    Forget,
)
from .text import LANGUAGE, near_duplicate, stems, third_person

FORGET_COVERAGE = 0.75  # share of the "forget that ..." words found in the memory


Slot = tuple[str, frozenset[str]]
OperationKind = Literal["add", "update", "delete", "noop"]

_SLOTS: tuple[tuple[Layer, str, re.Pattern[str]], ...] = (
    (
        Layer.POLICIES,
        "answer_length",
        re.compile(rf"{CONCISE}.*{ANSWER_NOUN}|{DETAILED}.*{ANSWER_NOUN}|\bbe (?:concise|brief)\b", re.I),
    ),
    (
        Layer.POLICIES,
        "language",
        re.compile(
            rf"^(?=.*\b{LANGUAGE}\b)(?=.*\b(?:answer|respon|repl|writ|speak|language|communicat)\w*)", re.I
        ),
    ),
    (Layer.POLICIES, "contact", re.compile(rf"^(?=.*\b(?:contact|reach)\w*)(?=.*{CHANNEL})", re.I)),
    (
        Layer.POLICIES,
        "choice",
        re.compile(r"^Prefers (?P<key>.+? (?:over|rather than|instead of) .+?)\.?$", re.I),
    ),
    (
        Layer.POLICIES,
        "rule",
        re.compile(
            r"^(?:Wants the assistant to (?:always|never)|Does not want the assistant to) (?P<key>.+?)\.?$",
            re.I,
        ),
    ),
    (
        Layer.KNOWLEDGE,
        "project",
        re.compile(
            r"\b(?:is|are|has|have)\s+(?:been\s+)?(?:"
            + "|".join([*PROJECT_VERBS, *PROJECT_STATUS])
            + r")\s+(?P<key>.+?)\.?$",
            re.I,
        ),
    ),
    (Layer.KNOWLEDGE, "stack", re.compile(r"\bstack\b", re.I)),
    (
        Layer.PROFILE,
        "experience",
        re.compile(r"\byears? of experience (?:in|with|as|doing)\s+(?P<key>.+?)\.?$", re.I),
    ),
)


def slot(layer: Layer, content: str) -> Slot | None:
    for slot_layer, family, pattern in _SLOTS:
        match = pattern.search(content) if slot_layer == layer else None
        if match:
            return family, _slot_key(family, match.groupdict().get("key") or "")
    return None


def _slot_key(family: str, text: str) -> frozenset[str]:
    if family == "choice":  # either order of the two options is the same choice
        text = re.sub(r"\b(?:over|rather than|instead of)\b", " ", text, flags=re.I)
    if family == "project":  # "a Rust CLI called ferrite" is known by its name
        named = re.search(r"\b(?:called|named)\s+(\S+)", text, re.I)
        text = named.group(1) if named else text
    return frozenset(stems(text))


def same_slot(a: Slot | None, b: Slot | None) -> bool:
    if a is None or b is None or a[0] != b[0]:
        return False
    if a[0] == "project":  # "ferrite" and "the ferrite CLI" are the same project
        return bool(a[1] and b[1]) and (a[1] <= b[1] or b[1] <= a[1])
    return a[1] == b[1]


def forget_score(target: str, content: str) -> float:
    wanted = set(stems(third_person(target)))
    return len(wanted & set(stems(content))) / len(wanted) if wanted else 0.0


@dataclass
class MemoryPlan:
    """Operations in the order they were decided; a later statement on the same memory wins."""

    existing: list[Memory]
    operations: list[MemoryOperation] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)

    def live(self) -> list[Memory]:
        return [m for m in self.existing if m.memory_id not in self.deleted]

    def put(self, operation: MemoryOperation) -> None:
        for index, current in enumerate(self.operations):
            if operation.memory_id and current.memory_id == operation.memory_id:
                self.operations[index] = operation
                return
        self.operations.append(operation)

    def forget(self, target: str, turn_index: int) -> None:
        candidates = [(forget_score(target, m.content), m.memory_id) for m in self.live()]
        score, memory_id = max(candidates, default=(0.0, ""))
        if score >= FORGET_COVERAGE:
            self.deleted.add(memory_id)
            self.put(_operation("delete", memory_id=memory_id, turn_index=turn_index))
        # A statement made earlier in this same transcript is forgotten too.
        self.operations = [
            op
            for op in self.operations
            if not (op.op == "add" and op.content and forget_score(target, op.content) >= FORGET_COVERAGE)
        ]

    def learn(self, fact: Fact, turn_index: int) -> None:
        same = [m for m in self.live() if m.layer == fact.layer]
        pending = [op for op in self.operations if op.op == "add" and op.layer == fact.layer]
        fact_slot = slot(fact.layer, fact.content)
        duplicate = next((m for m in same if near_duplicate(fact.content, m.content)), None)
        if duplicate:
            self.put(_operation("noop", memory_id=duplicate.memory_id))
        elif any(near_duplicate(fact.content, op.content or "") for op in pending):
            return
        elif target := next((m for m in same if same_slot(fact_slot, slot(m.layer, m.content))), None):
            self.put(_operation("update", fact, memory_id=target.memory_id, turn_index=turn_index))
        elif earlier := next(
            (op for op in pending if same_slot(fact_slot, slot(fact.layer, op.content or ""))), None
        ):
            self.operations[self.operations.index(earlier)] = _operation("add", fact, turn_index=turn_index)
        else:
            self.operations.append(_operation("add", fact, turn_index=turn_index))

    def result(self) -> list[MemoryOperation]:
        """Within the schema's cap; no-ops are the first to go, as they change nothing."""
        operations = self.operations
        if len(operations) > MAX_MEMORY_OPERATIONS:
            operations = [op for op in operations if op.op != "noop"]
        return operations[:MAX_MEMORY_OPERATIONS]


def _operation(
    op: OperationKind, fact: Fact | None = None, memory_id: str | None = None, turn_index: int | None = None
) -> MemoryOperation:
    return MemoryOperation(
        op=op,
        memory_id=memory_id,
        layer=fact.layer if fact else None,
        category=fact.category if fact else None,
        content=fact.content if fact else None,
        polarity=fact.polarity if fact else None,
        turn_index=turn_index,
    )


def memory_operations(
    request: ExtractionRequest, found: Sequence[tuple[Finding, int]]
) -> list[MemoryOperation]:
    layers = set(request.layers)
    plan = MemoryPlan([m for m in request.memories if m.layer in layers])
    for finding, turn_index in found:
        if isinstance(finding, Forget):
            plan.forget(finding.target, turn_index)
        elif isinstance(finding, Fact) and finding.layer in layers:
            plan.learn(finding, turn_index)
    return plan.result()


def profile_updates(
    request: ExtractionRequest, found: Sequence[tuple[Finding, int]]
) -> list[ProfileFieldUpdate]:
    if not request.learn_profile:
        return []
    latest: dict[str, ProfileFieldUpdate] = {}
    for finding, turn_index in found:
        for item in _field_values(finding, request.profile_fields):
            if item.field in request.profile_schema:
                latest.pop(item.field, None)  # re-insert: the order follows the last statement
                latest[item.field] = ProfileFieldUpdate(
                    field=item.field, value=item.value, turn_index=turn_index
                )
    changed = [u for u in latest.values() if not _unchanged(u, request.profile_fields.get(u.field))]
    return changed[:MAX_PROFILE_UPDATES]


def _field_values(finding: Finding, current: dict[str, object]) -> list[FieldValue]:
    if isinstance(finding, FieldValue):
        return [finding]
    if isinstance(finding, Forget):  # "forget that I live in Lisbon" removes the field holding Lisbon
        return [
            FieldValue(name, None)
            for name, value in current.items()
            if isinstance(value, str)
            and value
            and re.search(rf"\b{re.escape(value)}\b", finding.target, re.I)
        ]
    return []


def _unchanged(update: ProfileFieldUpdate, current: object) -> bool:
    if update.value is None:
        return current is None
    if not isinstance(current, str):
        return False
    if update.field == "name":  # "I'm Dana" does not shorten a known "Dana Whitfield"
        return current.lower().split()[: len(update.value.split())] == update.value.lower().split()
    return current.strip().lower() == update.value.strip().lower()
