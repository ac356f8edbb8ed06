"""The composition root: every store and service of every function, built from the settings.

One `Services` per Lambda container (`services()`), each part built on first use and then kept:
a cold start pays only for what its own function touches (get-context and search never import
the model SDK or the curation package; bench/cold_start.py measures it). Handlers, routes, the
local stack and tests all take their parts from here, so a reader finds how anything is wired in
one place, and no service builds another.

The index (engine + embedder + outbox) is opened only when a part needs it: parts that may or may
not need it (context, user data, extraction's entity and knowledge stores, curation) are given a
builder (`lambda: self.indexer`) rather than the indexer itself.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from .settings import Settings, get_settings

if TYPE_CHECKING:
    from .adapters.llm.base import ExtractionModel
    from .context.service import ContextService
    from .curation.runner import CurationRunner
    from .curation.service import CurationService
    from .extraction.indexed_stores import IndexedStores
    from .extraction.pipeline import ExtractionPipeline, MetricsSink, Stores
    from .services.entity_memory import EntityMemory
    from .services.indexing import Indexer
    from .services.intake import TranscriptIntake
    from .services.learned_knowledge import LearnedKnowledge
    from .services.memory_admin import MemoryAdmin
    from .services.quotas import Quotas
    from .services.search import SearchService
    from .services.user_data import UserData
    from .stores.api_keys import ApiKeyStore
    from .stores.config import ConfigStore
    from .stores.curation import JobStore
    from .stores.entities import EntityStore
    from .stores.knowledge import KnowledgeStore
    from .stores.registry import Registry
    from .stores.sessions import SessionStore
    from .stores.transcripts import TranscriptStore
    from .stores.usage import LimitsStore, UsageStore
    from .stores.user_memory import UserMemoryStore
    from .stores.user_records import UserRecordStore
    from .tools.executor import ToolExecutor


class Services:
    """Built lazily; each import sits inside the property that needs it (cold start)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- stores (DynamoDB) -------------------------------------------------------------------------
    @cached_property
    def config_store(self) -> ConfigStore:
        from .stores.config import ConfigStore

        return ConfigStore(self.settings.data_table, self.settings.config_cache_seconds)

    @cached_property
    def user_store(self) -> UserMemoryStore:
        from .stores.user_memory import UserMemoryStore

        return UserMemoryStore(self.settings.data_table)

    @cached_property
    def session_store(self) -> SessionStore:
        from .stores.sessions import SessionStore

        return SessionStore(self.settings.data_table)

    @cached_property
    def transcript_store(self) -> TranscriptStore:
        from .stores.transcripts import TranscriptStore

        return TranscriptStore(self.settings.data_table)

    @cached_property
    def user_records(self) -> UserRecordStore:
        from .stores.user_records import UserRecordStore

        return UserRecordStore(self.settings.data_table)

    @cached_property
    def registry(self) -> Registry:
        from .stores.registry import Registry

        return Registry(self.settings.data_table)

    @cached_property
    def usage_store(self) -> UsageStore:
        from .stores.usage import UsageStore

        return UsageStore(self.settings.data_table)

    @cached_property
    def limits_store(self) -> LimitsStore:
        from .stores.usage import LimitsStore

        return LimitsStore(self.settings.data_table)

    @cached_property
    def entity_store(self) -> EntityStore:
        from .stores.entities import EntityStore

        return EntityStore(self.settings.data_table)

    @cached_property
    def knowledge_store(self) -> KnowledgeStore:
        from .stores.knowledge import KnowledgeStore

        return KnowledgeStore(self.settings.data_table)

    @cached_property
    def job_store(self) -> JobStore:
        from .stores.curation import JobStore

        return JobStore(self.settings.data_table)

    @cached_property
    def api_keys(self) -> ApiKeyStore:
        from .stores.api_keys import ApiKeyStore

        return ApiKeyStore(self.settings.keys_table)

    # -- the knowledge index -----------------------------------------------------------------------
    @cached_property
    def indexer(self) -> Indexer:
        """The index engine, the (metered) embedder and the outbox: built on first use only."""
        from .services.indexing import build_indexer

        return build_indexer(self.settings)

    # -- services behind the routes ----------------------------------------------------------------
    @cached_property
    def quotas(self) -> Quotas:
        from .services.quotas import Quotas, default_limits

        settings = self.settings
        limits = default_limits(settings)
        return Quotas(limits, self.limits_store, self.usage_store, settings.limits_cache_seconds)

    @cached_property
    def intake(self) -> TranscriptIntake:
        from .adapters.queue import MessageQueue
        from .services.intake import TranscriptIntake

        queue = MessageQueue(self.settings.transcripts_queue_url)
        return TranscriptIntake(self.transcript_store, queue, self.quotas)

    @cached_property
    def memory_admin(self) -> MemoryAdmin:
        from .services.memory_admin import MemoryAdmin

        # Memories are embedded when written, by the embedder search uses (built on the first write).
        return MemoryAdmin(
            self.settings.data_table,
            self.user_store,
            self.settings.write_retries,
            embedder=lambda: self.indexer.embedder,
        )

    @cached_property
    def context_service(self) -> ContextService:
        from .context.service import ContextService

        return ContextService(self.config_store, self.user_store, self.session_store, lambda: self.indexer)

    @cached_property
    def search_service(self) -> SearchService:
        from .services.search import SearchService

        return SearchService(self.user_store, self.indexer)

    @cached_property
    def entity_memory(self) -> EntityMemory:
        from .services.entity_memory import EntityMemory

        return EntityMemory(self.entity_store, self.indexer, self.settings.write_retries)

    @cached_property
    def learned_knowledge(self) -> LearnedKnowledge:
        from .services.learned_knowledge import LearnedKnowledge

        return LearnedKnowledge(self.knowledge_store, self.indexer)

    @cached_property
    def tool_executor(self) -> ToolExecutor:
        from .tools.executor import ToolExecutor

        # Entity memory and knowledge are passed as builders: a memory tool never opens the index.
        return ToolExecutor(
            self.memory_admin, self.user_store, lambda: self.entity_memory, lambda: self.learned_knowledge
        )

    @cached_property
    def user_data(self) -> UserData:
        from .services.user_data import UserData

        return UserData(
            self.settings,
            self.user_store,
            self.user_records,
            self.entity_store,
            self.knowledge_store,
            lambda: self.indexer,
        )

    # -- extraction --------------------------------------------------------------------------------
    @cached_property
    def extraction_stores(self) -> Stores:
        from .extraction.pipeline import Stores

        return Stores(
            table=self.settings.data_table,
            config=self.config_store,
            users=self.user_store,
            sessions=self.session_store,
            transcripts=self.transcript_store,
            usage=self.usage_store,
            max_attempts=self.settings.max_receive_count,
        )

    @cached_property
    def indexed_stores(self) -> IndexedStores:
        """Built on first use: a tenant without entity memory or knowledge never opens the index."""
        from .extraction.indexed_stores import IndexedStores

        return IndexedStores(
            entities=lambda: self.entity_memory,
            knowledge=lambda: self.learned_knowledge,
            embedder=lambda: self.indexer.embedder,
        )

    def extraction_pipeline(
        self, model: ExtractionModel | None = None, metrics: MetricsSink | None = None
    ) -> ExtractionPipeline:
        """The pipeline the extract function runs; the model the settings name unless one is given."""
        from .extraction.pipeline import ExtractionPipeline

        if model is None:
            from .adapters.llm.factory import build_model

            model = build_model(self.settings)
        return ExtractionPipeline(
            self.extraction_stores, model, self.settings.write_retries, metrics, self.indexed_stores
        )

    # -- curation ----------------------------------------------------------------------------------
    @cached_property
    def curation(self) -> CurationService:
        from .adapters.queue import MessageQueue
        from .curation.service import CurationService

        return CurationService(
            configs=self.config_store,
            queue=MessageQueue(self.settings.curation_queue_url),
            jobs=self.job_store,
            api_keys=self.api_keys,
            indexer=lambda: self.indexer,  # API calls never open the index
            build_runner=lambda: self.curation_runner,
        )

    @cached_property
    def curation_runner(self) -> CurationRunner:
        from .curation.memories import MemoryCuration
        from .curation.namespace import NamespaceCuration
        from .curation.runner import CurationRunner
        from .curation.sessions import SessionCuration
        from .curation.undo import Undo

        table, settings = self.settings.data_table, self.settings
        return CurationRunner(
            jobs=self.job_store,
            registry=self.registry,
            config_for=lambda tenant: self.config_store.get(tenant, fresh=True).config,
            memories=MemoryCuration(self.user_store, table),
            sessions=SessionCuration(self.user_records, self.session_store),
            namespaces=lambda: NamespaceCuration(self.entity_store, self.knowledge_store, self.indexer),
            embedder=lambda: self.indexer.embedder,
            undo=lambda: Undo(
                table,
                self.job_store,
                self.user_store,
                self.entity_store,
                self.knowledge_store,
                lambda: self.indexer,
            ),
            units_per_slice=settings.curation_units_per_slice,
            lease_seconds=settings.curation_lease_seconds,
            write_retries=settings.write_retries,
        )


@lru_cache(maxsize=1)
def services() -> Services:
    """This container's services, from its settings (tests clear the cache between cases)."""
    return Services(get_settings())
