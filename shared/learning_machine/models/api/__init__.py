"""What the API answers: a view of each stored document, apart from the model the store persists.

Stores persist the models of `models/<name>.py` (`Memory`, `Entity`, `Insight`...), which may
carry storage-only state (a memory's vector). Routes, agent tools and response models answer
with the views declared here instead, so a field added to a stored model stays private until
a view declares it too.

Where to find one: the view of a model of `models/<name>.py` is in `models/api/<name>.py`, under
the same class name (`models.api.memories.Memory` is the view of `models.memories.Memory`),
because that name is the OpenAPI component name generated clients know. Envelopes that carry
views (lists, history, `SaveResult`, `JobView`) live beside them. Answers that were never stored
(`ContextResponse`, `SearchResponse`, `UserExport`, tool results) stay in `models/`, built from
these views.

Converting: `View.from_stored(stored)` is the one conversion. It reads the fields the view
declares, nested values included, and nothing else of the stored model.
"""

from __future__ import annotations

from typing import Generic, Self, TypeVar

from pydantic import BaseModel

StoredT = TypeVar("StoredT", bound=BaseModel)


class View(BaseModel, Generic[StoredT]):
    """The answer for one stored model (a class docstring is not inherited, so no view's OpenAPI
    description changes)."""

    @classmethod
    def from_stored(cls, stored: StoredT) -> Self:
        """The answer for a stored model: exactly the fields this view declares."""
        return cls.model_validate(stored, from_attributes=True)
