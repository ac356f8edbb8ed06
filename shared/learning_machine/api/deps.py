"""Per-container singletons the routes use, built lazily from the settings.

Every builder imports what it builds: get-context and search share this module, and a cold
start pays only for the services its own route uses (bench/cold_start.py measures it).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

from ..settings import get_settings

if TYPE_CHECKING:
    from ..context.service import ContextService
    from ..curation.service import CurationService
    from ..entity_memory import EntityMemory
    from ..indexing import Indexer
    from ..intake import TranscriptIntake
    from ..learned_knowledge import LearnedKnowledge
    from ..memory_admin import MemoryAdmin
    from ..quotas import Quotas
    from ..search import SearchService
    from ..stores.config import ConfigStore
    from ..stores.registry import Registry
    from ..stores.sessions import SessionStore
    from ..stores.transcripts import TranscriptStore
    from ..stores.usage import UsageStore
    from ..stores.user_memory import UserMemoryStore
    from ..tools.executor import ToolExecutor
    from ..user_data import UserData


@lru_cache(maxsize=1)
def config_store() -> ConfigStore:
    from ..stores.config import ConfigStore

    settings = get_settings()
    return ConfigStore(settings.data_table, settings.config_cache_seconds)


@lru_cache(maxsize=1)
def user_store() -> UserMemoryStore:
    from ..stores.user_memory import UserMemoryStore

    return UserMemoryStore(get_settings().data_table)


@lru_cache(maxsize=1)
def session_store() -> SessionStore:
    from ..stores.sessions import SessionStore

    return SessionStore(get_settings().data_table)


@lru_cache(maxsize=1)
def transcript_store() -> TranscriptStore:
    from ..stores.transcripts import TranscriptStore

    return TranscriptStore(get_settings().data_table)


@lru_cache(maxsize=1)
def registry() -> Registry:
    from ..stores.registry import Registry

    return Registry(get_settings().data_table)


@lru_cache(maxsize=1)
def intake() -> TranscriptIntake:
    from ..adapters.queue import MessageQueue
    from ..intake import TranscriptIntake

    settings = get_settings()
    return TranscriptIntake(transcript_store(), MessageQueue(settings.transcripts_queue_url), quotas())


@lru_cache(maxsize=1)
def quotas() -> Quotas:
    from ..quotas import Quotas, default_limits
    from ..stores.usage import LimitsStore

    settings = get_settings()
    return Quotas(
        default_limits(settings),
        LimitsStore(settings.data_table),
        usage_store(),
        settings.limits_cache_seconds,
    )


def count_read(tenant: str, embedding_start: int) -> None:
    """One get-context or search request on today's usage, with the embedding tokens it spent since
    the meter read `embedding_start`; a failure to count never fails the read."""
    from ..adapters.embeddings.base import EMBEDDING_METER
    from ..models.common import utc_now

    embedded = EMBEDDING_METER.tokens - embedding_start
    try:
        usage_store().add(tenant, utc_now().date(), reads=1, embedding_tokens=embedded)
    except Exception:
        logging.getLogger(__name__).exception("counting a read failed")


@lru_cache(maxsize=1)
def usage_store() -> UsageStore:
    from ..stores.usage import UsageStore

    return UsageStore(get_settings().data_table)


@lru_cache(maxsize=1)
def memory_admin() -> MemoryAdmin:
    from ..memory_admin import MemoryAdmin

    settings = get_settings()
    # Memories are embedded when written, by the embedder search uses (built on the first write).
    return MemoryAdmin(
        settings.data_table, user_store(), settings.write_retries, embedder=lambda: indexer().embedder
    )


@lru_cache(maxsize=1)
def context_service() -> ContextService:
    from ..context.service import ContextService

    return ContextService(config_store(), user_store(), session_store(), indexer)


@lru_cache(maxsize=1)
def indexer() -> Indexer:
    """The index and the embedder, built on first use (not at import: cold starts stay light)."""
    from ..indexing import build_indexer

    return build_indexer(get_settings())


@lru_cache(maxsize=1)
def entity_memory() -> EntityMemory:
    from ..entity_memory import EntityMemory
    from ..stores.entities import EntityStore

    settings = get_settings()
    return EntityMemory(EntityStore(settings.data_table), indexer(), settings.write_retries)


@lru_cache(maxsize=1)
def learned_knowledge() -> LearnedKnowledge:
    from ..learned_knowledge import LearnedKnowledge
    from ..stores.knowledge import KnowledgeStore

    return LearnedKnowledge(KnowledgeStore(get_settings().data_table), indexer())


@lru_cache(maxsize=1)
def search_service() -> SearchService:
    from ..search import SearchService

    return SearchService(user_store(), indexer())


@lru_cache(maxsize=1)
def tool_executor() -> ToolExecutor:
    from ..tools.executor import ToolExecutor

    # Entity memory and knowledge are passed as builders: a memory tool never opens the index.
    return ToolExecutor(memory_admin(), user_store(), entity_memory, learned_knowledge)


@lru_cache(maxsize=1)
def user_data() -> UserData:
    from ..stores.entities import EntityStore
    from ..stores.knowledge import KnowledgeStore
    from ..stores.user_records import UserRecordStore
    from ..user_data import UserData

    table = get_settings().data_table
    return UserData(
        get_settings(),
        user_store(),
        UserRecordStore(table),
        EntityStore(table),
        KnowledgeStore(table),
        indexer,
    )


@lru_cache(maxsize=1)
def curation() -> CurationService:
    from ..curation.service import build_curation

    return build_curation(get_settings())
