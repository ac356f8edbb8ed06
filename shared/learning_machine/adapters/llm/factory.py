"""Choose the extraction model from the settings: an OpenAI-compatible endpoint, or offline rules.

`openai` (about 0.5 s to import) and the offline extractor are imported inside the functions, so
importing this module costs nothing: get-context and search must never pay for the SDK.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit, urlunsplit

from ...settings import Settings
from .base import ExtractionModel

DEFAULT_BASE_URL = "https://api.openai.com/v1"
OFFLINE_DESCRIPTION = "offline rule-based extractor (no model endpoint configured)"
# The key rarely changes; a warm function re-reads it from Secrets Manager every five minutes.
SECRET_MAX_AGE_SECONDS = 300
# Key names accepted when the secret is a JSON object (the console's key/value form).
_SECRET_JSON_KEYS = ("api_key", "OPENAI_API_KEY", "key")


def build_model(settings: Settings) -> ExtractionModel:
    """The OpenAI adapter when a key or a base URL is configured; the offline extractor otherwise."""
    api_key = resolve_api_key(settings)
    if not (api_key or settings.llm_base_url):
        from .offline import OfflineExtractionModel

        return OfflineExtractionModel()

    from .openai_model import OpenAIExtractionModel, build_openai_client

    client = build_openai_client(
        settings.llm_base_url, api_key, settings.llm_timeout_seconds, settings.llm_max_retries
    )
    return OpenAIExtractionModel(
        client,
        settings.llm_model,
        settings.llm_structured_mode,
        settings.llm_max_completion_tokens,
        settings.llm_bounded_strings,
    )


def resolve_api_key(settings: Settings) -> str | None:
    """The plain setting, else the Secrets Manager secret (cached), else OPENAI_API_KEY.

    A configured secret that cannot be read raises: falling back to offline rules would hide a
    deployment error behind plausible-looking output.
    """
    if settings.llm_api_key:
        return settings.llm_api_key
    if settings.llm_api_key_secret:
        return _secret_key(settings.llm_api_key_secret)
    return os.environ.get("OPENAI_API_KEY") or None


def _secret_key(name: str) -> str | None:
    from aws_lambda_powertools.utilities import parameters

    raw = parameters.get_secret(name, max_age=SECRET_MAX_AGE_SECONDS)
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    text = text.strip()
    if text.startswith("{"):
        document = json.loads(text)
        return next((str(document[key]) for key in _SECRET_JSON_KEYS if document.get(key)), None)
    return text or None


def describe_model(settings: Settings) -> str:
    """One line for logs and the demo; never fetches the secret and never prints credentials."""
    has_key = bool(settings.llm_api_key or settings.llm_api_key_secret or os.environ.get("OPENAI_API_KEY"))
    if not (has_key or settings.llm_base_url):
        return OFFLINE_DESCRIPTION
    base_url = settings.llm_base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    return f"{settings.llm_model} at {_without_credentials(base_url)}"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) if netloc else url
