"""The JSON schema one extraction's reply is held to, narrowed to what this request allows.

It starts from ExtractionReply's schema (one object per operation, every field required) and
narrows it with what only the request knows, so that constrained decoding (llama.cpp's
`json_schema`, OpenAI's strict mode) cannot produce an operation the pipeline would refuse:
- `layer` lists only the enabled layers; `profile` has exactly the profile schema's fields, each a
  string or null (none when the profile is off), one of its options for a field with an enum;
- `memory_id` lists only the ids of the memories shown, `fact_id` only the shown writable facts
  (the short ids of shown_ids.py, which the prompt shows);
  without any, the update / delete / supersede variants are left out;
- a store that is off gets an empty list (`maxItems: 0`) or a null session; planning off makes
  goal null and plan / progress empty.
Every reply this schema admits also validates as an ExtractionReply (the narrowing only removes).

With `bounded_strings`, every free-text string also gets a `maxLength` (STRING_LIMITS), for servers
that decode under the schema: a small model that starts repeating itself inside a string ("AI
Assistant AI Assistant ...") is closed at the limit instead of running to the token cap. The same
flag bounds `turn_index` to the transcript's messages (a small model wrote indexes past its end)
and the memory and entity operations to a few per user message (OPERATIONS_PER_USER_MESSAGE),
and leaves out noop (KEEP_VARIANT), which a small model chose where the user retracted or changed
a shown memory.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from ..models.common import Role
from ..models.extraction import ENTITY_VARIANTS, MEMORY_VARIANTS, ExtractionReply, ExtractionRequest
from .shown_ids import ShownIds

Schema = dict[str, Any]
# Left out with bounded_strings: the local 1.5B model marked shown memories as confirmed where the
# user retracted one ("forget what I told you about my cats") or changed it, instead of deleting or
# updating it. The prompt still names noop, so that it stays the same: taking the sentence out
# changed that model's replies to unrelated transcripts too (7 beliefs lost elsewhere, step 14).
KEEP_VARIANT = MEMORY_VARIANTS["noop"].__name__
SCHEMA_NAME = "extraction_reply"
_NULL: Schema = {"type": "null"}
# Characters per free-text string with bounded_strings, by property name; list items and others
# get DEFAULT_STRING_LIMIT. Generous for what each holds: a sentence, a field value, a summary.
STRING_LIMITS: dict[str, int] = {
    "summary": 600,
    "content": 300,
    "goal": 200,
    "description": 200,
    "context": 200,
    "title": 100,
    "value": 100,
    "entity": 80,
    "target": 80,
    "date_text": 60,
    "relation": 40,
    "category": 40,
}
DEFAULT_STRING_LIMIT = 100
# With bounded_strings, also the operations a reply may hold per user message of the transcript
# (maxItems): a sentence rarely says more, and a small model that starts repeating operations ends.
OPERATIONS_PER_USER_MESSAGE = {"memory_operations": 4, "entity_operations": 6}
# The repair after a reply cut off at the token cap is held to fewer: one memory and one entity
# operation per user message and one insight. A model that ran to the cap once (the local 1.5B one
# repeating an operation with small changes) did so again under the same schema; with these bounds
# and the string limits, the longest reply the schema admits for a short transcript fits the cap.
COMPACT_OPERATIONS_PER_USER_MESSAGE = {"memory_operations": 1, "entity_operations": 1}
COMPACT_INSIGHTS = 1


@cache
def _base_schema() -> Schema:
    schema = ExtractionReply.model_json_schema()
    _drop_titles(schema)
    return schema


def reply_schema(request: ExtractionRequest, bounded_strings: bool = False, compact: bool = False) -> Schema:
    """The schema for this request's reply (a fresh dict: callers may keep or change it); `compact`
    for the repair of a reply cut off at the token cap (COMPACT_OPERATIONS_PER_USER_MESSAGE)."""
    schema = copy.deepcopy(_base_schema())
    defs: dict[str, Schema] = schema["$defs"]
    properties: dict[str, Schema] = schema["properties"]

    ids = ShownIds.of(request)
    shown_ids = list(ids.memories.values())
    if request.layers:
        defs["AddMemory"]["properties"]["layer"] = _enum([layer.value for layer in request.layers])
        by_id = {"UpdateMemory", "DeleteMemory", "KeepMemory"}
        for name in by_id:
            defs[name]["properties"]["memory_id"] = _enum(shown_ids) if shown_ids else _NULL
        allowed = [name for name in _variant_names(MEMORY_VARIANTS) if shown_ids or name not in by_id]
        if bounded_strings:
            allowed = [name for name in allowed if name != KEEP_VARIANT]
        properties["memory_operations"]["items"] = _one_of(allowed)
    else:
        _empty(properties["memory_operations"])

    fields = list(request.profile_schema) if request.learn_profile else []
    properties["profile"] = {
        "type": "object",
        "properties": {field: {"anyOf": [_field_value(request, field), _NULL]} for field in fields},
        "required": fields,
        "additionalProperties": False,
    }

    if request.learn_session:
        properties["session"] = {"$ref": "#/$defs/SessionUpdate"}
        if not request.planning:
            session = defs["SessionUpdate"]["properties"]
            session["goal"] = _NULL
            _empty(session["plan"])
            _empty(session["progress"])
    else:
        properties["session"] = _NULL

    fact_ids = [
        ids.fact(fact.fact_id) for entity in request.entities if entity.writable for fact in entity.facts
    ]
    if request.learn_entities:
        if fact_ids:
            defs["SupersedeFact"]["properties"]["fact_id"] = _enum(fact_ids)
        allowed = [name for name in _variant_names(ENTITY_VARIANTS) if fact_ids or name != "SupersedeFact"]
        properties["entity_operations"]["items"] = _one_of(allowed)
    else:
        _empty(properties["entity_operations"])

    if not request.learn_knowledge:
        _empty(properties["knowledge_operations"])
    _drop_unused_defs(schema)
    if bounded_strings:
        for definition in [schema, *defs.values()]:
            for name, child in definition.get("properties", {}).items():
                _bound_strings(child, STRING_LIMITS.get(name, DEFAULT_STRING_LIMIT))
        _bound_turns(schema, request)
    if bounded_strings or compact:
        _bound_lists(schema, request, compact)
    return schema


def _bound_turns(schema: Schema, request: ExtractionRequest) -> None:
    """turn_index within the transcript's messages."""
    last_turn = max((message.turn_index for message in request.messages), default=0)
    turn: Schema = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": last_turn}, _NULL]}
    for definition in schema["$defs"].values():
        if "turn_index" in definition.get("properties", {}):
            definition["properties"]["turn_index"] = copy.deepcopy(turn)


def _bound_lists(schema: Schema, request: ExtractionRequest, compact: bool) -> None:
    """At most a few operations per user message (fewer, and one insight, when compact)."""
    user_messages = max(1, sum(message.role == Role.USER for message in request.messages))
    properties = schema["properties"]
    bounds = COMPACT_OPERATIONS_PER_USER_MESSAGE if compact else OPERATIONS_PER_USER_MESSAGE
    limits = {name: per_message * user_messages for name, per_message in bounds.items()}
    if compact:
        limits["knowledge_operations"] = COMPACT_INSIGHTS
    for name, limit in limits.items():
        array = properties[name]
        array["maxItems"] = min(array.get("maxItems", limit), limit)


def _field_value(request: ExtractionRequest, field: str) -> Schema:
    """A field with options takes one of them (what the tenant's schema accepts); others any text."""
    options = request.profile_options.get(field)
    return _enum(options) if options else {"type": "string"}


def _bound_strings(node: Schema, limit: int) -> None:
    """maxLength on a free-text string (not an enum), inside anyOf and array items too."""
    if node.get("type") == "string" and "enum" not in node:
        node["maxLength"] = limit
    for name, child in node.get("properties", {}).items():  # the profile's fields: values
        _bound_strings(child, STRING_LIMITS.get(name, STRING_LIMITS["value"]))
    for child in node.get("anyOf", []):
        _bound_strings(child, limit)
    if isinstance(node.get("items"), dict):
        _bound_strings(node["items"], DEFAULT_STRING_LIMIT)


def _variant_names(variants: dict[str, type]) -> list[str]:
    return [variant.__name__ for variant in variants.values()]


def _enum(values: list[str]) -> Schema:
    return {"type": "string", "enum": list(dict.fromkeys(values))}


def _one_of(names: list[str]) -> Schema:
    refs = [{"$ref": f"#/$defs/{name}"} for name in names]
    return refs[0] if len(refs) == 1 else {"anyOf": refs}


def _empty(array: Schema) -> None:
    array["maxItems"] = 0


def _drop_titles(node: Any) -> None:
    """Titles only cost prompt tokens (json_object mode spells the schema out)."""
    if isinstance(node, dict):
        node.pop("title", None)
        for key, value in node.items():
            if key != "properties":
                _drop_titles(value)
            else:
                for child in value.values():
                    _drop_titles(child)
    elif isinstance(node, list):
        for child in node:
            _drop_titles(child)


def _drop_unused_defs(schema: Schema) -> None:
    """Definitions no longer referenced (a variant left out) go too: strict mode refuses none, but
    they would cost tokens wherever the schema is spelled out."""
    defs: dict[str, Schema] = schema["$defs"]
    used: set[str] = set()
    pending = [{key: value for key, value in schema.items() if key != "$defs"}]
    while pending:
        node = pending.pop()
        text_refs = _refs(node)
        for name in text_refs - used:
            used.add(name)
            pending.append(defs[name])
    for name in set(defs) - used:
        del defs[name]


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.add(ref.removeprefix("#/$defs/"))
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found
