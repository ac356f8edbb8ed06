"""Composition root for extraction: settings -> stores, model and pipeline."""

from __future__ import annotations

from functools import cache

from ..adapters.llm.base import ExtractionModel
from ..entity_memory import EntityMemory
from ..indexing import Indexer, build_indexer
from ..learned_knowledge import LearnedKnowledge
from ..settings import Settings
from ..stores.config import ConfigStore
from ..stores.entities import EntityStore
from ..stores.knowledge import KnowledgeStore
from ..stores.sessions import SessionStore
from ..stores.transcripts import TranscriptStore
from ..stores.usage import UsageStore
from ..stores.user_memory import UserMemoryStore
from .indexed_stores import IndexedStores
from .pipeline import ExtractionPipeline, MetricsSink, Stores


def build_stores(settings: Settings) -> Stores:
    return Stores(
        table=settings.data_table,
        config=ConfigStore(settings.data_table, settings.config_cache_seconds),
        users=UserMemoryStore(settings.data_table),
        sessions=SessionStore(settings.data_table),
        transcripts=TranscriptStore(settings.data_table),
        usage=UsageStore(settings.data_table),
        max_attempts=settings.max_receive_count,
    )


def build_indexed_stores(settings: Settings) -> IndexedStores:
    """Built on first use: a tenant without entity memory or knowledge never opens the index."""

    @cache
    def indexer() -> Indexer:
        return build_indexer(settings)

    @cache
    def entities() -> EntityMemory:
        return EntityMemory(EntityStore(settings.data_table), indexer(), settings.write_retries)

    @cache
    def knowledge() -> LearnedKnowledge:
        return LearnedKnowledge(KnowledgeStore(settings.data_table), indexer())

    return IndexedStores(entities=entities, knowledge=knowledge, embedder=lambda: indexer().embedder)


def build_pipeline(
    settings: Settings, model: ExtractionModel | None = None, metrics: MetricsSink | None = None
) -> ExtractionPipeline:
    if model is None:
        from ..adapters.llm.factory import build_model

        model = build_model(settings)
    return ExtractionPipeline(
        build_stores(settings), model, settings.write_retries, metrics, build_indexed_stores(settings)
    )
