"""The interface every extraction model implements, and the errors it may raise."""

from __future__ import annotations

from typing import Protocol

from ...models.extraction import ExtractionRequest, ModelReply


class ModelError(Exception):
    """The model could not answer (timeout, rate limit, server error) after its retries."""


class ModelOutputError(ModelError):
    """The model answered, but not with valid operations."""


class ExtractionModel(Protocol):
    """One call per transcript: the request in, validated operations out."""

    @property
    def name(self) -> str: ...

    @property
    def offline(self) -> bool:
        """True for the rule-based extractor that runs without any model endpoint."""
        ...

    def extract(self, request: ExtractionRequest) -> ModelReply: ...
