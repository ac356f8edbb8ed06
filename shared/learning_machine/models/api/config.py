"""The API's configuration document: the tenant's config, versioned.

`config` is the `TenantConfig` the tenant sends to `PUT /v1/config`, echoed as stored: the
request model is the contract both ways. Only the envelope is a view.
"""

from __future__ import annotations

from datetime import datetime

from .. import config as stored
from ..config import TenantConfig
from . import View


class StoredConfig(View[stored.StoredConfig]):
    """A config document as stored: versioned, with who changed it when."""

    config: TenantConfig
    version: int = 0
    updated_at: datetime | None = None
