"""User memories as stored, with their embeddings (their history is in `memory_history.py`, what
the API answers in `api/memories.py`, what a caller sends to edit one in `memory_edits.py`)."""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field

from .common import Layer, utc_now
from .provenance import MergedItem, Provenance

Polarity = Literal["positive", "negative"]


class Memory(BaseModel):
    """The current value of one memory of one user."""

    memory_id: str
    user_id: str
    layer: Layer
    category: str | None = None
    content: str
    polarity: Polarity | None = None
    version: int = 1
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    valid_from: datetime = Field(default_factory=utc_now)
    provenance: Provenance
    confirmations: int = Field(default=0, description="Transcripts that restated it since it was written")
    last_confirmed_at: datetime | None = None
    merged: list[MergedItem] = Field(default_factory=list, description="Near-duplicates merged into it")
    # The embedding of `content`, stored beside the item (not in its JSON document) and read with it
    # in the same query; None until the memory is written with an embedder (keywords only then).
    vector: list[float] | None = Field(default=None, exclude=True, repr=False)
    # The stored bytes, decoded only when a query needs them (most reads never do). A field, not a
    # private attribute: get-context reads it for every memory of a user, and pydantic finds a
    # private attribute through its __getattr__ at about 2 us a read (1 ms for 500 memories).
    packed: bytes | None = Field(default=None, exclude=True, repr=False)

    @property
    def has_embedding(self) -> bool:
        return self.vector is not None or bool(self.packed)

    def embedding(self) -> list[float] | None:
        if self.vector is None and self.packed:
            self.vector = unpack_vector(self.packed)
        return self.vector

    def similarity(self, query: QueryVector) -> float | None:
        """Cosine similarity to a query vector; None without an embedding. From the stored bytes,
        the scale is applied once, not per dimension."""
        if self.vector is not None:
            return query.dot(self.vector)
        packed = self.packed
        if not packed:
            return None
        return query.dot_packed(packed_steps(packed))

    def packed_embedding(self) -> bytes | None:
        """As stored: the bytes read, unchanged, or the vector packed."""
        if self.packed:
            return self.packed
        return pack_vector(self.vector) if self.vector else None

    def with_packed_embedding(self, data: bytes | None) -> Memory:
        self.packed = data or None
        return self

    def without_embedding(self) -> Memory:
        """A copy for a new text: its old vector no longer applies."""
        return self.model_copy(update={"vector": None}).with_packed_embedding(None)

    @property
    def last_used_at(self) -> datetime:
        """Last written or confirmed; reads do not count, so the read path never writes."""
        if self.last_confirmed_at and self.last_confirmed_at > self.updated_at:
            return self.last_confirmed_at
        return self.updated_at


@dataclass(frozen=True)
class QueryVector:
    """A query's embedding, ready to score every memory of a user.

    `dot` runs as (|q|² + |d|² - |q - d|²) / 2 with `math.dist` and `math.hypot`, whose sums run in
    C: 500 int8 memories of 384 dimensions score in about half the time of a Python-level
    `sum(map(mul, ...))` (7.1 vs 13.5 ms here), and get-context scores every memory of a user."""

    values: tuple[float, ...]
    norm2: float

    @classmethod
    def of(cls, vector: Sequence[float]) -> QueryVector:
        values = tuple(float(value) for value in vector)
        return cls(values, math.hypot(*values) ** 2)

    def dot(self, other: Sequence[float]) -> float:
        """The dot product with a vector of the same length (0.0 for another length: a vector from
        another embedding model says nothing about this query)."""
        if len(other) != len(self.values):
            return 0.0
        distance = math.dist(self.values, other)
        return (self.norm2 + math.hypot(*other) ** 2 - distance * distance) / 2

    def dot_packed(self, stored: PackedSteps) -> float:
        """The dot product with a stored vector: its steps' norm is known, the scale applies once."""
        if len(stored.steps) != len(self.values):
            return 0.0
        distance = math.dist(self.values, stored.steps)
        return stored.scale * (self.norm2 + stored.norm2 - distance * distance) / 2


@dataclass(frozen=True, slots=True)
class PackedSteps:
    """A stored vector ready to score: its scale, its int8 steps as a tuple of floats and the steps'
    squared norm. The floats are the 255 shared objects of `_STEP_FLOATS` (about 3 KB for 384
    dimensions), and `math.dist` takes floats at twice the speed of ints."""

    scale: float
    steps: tuple[float, ...]
    norm2: float


# Vectors decoded per container (warm Lambda): get-context and search score every memory of a user
# on each request, and a memory's stored bytes change only when its text does. Keyed by the bytes
# themselves, so an entry can never be stale; about 3.5 KB each.
DECODED_VECTORS_PER_CONTAINER = 8192


@lru_cache(maxsize=DECODED_VECTORS_PER_CONTAINER)
def packed_steps(data: bytes) -> PackedSteps:
    scale, steps = _unpacked(data)
    as_floats = tuple(_STEP_FLOATS[step] for step in steps)
    return PackedSteps(scale, as_floats, math.hypot(*as_floats) ** 2)


_STEP_FLOATS = {step: float(step) for step in range(-128, 128)}


_SCALE = struct.Struct("<f")


def pack_vector(vector: Sequence[float]) -> bytes:
    """A memory's embedding as stored beside it: a float32 scale, then one signed byte a dimension
    (388 bytes for MiniLM's 384). Cosines come out within about 0.002 of the float ones, and
    reading it back is a C-level copy, which keeps scoring hundreds of memories cheap."""
    top = max((abs(value) for value in vector), default=0.0)
    scale = top / 127 if top > 0 else 1.0
    return _SCALE.pack(scale) + array("b", [round(value / scale) for value in vector]).tobytes()


def unpack_vector(data: bytes) -> list[float]:
    scale, steps = _unpacked(data)
    return [step * scale for step in steps]


def _unpacked(data: bytes) -> tuple[float, array[int]]:
    """The scale and the steps, read in place (iterating the array yields small cached ints)."""
    (scale,) = _SCALE.unpack_from(data)
    return scale, array("b", data[_SCALE.size :])
