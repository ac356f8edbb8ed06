"""Session contexts idle past their retention are dropped (unless a transcript revives one first)."""

from __future__ import annotations

from dataclasses import dataclass

from ..stores.changes import WriteConflictError
from ..stores.sessions import SessionStore
from ..stores.user_records import UserRecordStore
from .unit import Unit, snapshot


@dataclass
class SessionCuration:
    records: UserRecordStore
    sessions: SessionStore

    def run(self, unit: Unit, user: str) -> None:
        if not unit.wants("drop_sessions"):
            return
        cutoff = unit.days_ago(unit.curation.session_retention_days)
        for session in self.records.sessions(unit.tenant, user):
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
            try:
                unit.commit([self.sessions.guarded_delete(unit.tenant, session)], record)
            except WriteConflictError:
                unit.conflicts += 1  # a transcript updated it meanwhile: it is not idle any more
