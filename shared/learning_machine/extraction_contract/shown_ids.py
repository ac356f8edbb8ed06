"""Short positional ids the model sees in place of stored ids: m1, m2 ... for memories, f1, f2 ...
for entity facts, numbered in the order the request shows them.

Stored ids are long and random (`new_id`): they cost about ten prompt tokens each, and they make
two extractions of the same transcript over the same memories differ in their prompt, so a small
model's greedy reply differs too. Positional ids are short and the same on every run. The prompt
and the reply schema use them; the adapter maps the reply's ids back to stored ids with `resolve`.
An id the mapping does not know stays as the model wrote it, so extraction's screen of invented
ids still reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..models.extraction import ExtractionRequest, ExtractionResult

MEMORY_PREFIX = "m"
FACT_PREFIX = "f"


@dataclass(frozen=True)
class ShownIds:
    memories: Mapping[str, str]  # stored id -> shown id
    facts: Mapping[str, str]

    @classmethod
    def of(cls, request: ExtractionRequest) -> ShownIds:
        """The memories of the enabled layers, and every shown entity's facts, in prompt order."""
        memory_ids = [memory.memory_id for memory in request.memories if memory.layer in request.layers]
        fact_ids = [fact.fact_id for entity in request.entities for fact in entity.facts]
        return cls(_numbered(memory_ids, MEMORY_PREFIX), _numbered(fact_ids, FACT_PREFIX))

    def memory(self, memory_id: str) -> str:
        return self.memories.get(memory_id, memory_id)

    def fact(self, fact_id: str) -> str:
        return self.facts.get(fact_id, fact_id)

    def resolve(self, result: ExtractionResult) -> ExtractionResult:
        """The reply with the stored ids back in place of the shown ones."""
        memories = {shown: stored for stored, shown in self.memories.items()}
        facts = {shown: stored for stored, shown in self.facts.items()}
        memory_ops = [
            op.model_copy(update={"memory_id": memories.get(op.memory_id, op.memory_id)})
            if op.memory_id
            else op
            for op in result.memory_operations
        ]
        entity_ops = [
            op.model_copy(update={"fact_id": facts.get(op.fact_id, op.fact_id)}) if op.fact_id else op
            for op in result.entity_operations
        ]
        return result.model_copy(update={"memory_operations": memory_ops, "entity_operations": entity_ops})


def _numbered(ids: list[str], prefix: str) -> dict[str, str]:
    unique = dict.fromkeys(ids)  # a repeated id keeps its first number
    return {stored: f"{prefix}{number}" for number, stored in enumerate(unique, start=1)}
