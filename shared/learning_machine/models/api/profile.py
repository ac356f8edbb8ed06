"""The API's user profile: structured fields and where each value came from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from .. import profile as stored
from ..common import utc_now
from . import View
from .provenance import Provenance


class UserProfile(View[stored.UserProfile]):
    user_id: str
    fields: dict[str, Any] = Field(default_factory=dict)
    field_provenance: dict[str, Provenance] = Field(default_factory=dict)
    version: int = 0
    updated_at: datetime = Field(default_factory=utc_now)
