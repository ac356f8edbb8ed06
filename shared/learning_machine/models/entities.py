"""Entity memory: companies, people, projects, systems, with facts, events and relationships.

Facts are timeless statements; a contradicted fact is superseded (kept with `valid_to` and
the id of what replaced it), never silently overwritten. Events are dated; the date is kept
as given and, when it can be resolved against the transcript's time, as an ISO date.
Relationships are typed edges, stored under both ends so either end can list them.
What the API answers is in `models/api/entities.py`.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .common import NamespaceName, utc_now
from .provenance import MergedItem, Provenance

EntityType = Literal["company", "person", "project", "system", "product", "place", "other"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Statement = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]
Relation = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]{0,63}$")]

MAX_FACTS = 200
MAX_EVENTS = 200


class Fact(BaseModel):
    fact_id: str
    content: str
    valid_from: datetime = Field(default_factory=utc_now)
    valid_to: datetime | None = None
    superseded_by: str | None = None
    provenance: Provenance

    @property
    def current(self) -> bool:
        return self.valid_to is None


class Event(BaseModel):
    event_id: str
    content: str
    date_text: str | None = Field(default=None, description="The date as given, e.g. 'last Friday'")
    date: dt.date | None = Field(default=None, description="Resolved against the transcript's time")
    provenance: Provenance


class Entity(BaseModel):
    entity_id: str
    namespace: str = Field(description="Resolved namespace: 'global', a named one, or 'user:<user_id>'")
    name: str
    entity_type: EntityType = "other"
    aliases: list[str] = Field(default_factory=list)
    description: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)
    facts: list[Fact] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    merged: list[MergedItem] = Field(default_factory=list, description="Duplicate entities merged into it")
    version: int = 1
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    def names(self) -> list[str]:
        return [self.name, *self.aliases]

    def current_facts(self) -> list[Fact]:
        return [fact for fact in self.facts if fact.current]


class Relationship(BaseModel):
    source_id: str
    relation: str
    target_id: str
    source_name: str
    target_name: str
    description: str | None = None
    provenance: Provenance


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntityUpsert(_Strict):
    """Create an entity, or update the one that already has this name or alias."""

    name: Name
    entity_type: EntityType = "other"
    aliases: list[Name] = Field(default_factory=list, max_length=20)
    description: Statement | None = None
    properties: dict[
        Annotated[str, StringConstraints(max_length=64)], Annotated[str, StringConstraints(max_length=500)]
    ] = Field(default_factory=dict, max_length=30)
    namespace: NamespaceName | None = Field(
        default=None, description="Default: the tenant's entity namespace"
    )
    user_id: str | None = Field(default=None, description="Owner, for the 'user' namespace")


class FactsIn(_Strict):
    facts: list[Statement] = Field(min_length=1, max_length=50)
    supersedes: list[str] = Field(default_factory=list, description="Fact ids these facts replace")


class EventIn(_Strict):
    content: Statement
    date_text: Annotated[str, StringConstraints(max_length=100)] | None = None
    date: dt.date | None = None


class EventsIn(_Strict):
    events: list[EventIn] = Field(min_length=1, max_length=50)


class RelationshipIn(_Strict):
    relation: Relation
    target: Name = Field(description="Name, alias or id of the other entity")
    description: Statement | None = None


class RelationshipsIn(_Strict):
    relationships: list[RelationshipIn] = Field(min_length=1, max_length=50)
