"""Settings -> the knowledge index engine: embedded on disk locally, OpenSearch in AWS."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ...settings import Settings
from .base import IndexUnavailableError, KnowledgeIndex

logger = logging.getLogger(__name__)


def build_index(settings: Settings) -> KnowledgeIndex:
    if settings.index_engine == "opensearch":
        from .opensearch import OpenSearchIndex

        if not settings.opensearch_endpoint:
            raise ValueError("LM_OPENSEARCH_ENDPOINT is required when LM_INDEX_ENGINE=opensearch")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        index: KnowledgeIndex = OpenSearchIndex(
            settings.opensearch_endpoint,
            settings.opensearch_index,
            settings.embedding_dimension,
            settings.opensearch_flavour,
            region,
        )
    else:
        from .embedded import EmbeddedIndex

        index = EmbeddedIndex(Path(settings.index_path), settings.embedding_dimension)
    try:
        index.ensure()
    except IndexUnavailableError:
        # Unreachable, or refused until an operator fixes it: every operation ensures again first,
        # so reads degrade and writes wait in the outbox meanwhile.
        logger.warning("knowledge index not ready at start", exc_info=True)
    return index
