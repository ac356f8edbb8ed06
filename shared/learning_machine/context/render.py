"""Render learned memory as XML sections under a token budget.

Values are escaped and flattened to one line, so stored text can never close a section,
open a new one or fake a line of structure. Empty sections are omitted. When the budget is
tight, the least relevant items are dropped first: profile fields, then the session, then
memories in ranked order (policies carry the most weight).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape

from ..adapters.index.base import IndexHit
from ..core.ranking import estimate_tokens, take_within_budget
from ..models.common import Layer
from ..models.memories import Memory
from ..models.sessions import SessionContext

SECTION_FOR_LAYER = {
    Layer.PROFILE: "user_profile",
    Layer.POLICIES: "user_policies",
    Layer.KNOWLEDGE: "user_knowledge",
    Layer.FEEDBACK: "user_feedback",
}
SECTION_ORDER = [
    "user_profile",
    "user_policies",
    "user_knowledge",
    "user_feedback",
    "session_context",
    "entities",
    "learned_knowledge",
]
# Opening and closing tags of one section, counted once per section that appears.
SECTION_OVERHEAD = 10


def inert(value: Any) -> str:
    """One escaped line: no markup, no line breaks."""
    return escape(" ".join(str(value).split()))


@dataclass
class Line:
    section: str
    text: str
    memory: Memory | None = None
    field_name: str | None = None
    hit: IndexHit | None = None
    tokens: int = -1  # the line's cost with its line break; counted from the text when not given

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = estimate_tokens(self.text) + 1


@dataclass
class Rendered:
    xml: str
    tokens: int
    kept_memories: list[Memory] = field(default_factory=list)
    kept_fields: dict[str, Any] = field(default_factory=dict)
    kept_hits: list[IndexHit] = field(default_factory=list)
    session_kept: bool = False
    dropped: int = 0


def profile_lines(fields: dict[str, Any]) -> list[Line]:
    return [
        Line("user_profile", f"{inert(name)}: {inert(value)}", field_name=name)
        for name, value in sorted(fields.items())
    ]


def memory_line(memory: Memory) -> Line:
    text, tokens = _memory_text(memory.content, memory.category, memory.polarity)
    return Line(SECTION_FOR_LAYER[memory.layer], text, memory, tokens=tokens)


# Memory lines rendered per container (warm Lambda): every get-context renders every memory of the
# user to fit the budget, and a line depends only on these texts. Keyed by them.
MEMORY_LINES_PER_CONTAINER = 8192


@lru_cache(maxsize=MEMORY_LINES_PER_CONTAINER)
def _memory_text(content: str, category: str | None, polarity: str | None) -> tuple[str, int]:
    """A memory's line and its cost in tokens."""
    prefix = f"[{inert(category)}] " if category else ""
    if polarity:
        prefix = f"({polarity}) {prefix}"
    text = f"- {prefix}{inert(content)}"
    return text, estimate_tokens(text) + 1


def session_lines(session: SessionContext) -> list[Line]:
    lines = []
    if session.summary:
        lines.append(Line("session_context", f"summary: {inert(session.summary)}"))
    if session.goal:
        lines.append(Line("session_context", f"goal: {inert(session.goal)}"))
    if session.plan:
        steps = "; ".join(f"{i}. {inert(step)}" for i, step in enumerate(session.plan, 1))
        lines.append(Line("session_context", f"plan: {steps}"))
    if session.progress:
        lines.append(Line("session_context", f"done: {'; '.join(inert(step) for step in session.progress)}"))
    return lines


def hit_line(hit: IndexHit) -> Line:
    """An entity with its latest facts, or an insight with its title."""
    payload = hit.payload
    if hit.kind == "entity":
        facts = "; ".join(inert(fact) for fact in payload.get("facts") or [])
        kind = inert(payload.get("entity_type") or "other")
        return Line(
            "entities", f"- {inert(payload['name'])} ({kind})" + (f": {facts}" if facts else ""), hit=hit
        )
    return Line("learned_knowledge", f"- {inert(payload['title'])}: {inert(payload['content'])}", hit=hit)


def render(
    fields: dict[str, Any],
    ranked_memories: Sequence[Memory],
    session: SessionContext | None,
    max_tokens: int,
    hits: Sequence[IndexHit] = (),
) -> Rendered:
    """Fit profile fields, session, ranked memories and index hits into `max_tokens`, then render."""
    candidates = [
        *profile_lines(fields),
        *(session_lines(session) if session else []),
        *(memory_line(m) for m in ranked_memories),
        *(hit_line(h) for h in hits),
    ]
    budget = max_tokens - SECTION_OVERHEAD * len({line.section for line in candidates})
    kept, dropped = take_within_budget(candidates, max(budget, 0), lambda line: line.tokens)
    sections: dict[str, list[str]] = {}
    for line in kept:
        sections.setdefault(line.section, []).append(line.text)
    blocks = [
        f"<{name}>\n" + "\n".join(sections[name]) + f"\n</{name}>"
        for name in SECTION_ORDER
        if name in sections
    ]
    xml = "\n".join(blocks)
    return Rendered(
        xml=xml,
        tokens=estimate_tokens(xml),
        kept_memories=[line.memory for line in kept if line.memory is not None],
        kept_fields={line.field_name: fields[line.field_name] for line in kept if line.field_name},
        kept_hits=[line.hit for line in kept if line.hit is not None],
        session_kept=any(line.section == "session_context" for line in kept),
        dropped=dropped,
    )
