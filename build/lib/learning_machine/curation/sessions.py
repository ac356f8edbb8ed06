"""Session contexts idle past their retention are dropped (unless a transcript revives one first)."""

from __future__ import annotations

from dataclasses import dataclass

from boto3.dynamodb.conditions import Key

from ..adapters import dynamodb
from ..models.sessions import SessionContext
from ..stores.changes import WriteConflictError
from ..stores.keys import SESSION_SK, USER_INDEX, session_pk, user_pk
from .unit import Unit, snapshot


@dataclass
class SessionCuration:
    table: str

    def run(self, unit: Unit, user: str) -> None:
        if not unit.wants("drop_sessions"):
            return
        cutoff = unit.days_ago(unit.curation.session_retention_days)
        keys = dynamodb.query_all(
            self.table,
            IndexName=USER_INDEX,
            KeyConditionExpression=Key("gsi1pk").eq(user_pk(unit.tenant, user))
            & Key("gsi1sk").begins_with("SESSION#"),
        )
        for key in keys:
            raw = dynamodb.table(self.table).get_item(Key={"pk": key["pk"], "sk": key["sk"]}).get("Item")
            if raw is None:
                continue
            session = dynamodb.load(SessionContext, raw)
            if session.updated_at >= cutoff:
                continue
            days = unit.curation.session_retention_days
            record = unit.change(
                "drop_session",
                session.session_id,
                f"idle for more than {days} days (last updated {session.updated_at:%Y-%m-%d})",
                removed=[session.session_id],
                before=[snapshot("session", session)],
                user_id=user,
            )
            key = {"pk": session_pk(unit.tenant, session.session_id), "sk": SESSION_SK}
            delete = dynamodb.guarded_delete(self.table, key, session.version)
            try:
                unit.commit([delete], record)
            except WriteConflictError:
                unit.conflicts += 1  # a transcript updated it meanwhile: it is not idle any more
