"""The API's curation jobs: progress of a job and every change it planned or made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .. import curation as stored
from ..common import utc_now
from . import View


class JobCursor(View[stored.JobCursor]):
    """Where a job resumes: the stage, the last finished unit, and the position inside a unit."""

    stage: stored.Stage = "users"
    after: str | None = None
    within: str | None = None


class JobProgress(View[stored.JobProgress]):
    units_done: int = 0
    slices: int = 0
    changes: int = 0
    by_kind: dict[str, int] = Field(default_factory=dict)
    conflicts_retried: int = 0


class CurationJob(View[stored.CurationJob]):
    job_id: str
    trigger: stored.Trigger = "api"
    user_id: str | None = None
    namespace: str | None = None
    operations: list[stored.Operation] = Field(default_factory=lambda: list(stored.DEFAULT_OPERATIONS))
    dry_run: bool = False
    undo_of: str | None = None
    status: stored.JobStatus = "queued"
    cursor: JobCursor = Field(default_factory=JobCursor)
    progress: JobProgress = Field(default_factory=JobProgress)
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    finished_at: datetime | None = None
    failures: int = 0
    error: str | None = None
    lease_until: datetime | None = None
    version: int = 1


class CurationChange(View[stored.CurationChange]):
    """One change, recorded in the same transaction that makes it (or alone, in a dry run).

    `before` holds the touched items as they were, so the change can be explained and undone.
    """

    key: str
    kind: stored.ChangeKind
    user_id: str | None = None
    namespace: str | None = None
    kept: str | None = Field(default=None, description="The item kept (the survivor of a merge)")
    removed: list[str] = Field(default_factory=list, description="Items merged away, pruned or dropped")
    reason: str
    # The snapshots undo restores, as recorded (each stored model's own JSON, storage-only fields
    # excluded by the stored model itself).
    before: list[dict[str, Any]] = Field(default_factory=list)
    applied: bool
    undone: bool = False
    undo_note: str | None = None
    at: datetime = Field(default_factory=utc_now)


class JobView(BaseModel):
    job: CurationJob
    changes: list[CurationChange]
    next_token: str | None = Field(default=None, description="Pass as ?after= for the next page of changes")
