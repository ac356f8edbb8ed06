"""What the routes take from the composition root (`services()`), and the read meter they share.

Every part is built on first use (composition.py): get-context and search share this module, and
a cold start pays only for the services its own route uses (bench/cold_start.py measures it).
"""

from __future__ import annotations

import logging

from ..composition import services

__all__ = ["count_read", "services"]


def count_read(tenant: str, embedding_start: int) -> None:
    """One get-context or search request on today's usage, with the embedding tokens it spent since
    the meter read `embedding_start`; a failure to count never fails the read."""
    from ..adapters.embeddings.base import EMBEDDING_METER
    from ..models.common import utc_now

    embedded = EMBEDDING_METER.tokens - embedding_start
    try:
        services().usage_store.add(tenant, utc_now().date(), reads=1, embedding_tokens=embedded)
    except Exception:
        logging.getLogger(__name__).exception("counting a read failed")
