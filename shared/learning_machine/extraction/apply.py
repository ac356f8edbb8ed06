"""Turn the model's operations into one ChangeSet, refusing what the rules do not allow.

Everything the model proposes is checked against the current state and the tenant config:
unknown memory ids, disabled layers, fields outside the schema and values that fail it are
skipped (and reported), never applied half-way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

from ..domain_errors import InvalidInputError
from ..ids import new_id
from ..models.common import MAX_MEMORY_CHARS, Layer
from ..models.config import TenantConfig
from ..models.extraction import ExtractionResult, MemoryOperation, ProfileFieldUpdate
from ..models.memories import Memory, Provenance, Source
from ..models.profile import STANDARD_FIELDS, UserProfile
from ..models.sessions import SessionContext
from ..stores.changes import ChangeSet
from ..stores.user_memory import UserState

MAX_CONFIRMATIONS = 20
_CATEGORY = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+){0,3}$")


def new_memory_id() -> str:
    return new_id("m")


def normalized(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def memory_text(content: str) -> str:
    """A memory's text as stored: what its vector is computed from."""
    return content.strip()[:MAX_MEMORY_CHARS]


def memory_texts(result: ExtractionResult) -> list[str]:
    """The texts the memory operations would write (adds and updates), to embed in one call."""
    return [
        memory_text(op.content)
        for op in result.memory_operations
        if op.op in ("add", "update") and op.content is not None
    ]


def profile_schema(config: TenantConfig) -> dict[str, str]:
    """Field name -> description, for the prompt and for validation."""
    fields = dict(STANDARD_FIELDS)
    custom = config.stores.user_profile.custom_schema or {}
    for name, spec in custom.get("properties", {}).items():
        fields[name] = str(spec.get("description") or spec.get("type") or "custom field")
    return fields


class FieldValueError(InvalidInputError, ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field_name = field_name
        self.argument = f"fields.{field_name}"


def coerce_field(config: TenantConfig, name: str, value: Any) -> Any:
    """Check one profile value against the standard fields or the tenant's custom schema."""
    if value is None:
        return None
    if name in STANDARD_FIELDS:
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise FieldValueError(name, "must be a non-empty string of at most 200 characters")
        return value.strip()
    custom = config.stores.user_profile.custom_schema or {}
    spec = custom.get("properties", {}).get(name)
    if spec is None:
        raise FieldValueError(name, "is not a field of the profile schema")
    if isinstance(value, str) and spec.get("type") not in (None, "string"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise FieldValueError(name, f"must be {spec.get('type')}") from error
    try:
        validate(event=value, schema=spec)
    except SchemaValidationError as error:
        raise FieldValueError(name, str(error.message or "does not match the schema")) from error
    return value


@dataclass
class Origin:
    """Where the changes come from, stamped on every memory version as provenance."""

    source: Source
    transcript_id: str | None = None
    model: str | None = None
    at: datetime | None = None

    def provenance(self, turn_index: int | None = None) -> Provenance:
        extra = {"recorded_at": self.at} if self.at else {}
        return Provenance(
            source=self.source,
            transcript_id=self.transcript_id,
            turn_index=turn_index,
            model=self.model,
            **extra,
        )


@dataclass
class Plan:
    changes: ChangeSet
    skipped: list[str] = field(default_factory=list)


def plan_extraction(
    result: ExtractionResult,
    *,
    changes: ChangeSet,
    state: UserState,
    session: SessionContext | None,
    session_id: str,
    config: TenantConfig,
    origin: Origin,
) -> Plan:
    plan = Plan(changes=changes)
    profile_store = config.stores.user_profile
    if profile_store.always:
        _plan_memories(plan, result.memory_operations, state, set(profile_store.enabled_layers()), origin)
        _plan_profile(plan, result.profile_updates, state.profile, config, origin)
    session_store = config.stores.session_context
    if session_store.always and result.session is not None:
        updated = SessionContext(
            session_id=session_id,
            user_id=changes.user,
            summary=result.session.summary.strip()[:4_000],
            goal=result.session.goal if session_store.planning else None,
            plan=result.session.plan[:30] if session_store.planning else [],
            progress=result.session.progress[:30] if session_store.planning else [],
            version=(session.version if session else 0) + 1,
            last_transcript_id=origin.transcript_id,
        )
        changes.put_session(session, updated)
    return plan


def _plan_memories(
    plan: Plan, operations: list[MemoryOperation], state: UserState, layers: set[Layer], origin: Origin
) -> None:
    touched: set[str] = set()
    existing = {(m.layer, normalized(m.content)): m for m in state.memories}
    seen = set(existing)
    confirmed: dict[str, Memory] = {}
    for op in operations:
        if op.op == "noop":
            current = state.memory(op.memory_id or "")
            if current is not None:
                confirmed[current.memory_id] = current
            continue
        if op.op == "add":
            assert op.layer is not None and op.content is not None  # guaranteed by the model validator
            key = (op.layer, normalized(op.content))
            if op.layer not in layers:
                plan.skipped.append(f"add to disabled layer {op.layer.value}")
            elif key in seen:
                plan.skipped.append("add of a memory that already exists")
                if key in existing:
                    confirmed[existing[key].memory_id] = existing[key]
            else:
                seen.add(key)
                plan.changes.add_memory(
                    Memory(
                        memory_id=new_memory_id(),
                        user_id=plan.changes.user,
                        layer=op.layer,
                        category=_category(op.category),
                        content=memory_text(op.content),
                        polarity=op.polarity if op.layer == Layer.FEEDBACK else None,
                        provenance=origin.provenance(op.turn_index),
                    )
                )
            continue
        current = state.memory(op.memory_id or "")
        if current is None or current.memory_id in touched:
            plan.skipped.append(f"{op.op} of unknown or already changed memory {op.memory_id}")
            continue
        touched.add(current.memory_id)
        if op.op == "delete":
            plan.changes.delete_memory(current, origin.provenance(op.turn_index))
            continue
        updated = revise(
            current,
            origin.provenance(op.turn_index),
            content=op.content,
            layer=op.layer,
            category=op.category,
            polarity=op.polarity,
        )
        if updated.layer not in layers:
            plan.skipped.append(f"update into disabled layer {updated.layer.value}")
        elif updated.content == current.content and updated.layer == current.layer:
            plan.skipped.append(f"update of {current.memory_id} without change")
        else:
            plan.changes.update_memory(current, updated)
    # A restated memory counts as confirmed (curation prunes the least confirmed first); capped so
    # one transcript cannot fill the transaction with confirmations.
    at = origin.provenance().recorded_at
    for memory in [m for m in confirmed.values() if m.memory_id not in touched][:MAX_CONFIRMATIONS]:
        plan.changes.confirm_memory(memory, at)


def revise(current: Memory, provenance: Provenance, **changes: Any) -> Memory:
    """The next version of a memory; the previous value goes to its history."""
    values = {k: v for k, v in changes.items() if v is not None}
    if "content" in values:
        values["content"] = memory_text(str(values["content"]))
    if "category" in values:
        values["category"] = _category(values["category"])
    now = provenance.recorded_at
    return current.model_copy(
        update={
            **values,
            "version": current.version + 1,
            "updated_at": now,
            "valid_from": now,
            "provenance": provenance,
        }
    )


def _plan_profile(
    plan: Plan, updates: list[ProfileFieldUpdate], profile: UserProfile, config: TenantConfig, origin: Origin
) -> None:
    changed: dict[str, Any] = {}
    for update in updates:
        try:
            changed[update.field] = (coerce_field(config, update.field, update.value), update.turn_index)
        except FieldValueError as error:
            plan.skipped.append(f"profile field {error}")
    apply_profile_changes(plan.changes, profile, changed, origin)


def apply_profile_changes(
    changes: ChangeSet, profile: UserProfile, values: dict[str, tuple[Any, int | None]], origin: Origin
) -> UserProfile | None:
    """Set (or, for None, remove) validated fields; writes nothing when nothing changes."""
    fields = dict(profile.fields)
    sources = dict(profile.field_provenance)
    actions: dict[str, str] = {}
    for name, (value, turn) in values.items():
        if value is None and name in fields:
            del fields[name]
            sources.pop(name, None)
            actions[name] = "unset"
        elif value is not None and fields.get(name) != value:
            fields[name] = value
            sources[name] = origin.provenance(turn)
            actions[name] = "set"
    if not actions:
        return None
    updated = profile.model_copy(
        update={
            "fields": fields,
            "field_provenance": sources,
            "version": profile.version + 1,
            "updated_at": origin.provenance().recorded_at,
        }
    )
    changes.put_profile(profile, updated, actions)
    return updated


def _category(value: str | None) -> str | None:
    if not value:
        return None
    candidate = value.strip().lower().replace(" ", "_")
    return candidate if _CATEGORY.match(candidate) else None
