"""An Indexer over a real embedded index whose embedder records every text it is given, for tests
about what is embedded (as opposed to what is indexed for keywords)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
