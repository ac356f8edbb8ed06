"""The rules every write to a user's memory follows, whoever makes it: extraction, the API, agent tools.

Memory ids, the stored text and category of a memory, its next version, profile field validation
and the next profile version, and the provenance stamped on each. Extraction (extraction/apply.py)
and direct edits (services/memory_admin.py) both build on these, so neither borrows from the other
and an edit is versioned exactly like a learned change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

from ..models.common import MAX_MEMORY_CHARS
from ..models.config import TenantConfig
from ..models.memories import Memory
from ..models.profile import STANDARD_FIELDS, UserProfile
from ..models.provenance import Provenance, Source
from .errors import InvalidInputError
from .ids import new_id

_CATEGORY = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+){0,3}$")


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


# --- memories -------------------------------------------------------------------------------


def new_memory_id() -> str:
    return new_id("m")


def memory_text(content: str) -> str:
    """A memory's text as stored: what its vector is computed from."""
    return content.strip()[:MAX_MEMORY_CHARS]


def clean_category(value: str | None) -> str | None:
    """A category as stored (lowercase, slashes, at most four levels), or None when it is not one."""
    if not value:
        return None
    candidate = value.strip().lower().replace(" ", "_")
    return candidate if _CATEGORY.match(candidate) else None


def revise(current: Memory, provenance: Provenance, **changes: Any) -> Memory:
    """The next version of a memory; the previous value goes to its history."""
    values = {k: v for k, v in changes.items() if v is not None}
    if "content" in values:
        values["content"] = memory_text(str(values["content"]))
    if "category" in values:
        values["category"] = clean_category(values["category"])
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


# --- profile fields -------------------------------------------------------------------------


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


class ProfileWriter(Protocol):
    """Where a profile change goes: the ChangeSet of the write in progress (stores/changes.py)."""

    def put_profile(self, current: UserProfile, updated: UserProfile, changed: dict[str, str]) -> None: ...


def apply_profile_changes(
    changes: ProfileWriter, profile: UserProfile, values: dict[str, tuple[Any, int | None]], origin: Origin
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
