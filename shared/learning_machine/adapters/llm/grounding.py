"""Grounding: a memory or entity fact a model proposes must come from what the user said.

Why: a small model (the local 1.5B one) invents. It writes facts from the prompt's own wording,
from the assistant's messages (a suggestion is not a fact about the user), or from what it knows
of an entity ("A SQL join combines rows ..."), and the store would keep them as beliefs. So before
anything is applied, each memory and entity operation is checked against the user's messages of
the transcript, never the assistant's:
- a memory add or update is grounded when at least half of its content words (words of 4+
  letters or with a digit, outside FRAMING_WORDS, compared on their first STEM letters; a text of
  short words only, "UTC", is its words) were said by the user; an update may also use the words
  of the shown memory it corrects; deletes and noops carry no text and pass (their ids are
  checked in the pipeline);
- an entity operation needs the entity's name said by the user (every word of it), and its text
  (a fact, an event, a relation's target) grounded the same way (a supersede_fact may also use the
  words of the fact it replaces); an upsert whose description is not grounded keeps its name and
  type and loses the description;
- a profile value needs at least half of its words said by the user (all its words: a name or a
  city is short); a value that is only placeholders is no value (the model copied a redaction into
  every field), and "User" in every field is not the user's name; a value an earlier field of the
  same reply holds is a copy (a preferred name aside). A field with options and a
  true / false value are left to the schema and the validator (the user rarely says the option);
- a redacted placeholder (`[REDACTED:password]`) grounds nothing.
What is screened out is not applied: it is reported, one short line each, as the reply's `held`.
"""

from __future__ import annotations

import re

from ...core.redaction import PLACEHOLDER
from ...models.common import Role
from ...models.extraction import (
    EntityOperation,
    ExtractionRequest,
    MemoryOperation,
    ModelReply,
    ProfileFieldUpdate,
)

STEM = 5
GROUNDED_SHARE = 0.5
_WORD = re.compile(r"[a-z0-9]+")
# Words a memory uses to frame what the user said ("The user prefers ...", "... their answers"):
# they ground nothing and need no grounding.
FRAMING_WORDS = frozenset(
    """
    user users their they them that this these those with from have has had been being about
    into when what which would should could will also only more most some such than then there very
    just like likes liked prefers prefer preferred wants want wanted wish wishes does doing done make
    makes made uses using used currently assistant answers answer responses response reply replies
    always never other every each thing things something""".split()
)
_HELD_TEXT = 60
NAME_PAIR = ("name", "preferred_name")


def user_words(request: ExtractionRequest) -> set[str]:
    """The stems of every word the user said in this transcript, placeholders left out."""
    return _stems(" ".join(m.content for m in request.messages if m.role == Role.USER))


def _stems(text: str) -> set[str]:
    return {word[:STEM] for word in _WORD.findall(PLACEHOLDER.sub(" ", text).lower())}


def content_words(text: str) -> list[str]:
    """Words of 4+ letters or with a digit, outside FRAMING_WORDS; for a text of short words only
    ("UTC", "ISO"), each of its words of 2+ letters."""
    words = [w for w in _WORD.findall(PLACEHOLDER.sub(" ", text).lower()) if w not in FRAMING_WORDS]
    long = [w for w in words if len(w) >= 4 or any(c.isdigit() for c in w)]
    return long or [w for w in words if len(w) >= 2]


def grounded(text: str, said: set[str]) -> bool:
    """At least half of the text's content words were said (a text with none invents nothing)."""
    words = content_words(text)
    return not words or sum(word[:STEM] in said for word in words) >= GROUNDED_SHARE * len(words)


def named(name: str, said: set[str], shown: dict[str, list[str]] | None = None) -> bool:
    """Every word of the name was said ("Acme Corp": acme and corp), or of one of its names when
    the prompt showed the entity (the user says "Acme", the model writes the shown "Acme Corp");
    a placeholder is no name."""
    names = [name, *(shown or {}).get(_key(name), [])]
    return any(_all_said(candidate, said) for candidate in names)


def _all_said(name: str, said: set[str]) -> bool:
    words = _words(name)
    return bool(words) and all(word[:STEM] in said for word in words)


def _words(text: str) -> list[str]:
    """The text's words, placeholders left out."""
    return _WORD.findall(PLACEHOLDER.sub(" ", text).lower())


def _key(name: str) -> str:
    return " ".join(_WORD.findall(name.lower()))


def shown_names(request: ExtractionRequest) -> dict[str, list[str]]:
    """Each shown entity's names (name and aliases), under each of them."""
    names: dict[str, list[str]] = {}
    for entity in request.entities:
        every = [entity.name, *entity.aliases]
        for one in every:
            names[_key(one)] = every
    return names


def screen_ungrounded(reply: ModelReply, request: ExtractionRequest) -> ModelReply:
    """The reply without the memory and entity operations the user's words do not support."""
    said = user_words(request)
    shown = shown_names(request)
    # An update or a supersede may also keep words of what it replaces (itself learned earlier).
    memories = {m.memory_id: _stems(m.content) for m in request.memories}
    facts = {fact.fact_id: _stems(fact.content) for entity in request.entities for fact in entity.facts}
    held: list[str] = []
    memory_ops: list[MemoryOperation] = []
    for op in reply.result.memory_operations:
        replaced = memories.get(op.memory_id or "", set()) if op.op == "update" else set()
        if op.content is not None and not grounded(op.content, said | replaced):
            held.append(f"{op.op} of a memory the user did not say: {_clip(op.content)!r}")
        else:
            memory_ops.append(op)
    entity_ops: list[EntityOperation] = []
    for entity_op in reply.result.entity_operations:
        replaced = facts.get(entity_op.fact_id or "", set()) if entity_op.op == "supersede_fact" else set()
        reason = _entity_reason(entity_op, said, shown, replaced)
        if reason:
            held.append(f"entity {entity_op.op} on {_clip(entity_op.entity)!r}: {reason}")
        elif entity_op.description and not grounded(entity_op.description, said):
            held.append(f"description of {_clip(entity_op.entity)!r} the user did not say")
            entity_ops.append(entity_op.model_copy(update={"description": None}))
        else:
            entity_ops.append(entity_op)
    profile_updates: list[ProfileFieldUpdate] = []
    for update in reply.result.profile_updates:
        reason = _profile_reason(update, said, request) or _copied_down(update, profile_updates)
        if reason:
            held.append(f"profile {update.field}: {reason}")
        else:
            profile_updates.append(update)
    if not held:
        return reply
    result = reply.result.model_copy(
        update={
            "memory_operations": memory_ops,
            "entity_operations": entity_ops,
            "profile_updates": profile_updates,
        }
    )
    return reply.model_copy(update={"result": result, "held": [*reply.held, *held]})


def _profile_reason(update: ProfileFieldUpdate, said: set[str], request: ExtractionRequest) -> str | None:
    value = update.value
    if value is None or update.field in request.profile_options or value.lower() in ("true", "false"):
        return None
    words = _words(value)
    if not words:
        return f"a redacted value, not the user's {update.field}"
    if sum(word[:STEM] in said for word in words) < GROUNDED_SHARE * len(words):
        return f"a value the user did not say: {_clip(value)!r}"
    return None


def _copied_down(update: ProfileFieldUpdate, kept: list[ProfileFieldUpdate]) -> str | None:
    """A value an earlier field of the reply already holds: the small model copies a stated value
    down the slots ("company: Finch Labs", then "location: Finch Labs"). A preferred name may be
    the name."""
    value = _key(str(update.value))
    for earlier in kept:
        if _key(str(earlier.value)) == value and (earlier.field, update.field) != NAME_PAIR:
            return f"the value of {earlier.field} again"
    return None


def _entity_reason(
    op: EntityOperation, said: set[str], shown: dict[str, list[str]], replaced: set[str]
) -> str | None:
    if not named(op.entity, said, shown):
        return "the user did not name it"
    if op.content is not None and not grounded(op.content, said | replaced):
        return f"a {'fact' if op.op != 'add_event' else 'event'} the user did not say: {_clip(op.content)!r}"
    if op.target is not None and not named(op.target, said, shown):
        return f"the user did not name {_clip(op.target)!r}"
    return None


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _HELD_TEXT else text[: _HELD_TEXT - 1] + "…"
