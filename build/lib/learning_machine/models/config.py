"""The per-tenant configuration document: three levels, as in the reference design.

1. Nothing configured: `TenantConfig()` (profile, session context and entities ALWAYS; entities and
   knowledge AGENTIC).
2. Pick stores: `{"stores": {"session_context": {"enabled": false}}}`.
3. Full control per store: modes, planning, custom schema, prompts per store and layer, layers on/off.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from .common import MAX_CONTEXT_TOKENS, Layer, Mode, NamespaceName
from .profile import STANDARD_FIELDS

Prompt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LayerConfig(_Strict):
    enabled: bool = True
    prompt: Prompt | None = Field(default=None, description="Extra extraction instructions for this layer")


def _default_layers() -> dict[Layer, LayerConfig]:
    return {layer: LayerConfig() for layer in Layer}


class _StoreConfig(_Strict):
    """What every store shares: on/off, how it learns (modes), an extra prompt, context or not."""

    STORE: ClassVar[str]
    ALLOWED_MODES: ClassVar[frozenset[Mode]] = frozenset(Mode)

    enabled: bool = True
    modes: list[Mode] = Field(default_factory=lambda: [Mode.ALWAYS])
    prompt: Prompt | None = None
    add_to_context: bool = True

    @field_validator("modes")
    @classmethod
    def _allowed_modes(cls, modes: list[Mode]) -> list[Mode]:
        if set(modes) - cls.ALLOWED_MODES:
            allowed = " and ".join(sorted(f"'{m.value}'" for m in cls.ALLOWED_MODES))
            raise ValueError(f"the {cls.STORE} store supports only {allowed}")
        return sorted(set(modes))

    @property
    def always(self) -> bool:
        return self.enabled and Mode.ALWAYS in self.modes

    @property
    def agentic(self) -> bool:
        return self.enabled and Mode.AGENTIC in self.modes

    @property
    def propose(self) -> bool:
        return self.enabled and Mode.PROPOSE in self.modes


class UserProfileStoreConfig(_StoreConfig):
    STORE = "user profile"
    ALLOWED_MODES = frozenset({Mode.ALWAYS, Mode.AGENTIC})

    layers: dict[Layer, LayerConfig] = Field(default_factory=_default_layers)
    custom_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema (type object) of custom profile fields"
    )

    @field_validator("layers")
    @classmethod
    def _all_layers(cls, layers: dict[Layer, LayerConfig]) -> dict[Layer, LayerConfig]:
        return {layer: layers.get(layer, LayerConfig()) for layer in Layer}

    @field_validator("custom_schema")
    @classmethod
    def _schema_shape(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is None:
            return None
        if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
            raise ValueError("custom_schema must be a JSON Schema with type 'object' and 'properties'")
        clashes = set(schema["properties"]) & set(STANDARD_FIELDS)
        if clashes:
            raise ValueError(f"custom_schema redefines standard fields: {sorted(clashes)}")
        return schema

    def enabled_layers(self) -> list[Layer]:
        return [layer for layer in Layer if self.layers[layer].enabled]


class SessionContextStoreConfig(_StoreConfig):
    STORE = "session context"
    ALLOWED_MODES = frozenset({Mode.ALWAYS})

    planning: bool = False


class EntityMemoryStoreConfig(_StoreConfig):
    STORE = "entity memory"
    ALLOWED_MODES = frozenset({Mode.ALWAYS, Mode.AGENTIC})

    modes: list[Mode] = Field(default_factory=lambda: [Mode.ALWAYS, Mode.AGENTIC])
    namespace: NamespaceName = Field(
        default="user", description="'user' (private to each user), 'global', or a named namespace"
    )
    max_in_context: int = Field(default=5, ge=0, le=50)


class LearnedKnowledgeStoreConfig(_StoreConfig):
    STORE = "learned knowledge"

    modes: list[Mode] = Field(default_factory=lambda: [Mode.AGENTIC])
    namespace: NamespaceName = "global"
    max_in_context: int = Field(default=5, ge=0, le=50)
    duplicate_similarity: float = Field(
        default=0.9, ge=0.5, le=1.0, description="Cosine similarity above which a save updates an insight"
    )


class StoresConfig(_Strict):
    user_profile: UserProfileStoreConfig = Field(default_factory=UserProfileStoreConfig)
    session_context: SessionContextStoreConfig = Field(default_factory=SessionContextStoreConfig)
    entity_memory: EntityMemoryStoreConfig = Field(default_factory=EntityMemoryStoreConfig)
    learned_knowledge: LearnedKnowledgeStoreConfig = Field(default_factory=LearnedKnowledgeStoreConfig)


class ContextConfig(_Strict):
    max_tokens: int = Field(default=2_000, ge=50, le=MAX_CONTEXT_TOKENS)


class ExtractionConfig(_Strict):
    memory_budget_tokens: int = Field(
        default=900, ge=100, le=16_000, description="Prompt budget for the memories shown to the model"
    )


PruneOrder = Literal["least_recently_used", "least_confirmed"]


class LayerRetention(_Strict):
    """Prune rules of one memory layer; None means no limit."""

    max_age_days: int | None = Field(
        default=None, ge=1, le=36_500, description="Prune memories not written or confirmed for this long"
    )
    max_count: int | None = Field(default=None, ge=1, le=100_000, description="Keep at most this many")
    prune_order: PruneOrder = Field(
        default="least_recently_used",
        description="Which go first past max_count: least recently written or confirmed, or fewest "
        "confirmations (then least recently used)",
    )


class CurationSchedule(_Strict):
    enabled: bool = True
    every_hours: int = Field(default=24, ge=1, le=24 * 30, description="Minimum time between scheduled runs")


class CurationConfig(_Strict):
    """Upkeep of what was learned: merges, prunes and retention (run by the curate function)."""

    schedule: CurationSchedule = Field(default_factory=CurationSchedule)
    memory_merge_similarity: float = Field(
        default=0.92, ge=0.5, le=1.0, description="Cosine similarity at which two memories of a layer merge"
    )
    layers: dict[Layer, LayerRetention] = Field(default_factory=dict)
    history_retention_days: int = Field(
        default=90,
        ge=1,
        le=36_500,
        description="Superseded values (memory history, superseded entity facts) are kept this long; "
        "curation changes can be undone within it",
    )
    session_retention_days: int = Field(
        default=30, ge=1, le=36_500, description="Session contexts idle this long are dropped"
    )

    def retention(self, layer: Layer) -> LayerRetention:
        return self.layers.get(layer) or LayerRetention()


class TenantConfig(_Strict):
    """What `PUT /v1/config` accepts. The tenant is never part of the document."""

    stores: StoresConfig = Field(default_factory=StoresConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)
    curation: CurationConfig = Field(default_factory=CurationConfig)


class StoredConfig(BaseModel):
    """A config document as stored: versioned, with who changed it when."""

    config: TenantConfig
    version: int = 0
    updated_at: datetime | None = None
