"""Curation jobs: what was asked, how far it got, and every change it planned or made (what the API
answers about a job is in `models/api/curation.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from .common import Identifier, NamespaceName, utc_now

Operation = Literal[
    "merge_memories",
    "prune_memories",
    "embed_memories",
    "prune_history",
    "merge_entities",
    "dedupe_knowledge",
    "reindex",
    "drop_sessions",
]
# A job's operations when its request names none, the schedule's jobs included: `reindex` embeds
# every indexed item again, so it runs only when asked for.
DEFAULT_OPERATIONS: tuple[Operation, ...] = tuple(op for op in get_args(Operation) if op != "reindex")
ChangeKind = Literal[
    "merge_memories",
    "prune_memory",
    "embed_memories",
    "prune_history",
    "drop_session",
    "merge_entities",
    "prune_facts",
    "merge_insights",
    "reindex",
]
JobStatus = Literal["queued", "running", "done", "failed"]
Trigger = Literal["api", "schedule", "undo"]
Stage = Literal["users", "namespaces", "changes", "done"]


class CurateRequest(BaseModel):
    """`POST /v1/curate`: nothing named means the whole tenant (every user and namespace)."""

    model_config = ConfigDict(extra="forbid")

    user_id: Identifier | None = Field(default=None, description="Curate this user (and their namespace)")
    namespace: NamespaceName | None = Field(default=None, description="Curate this namespace")
    dry_run: bool = Field(default=False, description="Plan every change and record the plan; write nothing")
    operations: list[Operation] | None = Field(
        default=None, min_length=1, description="Default: every operation but reindex"
    )


class JobCursor(BaseModel):
    """Where a job resumes: the stage, the last finished unit, and the position inside a unit."""

    stage: Stage = "users"
    after: str | None = None
    within: str | None = None


class JobProgress(BaseModel):
    units_done: int = 0
    slices: int = 0
    changes: int = 0
    by_kind: dict[str, int] = Field(default_factory=dict)
    conflicts_retried: int = 0


class CurationJob(BaseModel):
    job_id: str
    trigger: Trigger = "api"
    user_id: str | None = None
    namespace: str | None = None
    operations: list[Operation] = Field(default_factory=lambda: list(DEFAULT_OPERATIONS))
    dry_run: bool = False
    undo_of: str | None = None
    status: JobStatus = "queued"
    cursor: JobCursor = Field(default_factory=JobCursor)
    progress: JobProgress = Field(default_factory=JobProgress)
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    finished_at: datetime | None = None
    failures: int = 0
    error: str | None = None
    lease_until: datetime | None = None
    version: int = 1


class CurationChange(BaseModel):
    """One change, recorded in the same transaction that makes it (or alone, in a dry run).

    `before` holds the touched items as they were, so the change can be explained and undone.
    """

    key: str
    kind: ChangeKind
    user_id: str | None = None
    namespace: str | None = None
    kept: str | None = Field(default=None, description="The item kept (the survivor of a merge)")
    removed: list[str] = Field(default_factory=list, description="Items merged away, pruned or dropped")
    reason: str
    before: list[dict[str, Any]] = Field(default_factory=list)
    applied: bool
    undone: bool = False
    undo_note: str | None = None
    at: datetime = Field(default_factory=utc_now)


class JobAccepted(BaseModel):
    job_id: str
    status: JobStatus
    dry_run: bool
