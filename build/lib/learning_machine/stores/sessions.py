"""Session context reads. Writes go through a ChangeSet together with the rest of an extraction."""

from __future__ import annotations

from ..adapters import dynamodb
from ..models.sessions import SessionContext
from .keys import SESSION_SK, session_pk


class SessionStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def get(self, tenant: str, session: str) -> SessionContext | None:
        raw = dynamodb.table(self._table).get_item(Key={"pk": session_pk(tenant, session), "sk": SESSION_SK})
        return dynamodb.load(SessionContext, raw["Item"]) if "Item" in raw else None
