"""The API's entity memory: entities with their facts and events, and the edges between them."""

from __future__ import annotations

import datetime as dt
from datetime import datetime

from pydantic import BaseModel, Field

from .. import entities as stored
from ..common import utc_now
from . import View
from .provenance import MergedItem, Provenance


class Fact(View[stored.Fact]):
    fact_id: str
    content: str
    valid_from: datetime = Field(default_factory=utc_now)
    valid_to: datetime | None = None
    superseded_by: str | None = None
    provenance: Provenance

    @property
    def current(self) -> bool:
        return self.valid_to is None


class Event(View[stored.Event]):
    event_id: str
    content: str
    date_text: str | None = Field(default=None, description="The date as given, e.g. 'last Friday'")
    date: dt.date | None = Field(default=None, description="Resolved against the transcript's time")
    provenance: Provenance


class Entity(View[stored.Entity]):
    entity_id: str
    namespace: str = Field(description="Resolved namespace: 'global', a named one, or 'user:<user_id>'")
    name: str
    entity_type: stored.EntityType = "other"
    aliases: list[str] = Field(default_factory=list)
    description: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)
    facts: list[Fact] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    merged: list[MergedItem] = Field(default_factory=list, description="Duplicate entities merged into it")
    version: int = 1
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    # The stored entity's readers, kept for the client's users.
    def names(self) -> list[str]:
        return [self.name, *self.aliases]

    def current_facts(self) -> list[Fact]:
        return [fact for fact in self.facts if fact.current]


class Relationship(View[stored.Relationship]):
    source_id: str
    relation: str
    target_id: str
    source_name: str
    target_name: str
    description: str | None = None
    provenance: Provenance


class EntityView(BaseModel):
    entity: Entity
    relationships: list[Relationship] = Field(default_factory=list)


class EntityList(BaseModel):
    namespace: str
    entities: list[Entity]
