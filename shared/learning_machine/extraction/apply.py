"""Turn the model's operations into one ChangeSet, refusing what the rules do not allow.

Everything the model proposes is checked against the current state and the tenant config:
unknown memory ids, disabled layers, fields outside the schema and values that fail it are
skipped (and reported), never applied half-way. How a memory or profile is written (ids, the
next version, field validation) is memory_rules', shared with direct edits (services/memory_admin.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..core.memory_rules import (
    FieldValueError,
    Origin,
    apply_profile_changes,
    clean_category,
    coerce_field,
    memory_text,
    new_memory_id,
    revise,
)
from ..models.common import Layer
from ..models.config import TenantConfig
from ..models.extraction import ExtractionResult, MemoryOperation, ProfileFieldUpdate
from ..models.memories import Memory
from ..models.profile import STANDARD_FIELDS, UserProfile
from ..models.sessions import SessionContext
from ..stores.changes import ChangeSet
from ..stores.user_memory import UserState

MAX_CONFIRMATIONS = 20
# A sentence about how the assistant should answer ("no emojis in your answers please", "prefers
# concise replies"). The local 1.5B model filed that one under profile at every prompt time tried
# (bench/learning_quality/README.md, step 16): such an add goes to policies, which the context
# block puts first, when the tenant has that layer.
_ABOUT_ANSWERS = re.compile(
    r"\b(?:your|in|the assistant'?s?)\s+(?:answers?|repl(?:y|ies)|responses?)\b"
    r"|\b(?:concise|short|brief|terse|detailed|long)\s+(?:answers?|repl(?:y|ies)|responses?|explanations?)\b",
    re.IGNORECASE,
)


def normalized(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def memory_texts(result: ExtractionResult) -> list[str]:
    """The texts the memory operations would write (adds and updates), to embed in one call."""
    return [
        memory_text(op.content)
        for op in result.memory_operations
        if op.op in ("add", "update") and op.content is not None
    ]


def layer_for(layer: Layer, content: str, enabled: set[Layer]) -> Layer:
    """The layer a model's new memory goes to: policies for one about how the assistant should
    answer that the model put under profile or knowledge (where policies are on); else its own."""
    if (
        layer in (Layer.PROFILE, Layer.KNOWLEDGE)
        and Layer.POLICIES in enabled
        and _ABOUT_ANSWERS.search(content)
    ):
        return Layer.POLICIES
    return layer


def profile_schema(config: TenantConfig) -> dict[str, str]:
    """Field name -> description, for the prompt and for validation."""
    fields = dict(STANDARD_FIELDS)
    custom = config.stores.user_profile.custom_schema or {}
    for name, spec in custom.get("properties", {}).items():
        fields[name] = str(spec.get("description") or spec.get("type") or "custom field")
    return fields


def profile_options(config: TenantConfig) -> dict[str, list[str]]:
    """The options of each custom field whose schema is an enum of strings: the model picks one."""
    custom = config.stores.user_profile.custom_schema or {}
    options: dict[str, list[str]] = {}
    for name, spec in custom.get("properties", {}).items():
        enum = spec.get("enum") if isinstance(spec, dict) else None
        if isinstance(enum, list) and enum and all(isinstance(value, str) for value in enum):
            options[name] = list(enum)
    return options


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
            layer = layer_for(op.layer, op.content, layers)
            key = (layer, normalized(op.content))
            if layer not in layers:
                plan.skipped.append(f"add to disabled layer {layer.value}")
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
                        layer=layer,
                        category=clean_category(op.category),
                        content=memory_text(op.content),
                        polarity=op.polarity if layer == Layer.FEEDBACK else None,
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
