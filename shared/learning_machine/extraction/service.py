"""Composition root for extraction: settings -> stores, model and pipeline."""

from __future__ import annotations

from ..adapters.llm.base import ExtractionModel
from ..settings import Settings
from ..stores.config import ConfigStore
from ..stores.sessions import SessionStore
from ..stores.transcripts import TranscriptStore
from ..stores.user_memory import UserMemoryStore
from .pipeline import ExtractionPipeline, MetricsSink, Stores


def build_stores(settings: Settings) -> Stores:
    return Stores(
        table=settings.data_table,
        config=ConfigStore(settings.data_table, settings.config_cache_seconds),
        users=UserMemoryStore(settings.data_table),
        sessions=SessionStore(settings.data_table),
        transcripts=TranscriptStore(settings.data_table),
    )


def build_pipeline(
    settings: Settings, model: ExtractionModel | None = None, metrics: MetricsSink | None = None
) -> ExtractionPipeline:
    if model is None:
        from ..adapters.llm.factory import build_model

        model = build_model(settings)
    return ExtractionPipeline(build_stores(settings), model, settings.write_retries, metrics)
