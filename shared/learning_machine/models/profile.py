"""User profile: structured fields, standard and custom (JSON Schema in the tenant config)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..core.redaction import redact_text
from .common import utc_now
from .provenance import Provenance

# Standard fields every profile may hold; a tenant adds its own through `custom_schema`.
STANDARD_FIELDS: dict[str, str] = {
    "name": "Full name of the user",
    "preferred_name": "What the user likes to be called",
    "role": "Job title or role",
    "company": "Employer or organisation",
    "location": "City or country",
    "timezone": "IANA time zone or UTC offset",
    "language": "Preferred language for answers",
}


class UserProfile(BaseModel):
    user_id: str
    fields: dict[str, Any] = Field(default_factory=dict)
    field_provenance: dict[str, Provenance] = Field(default_factory=dict)
    version: int = 0
    updated_at: datetime = Field(default_factory=utc_now)


class ProfilePatch(BaseModel):
    """Set fields (a value) or remove them (null). Validated against the tenant's schema."""

    model_config = ConfigDict(extra="forbid")

    fields: dict[str, Any] = Field(min_length=1, max_length=64)

    @field_validator("fields")
    @classmethod
    def _redacted(cls, fields: dict[str, Any]) -> dict[str, Any]:
        # Text values only; numbers, booleans and null (remove) pass as they are.
        return {name: redact_text(v) if isinstance(v, str) else v for name, v in fields.items()}
