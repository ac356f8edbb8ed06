"""Index documents for tests, with a deterministic bag-of-words embedding (not a real embedder)."""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime
from typing import Any

from learning_machine.adapters.index.base import IndexDocument

DIMENSION = 64
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

_WORD = re.compile(r"\w+")


def embed(text: str, dimension: int = DIMENSION) -> list[float]:
    """Each word adds +-1 to a hashed coordinate; the result is unit length.

    Texts sharing words are near in cosine distance, texts sharing none are orthogonal-ish: enough
    to exercise k-NN deterministically. A text without words maps to the first axis.
    """
    vector = [0.0] * dimension
    for word in _WORD.findall(text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % dimension] += 1.0 if digest[4] % 2 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        return [1.0] + [0.0] * (dimension - 1)
    return [v / norm for v in vector]


def document(
    doc_id: str,
    title: str,
    text: str = "",
    *,
    tenant: str = "acme",
    namespace: str = "global",
    kind: str = "knowledge",
    status: str = "active",
    vector: list[float] | None = None,
    dimension: int = DIMENSION,
    **payload: Any,
) -> IndexDocument:
    return IndexDocument(
        doc_id=doc_id,
        tenant_id=tenant,
        namespace=namespace,
        kind=kind,  # type: ignore[arg-type]
        title=title,
        text=text,
        tags=["test"],
        vector=vector if vector is not None else embed(f"{title} {text}", dimension),
        payload={"doc_id": doc_id, "title": title, **payload},
        status=status,  # type: ignore[arg-type]
        updated_at=NOW,
    )
