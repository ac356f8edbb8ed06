"""The interface every embedder implements, and the errors it may raise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

EmbedderKind = Literal["remote", "local-model", "fallback"]


class EmbeddingError(Exception):
    """The texts could not be embedded (endpoint failure after retries, a malformed reply, ...)."""


class EmbeddingConfigError(EmbeddingError):
    """The settings cannot work: e.g. the embedder's dimension differs from the index's."""


class Embedder(Protocol):
    """Texts in, one L2-normalized vector per text out, in the same order."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def kind(self) -> EmbedderKind:
        """ "remote" (an endpoint), "local-model" (a real model in process) or "fallback" (not semantic)."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One call for the whole batch: the pipeline embeds once per transcript or import batch."""
        ...


def normalized(vector: Sequence[float]) -> list[float]:
    """The vector scaled to unit length (cosine = dot product in every index); zero stays zero."""
    norm = sum(value * value for value in vector) ** 0.5
    return [value / norm for value in vector] if norm > 0 else [float(value) for value in vector]


class EmbeddingMeter:
    """Embedding tokens this process has sent (estimated like every token count here), read as the
    difference around a unit of work: a Lambda execution environment runs one invocation at a time."""

    def __init__(self) -> None:
        self.tokens = 0

    def add(self, texts: Sequence[str]) -> None:
        from ...core.ranking import estimate_tokens

        self.tokens += sum(estimate_tokens(text) for text in texts)


EMBEDDING_METER = EmbeddingMeter()


class MeteredEmbedder:
    """An embedder whose every call is counted on EMBEDDING_METER (the usage report's embedding tokens)."""

    def __init__(self, inner: Embedder, meter: EmbeddingMeter = EMBEDDING_METER) -> None:
        self.inner = inner
        self.meter = meter

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def kind(self) -> EmbedderKind:
        return self.inner.kind

    @property
    def score_scale(self) -> object:
        # The inner model's calibration (scoring.scale_of reads it), if it has one.
        return getattr(self.inner, "score_scale", None)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self.inner.embed(texts)
        self.meter.add(texts)
        return vectors
