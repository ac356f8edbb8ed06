"""Choose the extraction model from the settings: an OpenAI-compatible endpoint, or offline rules.

`openai` (about 0.5 s to import) and the offline extractor are imported inside the functions, so
importing this module costs nothing: get-context and search must never pay for the SDK.
"""

from __future__ import annotations

import os

from ...settings import Settings
from ..openai_endpoint import DEFAULT_BASE_URL, build_openai_client, resolve_api_key, without_credentials
from .base import ExtractionModel

OFFLINE_DESCRIPTION = "offline rule-based extractor (no model endpoint configured)"


def build_model(settings: Settings) -> ExtractionModel:
    """The OpenAI adapter when a key or a base URL is configured; the offline extractor otherwise."""
    api_key = resolve_api_key(settings)
    if not (api_key or settings.llm_base_url):
        from .offline import OfflineExtractionModel

        return OfflineExtractionModel()

    from .openai_model import OpenAIExtractionModel

    client = build_openai_client(
        settings.llm_base_url, api_key, settings.llm_timeout_seconds, settings.llm_max_retries
    )
    return OpenAIExtractionModel(
        client,
        settings.llm_model,
        settings.llm_structured_mode,
        settings.llm_max_completion_tokens,
        settings.llm_bounded_strings,
        settings.llm_extra_body,
    )


def describe_model(settings: Settings) -> str:
    """One line for logs and the demo; never fetches the secret and never prints credentials."""
    has_key = bool(settings.llm_api_key or settings.llm_api_key_secret or os.environ.get("OPENAI_API_KEY"))
    if not (has_key or settings.llm_base_url):
        return OFFLINE_DESCRIPTION
    base_url = settings.llm_base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    return f"{settings.llm_model} at {without_credentials(base_url)}"
