"""The OpenAI-compatible endpoint both the extraction model and the embedder may call: its key,
its client, and how it is named in logs. Its own module, so neither adapter depends on the other.

`openai` (about 0.5 s to import) is imported inside `build_openai_client` only: get-context and
search import this module without paying for the SDK.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from ..settings import Settings

if TYPE_CHECKING:
    import openai

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local OpenAI-compatible servers usually ignore the key, but the SDK insists on one.
PLACEHOLDER_API_KEY = "not-needed"
# The key rarely changes; a warm function re-reads it from Secrets Manager every five minutes.
SECRET_MAX_AGE_SECONDS = 300
# Key names accepted when the secret is a JSON object (the console's key/value form).
_SECRET_JSON_KEYS = ("api_key", "OPENAI_API_KEY", "key")


def build_openai_client(
    base_url: str | None, api_key: str | None, timeout: float, max_retries: int
) -> openai.OpenAI:
    """A client with our timeout and retry budget; without a key it reads OPENAI_API_KEY."""
    import openai

    key = api_key or (PLACEHOLDER_API_KEY if base_url else None)
    return openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries)


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


def without_credentials(url: str) -> str:
    """The URL as logs may show it: no user, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) if netloc else url
