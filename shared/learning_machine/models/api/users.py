"""The API's list of a tenant's users."""

from __future__ import annotations

from pydantic import BaseModel, Field


class UserPage(BaseModel):
    users: list[str]
    next_token: str | None = Field(default=None, description="Pass as ?after= for the next page")
