"""Identifiers: time-ordered and unguessable (millisecond clock plus 40 random bits)."""

from __future__ import annotations

import hashlib
import secrets
import time


def new_id(prefix: str) -> str:
    return f"{prefix}{int(time.time() * 1000):011x}{secrets.token_hex(5)}"


def stable_id(prefix: str, *parts: str) -> str:
    """The same inputs always give the same id: makes imports idempotent per item id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]
    return f"{prefix}{digest}"
