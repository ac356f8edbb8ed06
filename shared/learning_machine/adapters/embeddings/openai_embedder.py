"""Embeddings through the openai SDK, against any OpenAI-compatible `/v1/embeddings` endpoint.

One request per batch: the batch is split only when a request would break the endpoint's limits
(OpenAI: 2048 inputs and 300,000 tokens per request). Retries of 408/409/429/5xx and timeouts are
the SDK's (`max_retries`, honouring Retry-After); whatever survives them becomes an EmbeddingError,
and so does a reply that does not hold one vector of the configured dimension per input.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import openai
from openai.types import CreateEmbeddingResponse

from ...core.ranking import estimate_tokens
from .base import EmbeddingError, normalized

OPENAI_MAX_INPUTS = 2048
OPENAI_MAX_REQUEST_TOKENS = 300_000
_REASON_CHARS = 160


def supports_dimensions(model: str) -> bool:
    """OpenAI accepts `dimensions` from text-embedding-3 on; other servers may reject the field."""
    return model.startswith("text-embedding-3")


class OpenAIEmbedder:
    """The Embedder protocol over `client.embeddings.create`, one request per batch."""

    kind: Literal["remote"] = "remote"

    def __init__(
        self,
        client: openai.OpenAI,
        model: str,
        dimension: int,
        *,
        send_dimensions: bool = False,
        max_inputs: int = OPENAI_MAX_INPUTS,
        max_request_tokens: int | None = OPENAI_MAX_REQUEST_TOKENS,
    ) -> None:
        if dimension < 1 or max_inputs < 1:
            raise ValueError("dimension and max_inputs must be positive")
        self._client = client
        self.name = model
        self.dimension = dimension
        self.send_dimensions = send_dimensions
        self.max_inputs = max_inputs
        self.max_request_tokens = max_request_tokens

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in self._batches(texts):
            vectors.extend(self._embed_batch(batch))
        return vectors

    def _batches(self, texts: Sequence[str]) -> Iterator[list[str]]:
        """Consecutive slices, each as large as the limits allow (usually just one)."""
        batch: list[str] = []
        tokens = 0
        for text in texts:
            # The API rejects an empty string; a space embeds as "nothing" and keeps positions.
            text = text or " "
            cost = estimate_tokens(text)
            over_budget = self.max_request_tokens is not None and tokens + cost > self.max_request_tokens
            if batch and (len(batch) >= self.max_inputs or over_budget):
                yield batch
                batch, tokens = [], 0
            batch.append(text)
            tokens += cost
        if batch:
            yield batch

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        # "float" is the documented default that every compatible server speaks; the SDK would
        # otherwise ask for base64, which some servers ignore or reject.
        try:
            if self.send_dimensions:
                reply = self._client.embeddings.create(
                    model=self.name, input=batch, dimensions=self.dimension, encoding_format="float"
                )
            else:
                reply = self._client.embeddings.create(model=self.name, input=batch, encoding_format="float")
        except openai.APITimeoutError as error:
            raise EmbeddingError("the embeddings endpoint timed out") from error
        except openai.APIConnectionError as error:
            raise EmbeddingError(f"cannot reach the embeddings endpoint: {error.message}") from error
        except openai.APIStatusError as error:
            raise EmbeddingError(
                _short(f"the embeddings endpoint answered {error.status_code}: {error.message}")
            ) from error
        except openai.OpenAIError as error:
            raise EmbeddingError(f"embeddings call failed: {type(error).__name__}") from error
        except (ValueError, TypeError, AttributeError) as error:
            # The SDK parses the body before we see it: a body that is not an embeddings list.
            raise EmbeddingError(f"the reply is not an embeddings list ({type(error).__name__})") from error
        return self._vectors(reply, len(batch))

    def _vectors(self, reply: CreateEmbeddingResponse, expected: int) -> list[list[float]]:
        data = getattr(reply, "data", None)
        if not isinstance(data, list) or len(data) != expected:
            count = len(data) if isinstance(data, list) else 0
            raise EmbeddingError(f"the endpoint returned {count} embeddings for {expected} inputs")
        # Servers may list the vectors in any order: `index` says which input each belongs to.
        by_index: dict[int, list[float]] = {}
        for item in data:
            index, vector = getattr(item, "index", None), getattr(item, "embedding", None)
            if not isinstance(index, int) or not 0 <= index < expected or index in by_index:
                raise EmbeddingError(f"the reply has a missing, repeated or out-of-range index: {index!r}")
            if not isinstance(vector, list):
                raise EmbeddingError("the reply's embeddings are not lists of floats")
            if len(vector) != self.dimension:
                raise EmbeddingError(
                    f"{self.name} returned {len(vector)}-dimensional vectors but the index expects "
                    f"{self.dimension}: set the embedding dimension to match the model"
                )
            by_index[index] = vector
        # OpenAI's vectors are unit length already; other servers' are not always.
        return [normalized(by_index[index]) for index in range(expected)]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"
