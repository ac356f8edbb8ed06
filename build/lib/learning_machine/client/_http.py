"""What the sync and the async client share: settings, the retry decision, reading an answer."""

from __future__ import annotations

import inspect
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from .errors import TransportError, error_for
from .routes import Call

T = TypeVar("T")
USER_AGENT = "learning-machine-client/0.1"
DEFAULT_TIMEOUT = 30.0


def connection(base_url: str | None, api_key: str | None) -> tuple[str, dict[str, str]]:
    """The base URL and headers, from the arguments or LM_API_URL / LM_API_KEY."""
    url = base_url or os.environ.get("LM_API_URL")
    key = api_key or os.environ.get("LM_API_KEY")
    if not url or not key:
        raise ValueError("pass base_url and api_key, or set LM_API_URL and LM_API_KEY")
    headers = {"Authorization": f"Bearer {key}", "User-Agent": USER_AGENT, "Accept": "application/json"}
    return url.rstrip("/"), headers


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of 429, 5xx and unreachable service: exponential backoff, or what Retry-After says.

    5xx and network errors are retried for every method, like the openai SDK does; transcripts
    carry a client-made id, so a retried post is never learned twice.
    """

    max_retries: int = 2
    backoff: float = 0.5  # the first wait in seconds; doubles with each retry, with some jitter
    max_backoff: float = 30.0  # also caps Retry-After, so one call never hangs for minutes

    def delay(self, retry: int, outcome: httpx.Response | httpx.TransportError) -> float | None:
        """Seconds to wait before retry number `retry` (0-based), or None to stop here."""
        if retry >= self.max_retries:
            return None
        if isinstance(outcome, httpx.Response):
            if outcome.status_code != 429 and outcome.status_code < 500:
                return None
            hinted = retry_after(outcome.headers.get("Retry-After"))
            if hinted is not None:
                return min(hinted, self.max_backoff)
        wait = self.backoff * 2**retry * random.uniform(0.75, 1.0)
        return min(wait, self.max_backoff)


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: given as seconds, or as an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def result(call: Call[T], outcome: httpx.Response | httpx.TransportError) -> T:
    """The typed result of a final answer, or the exception it stands for."""
    if isinstance(outcome, httpx.TransportError):
        raise TransportError(f"{type(outcome).__name__}: {outcome}") from outcome
    body = _decoded(outcome)
    if outcome.is_success:
        return call.parse(body)
    raise error_for(outcome.status_code, body)


def _decoded(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def method_signature(route: Callable[..., Any], client: str) -> inspect.Signature:
    """The route's signature with `self` in front: what help() and IDEs show for the method."""
    signature = inspect.signature(route)
    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY, annotation=client)
    returns = str(signature.return_annotation).removeprefix("Call[").removesuffix("]")
    return signature.replace(parameters=[this, *signature.parameters.values()], return_annotation=returns)
