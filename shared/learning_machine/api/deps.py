"""Per-container singletons the routes use, built lazily from the settings."""

from __future__ import annotations

from functools import lru_cache

from ..adapters.queue import TranscriptQueue
from ..context.service import ContextService
from ..intake import TranscriptIntake
from ..memory_admin import MemoryAdmin
from ..settings import get_settings
from ..stores.config import ConfigStore
from ..stores.sessions import SessionStore
from ..stores.transcripts import TranscriptStore
from ..stores.user_memory import UserMemoryStore


@lru_cache(maxsize=1)
def config_store() -> ConfigStore:
    settings = get_settings()
    return ConfigStore(settings.data_table, settings.config_cache_seconds)


@lru_cache(maxsize=1)
def user_store() -> UserMemoryStore:
    return UserMemoryStore(get_settings().data_table)


@lru_cache(maxsize=1)
def session_store() -> SessionStore:
    return SessionStore(get_settings().data_table)


@lru_cache(maxsize=1)
def transcript_store() -> TranscriptStore:
    return TranscriptStore(get_settings().data_table)


@lru_cache(maxsize=1)
def intake() -> TranscriptIntake:
    return TranscriptIntake(transcript_store(), TranscriptQueue(get_settings().transcripts_queue_url))


@lru_cache(maxsize=1)
def memory_admin() -> MemoryAdmin:
    settings = get_settings()
    return MemoryAdmin(settings.data_table, user_store(), settings.write_retries)


@lru_cache(maxsize=1)
def context_service() -> ContextService:
    return ContextService(config_store(), user_store(), session_store())
