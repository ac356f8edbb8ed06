"""Embedders and indexes that record what they are given, for tests about what is embedded (as
opposed to what is indexed for keywords) and what a search asks the index."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learning_machine.adapters.embeddings.base import EmbedderKind
from learning_machine.adapters.embeddings.hashing import HashingEmbedder
from learning_machine.adapters.index.embedded import EmbeddedIndex
from learning_machine.services.indexing import Indexer


class RecordingHashingEmbedder(HashingEmbedder):
    def __init__(self, dimension: int = 64) -> None:
        super().__init__(dimension)
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return super().embed(texts)


def recording_indexer(directory: Path) -> tuple[Indexer, RecordingHashingEmbedder]:
    embedder = RecordingHashingEmbedder()
    return Indexer(
        index=EmbeddedIndex(directory / "index.db", embedder.dimension), embedder=embedder
    ), embedder


class RecordingEmbedder:
    """An embedder of any kind that records each call's texts; every vector is the same."""

    def __init__(self, kind: EmbedderKind) -> None:
        self.kind = kind
        self.name = "recording"
        self.dimension = 2
        self.calls: list[list[str]] = []

    @property
    def texts(self) -> list[str]:
        return [text for call in self.calls for text in call]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [[1.0, 0.0] for _ in texts]


class RecordingIndex:
    """A knowledge index that records each search's arguments and finds nothing."""

    def __init__(self) -> None:
        self.searches: list[dict[str, Any]] = []

    def search(self, tenant: str, **kwargs: Any) -> list[Any]:
        self.searches.append(kwargs)
        return []
