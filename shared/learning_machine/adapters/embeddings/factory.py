"""Choose the embedder from the settings: an endpoint, the local sentence model, or the hashing fallback.

`auto` picks, in order: an OpenAI-compatible endpoint when `embedding_base_url` is configured, or
when an API key is configured for OpenAI itself (the key resolved exactly as for the LLM, and no
`llm_base_url`); else the local sentence model when its package is installed; else the
deterministic hashing fallback, which the demo names as such. An `llm_base_url` alone never sends
embeddings to the chat endpoint: a local chat server (llama.cpp, Ollama) often serves no
embeddings, or ones of another dimension; set `embedding_base_url` to embed there.
Nothing heavy is imported here: openai, torch and the model load only inside `build_embedder`
(and torch only on the first `embed`), so get-context and search never pay for them on import.
The vectors' dimension must be the index's: a local model of another dimension is a
configuration error, never a silent mismatch.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Literal

from ...settings import Settings
from ..openai_endpoint import DEFAULT_BASE_URL, build_openai_client, resolve_api_key, without_credentials
from .base import Embedder, EmbeddingConfigError
from .hashing import HashingEmbedder
from .local_model import INSTALL_HINT, MODEL_DIMENSION, MODEL_NAME, MODEL_PACKAGE, SentenceModelEmbedder

Backend = Literal["openai", "local", "hashing"]

LOCAL_DESCRIPTION = f"local sentence model {MODEL_NAME} ({MODEL_DIMENSION} dims)"
FALLBACK_DESCRIPTION = (
    "deterministic hashing fallback ({dimension} dims) — not a semantic model; "
    f"install the local model for real embeddings: {INSTALL_HINT}"
)


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for; raises EmbeddingConfigError when they cannot work."""
    wants_endpoint = settings.embedding_backend in ("auto", "openai")
    api_key = resolve_api_key(settings) if wants_endpoint else None
    backend = choose_backend(settings, has_key=bool(api_key))
    if backend == "openai":
        return _openai_embedder(settings, api_key)
    if backend == "local":
        return SentenceModelEmbedder()
    return HashingEmbedder(settings.embedding_dimension)


def describe_embedder(settings: Settings) -> str:
    """One line for logs and the demo; never fetches the secret and never prints credentials."""
    has_key = bool(settings.llm_api_key or settings.llm_api_key_secret or os.environ.get("OPENAI_API_KEY"))
    try:
        backend = choose_backend(settings, has_key=has_key)
    except EmbeddingConfigError as error:
        return f"embeddings misconfigured: {error}"
    if backend == "openai":
        base_url = _endpoint(settings) or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        return (
            f"{settings.embedding_model} at {without_credentials(base_url)} "
            f"({settings.embedding_dimension} dims)"
        )
    if backend == "local":
        return LOCAL_DESCRIPTION
    return FALLBACK_DESCRIPTION.format(dimension=settings.embedding_dimension)


def choose_backend(settings: Settings, *, has_key: bool) -> Backend:
    """Which embedder the settings select; checks that the local model fits the index."""
    backend = settings.embedding_backend
    if backend == "auto":
        if settings.embedding_base_url or (has_key and not settings.llm_base_url):
            return "openai"
        backend = "local" if local_model_installed() else "hashing"
    elif backend == "local" and not local_model_installed():
        raise EmbeddingConfigError(
            f"LM_EMBEDDING_BACKEND=local but the model is not installed: {INSTALL_HINT}"
        )
    if backend == "local" and settings.embedding_dimension != MODEL_DIMENSION:
        raise EmbeddingConfigError(
            f"the local sentence model {MODEL_NAME} makes {MODEL_DIMENSION}-dim vectors but "
            f"LM_EMBEDDING_DIMENSION is {settings.embedding_dimension}: set it to {MODEL_DIMENSION} "
            "(and rebuild the index), or configure an embeddings endpoint"
        )
    return backend


def local_model_installed() -> bool:
    """Whether the packaged model and sentence-transformers can be imported (without importing them)."""
    return all(
        importlib.util.find_spec(name) is not None for name in (MODEL_PACKAGE, "sentence_transformers")
    )


def _endpoint(settings: Settings) -> str | None:
    # Never the chat endpoint: without a base URL of their own, embeddings go to OpenAI's default
    # (or OPENAI_BASE_URL), as the SDK does.
    return settings.embedding_base_url


def _openai_embedder(settings: Settings, api_key: str | None) -> Embedder:
    import openai

    from .openai_embedder import OpenAIEmbedder, supports_dimensions

    try:
        client = build_openai_client(
            _endpoint(settings), api_key, settings.llm_timeout_seconds, settings.llm_max_retries
        )
    except openai.OpenAIError as error:  # no key anywhere (LM_EMBEDDING_BACKEND=openai alone)
        raise EmbeddingConfigError(f"cannot configure the embeddings endpoint: {error}") from error
    return OpenAIEmbedder(
        client,
        settings.embedding_model,
        settings.embedding_dimension,
        send_dimensions=supports_dimensions(settings.embedding_model),
    )
