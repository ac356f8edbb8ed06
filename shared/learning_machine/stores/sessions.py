"""Session context reads. Writes go through a ChangeSet together with the rest of an extraction;
curation's delete of an idle session is prepared here."""

from __future__ import annotations

from typing import Any

from ..adapters import dynamodb
from ..models.sessions import SessionContext
from .keys import SESSION_SK, session_pk


class SessionStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def get(self, tenant: str, session: str) -> SessionContext | None:
        raw = dynamodb.table(self._table).get_item(Key={"pk": session_pk(tenant, session), "sk": SESSION_SK})
        return dynamodb.load(SessionContext, raw["Item"]) if "Item" in raw else None

    def guarded_delete(self, tenant: str, session: SessionContext) -> dict[str, Any]:
        """A transaction item deleting the session only while it is still at this version."""
        key = {"pk": session_pk(tenant, session.session_id), "sk": SESSION_SK}
        return dynamodb.guarded_delete(self._table, key, session.version)
