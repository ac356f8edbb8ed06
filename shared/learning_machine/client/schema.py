"""Custom profile fields from a pydantic model or a dataclass, as the JSON Schema the config holds."""

from __future__ import annotations

from typing import Any

from pydantic import RootModel

from ..models.api.config import StoredConfig
from ..tools.definitions import parameters_schema


def profile_schema(model: type[Any]) -> dict[str, Any]:
    """`{"type": "object", "properties": {...}}` with each field's type and description.

    The same cleaning as the agent tools' schemas: references inlined (the service checks each
    field against its own schema), titles dropped, optional fields without the `null` choice.
    Descriptions come from `Field(description=...)`; in a dataclass write
    `Annotated[str | None, Field(description=...)] = None`.
    """
    # RootModel wraps any type pydantic understands (BaseModel, dataclass, TypedDict) in a model.
    wrapped: type[RootModel[Any]] = RootModel[model]  # type: ignore[valid-type]
    schema = parameters_schema(wrapped)
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise TypeError(f"{model!r} does not describe an object with fields")
    return {"type": "object", "properties": schema["properties"]}


def with_profile_schema(stored: StoredConfig, schema: dict[str, Any] | None) -> dict[str, Any]:
    """The configuration document with `stores.user_profile.custom_schema` replaced."""
    document = stored.config.model_dump(mode="json")
    document["stores"]["user_profile"]["custom_schema"] = schema
    return document
