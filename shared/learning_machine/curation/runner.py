"""Runs a curation job in bounded slices that resume where the last one stopped.

A job walks units in a fixed order: users (one unit each), then namespaces (a unit may span
slices: knowledge is deduplicated in chunks), or, for an undo job, the changes of the job it
undoes. The job record holds the cursor and a lease: one slice at a time works on a job, each
unit is checkpointed when done, and a slice stops while time is left, so a job of any size ends
after enough invocations. A unit cut short is planned again from the current state: what it
already did is not found again, so nothing happens twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from ..adapters.embeddings.base import Embedder
from ..core.namespaces import USER_PREFIX
from ..models.common import utc_now
from ..models.config import TenantConfig
from ..models.curation import CurationJob, JobCursor
from ..stores.changes import WriteConflictError
from ..stores.curation import JobStore
from ..stores.registry import Registry
from .memories import MemoryCuration
from .namespace import NamespaceCuration
from .sessions import SessionCuration
from .undo import Undo
from .unit import Unit

logger = logging.getLogger(__name__)

USER_OPERATIONS = {"merge_memories", "prune_memories", "embed_memories", "prune_history", "drop_sessions"}
NAMESPACE_OPERATIONS = {"merge_entities", "dedupe_knowledge", "reindex", "prune_history"}
UNDO_PAGE = 25


class JobBusyError(Exception):
    """Another slice holds the job's lease."""


@dataclass
class CurationRunner:
    jobs: JobStore
    registry: Registry
    config_for: Callable[[str], TenantConfig]
    memories: MemoryCuration
    sessions: SessionCuration
    namespaces: Callable[[], NamespaceCuration]
    embedder: Callable[[], Embedder]
    undo: Callable[[], Undo]
    units_per_slice: int = 200
    lease_seconds: int = 900
    write_retries: int = 10

    def run_slice(self, tenant: str, job_id: str, seconds_left: Callable[[], float]) -> CurationJob | None:
        """Work on the job until it is done, `units_per_slice` units are done, or time runs short."""
        job = self.jobs.get(tenant, job_id)
        if job is None or job.status in ("done", "failed"):
            return job
        now = utc_now()
        if job.lease_until is not None and job.lease_until > now:
            raise JobBusyError(job_id)
        progress = job.progress.model_copy(update={"slices": job.progress.slices + 1})
        try:
            job = self.jobs.save(
                tenant,
                job.model_copy(
                    update={
                        "status": "running",
                        "lease_until": now + timedelta(seconds=self.lease_seconds),
                        "progress": progress,
                    }
                ),
            )
        except WriteConflictError as error:
            raise JobBusyError(job_id) from error
        config = self.config_for(tenant)
        done_units = 0
        try:
            while True:  # at least one unit per slice, so every slice makes progress
                job = self._step(tenant, job, config)
                done_units += 1
                if job.cursor.stage == "done" or done_units >= self.units_per_slice or seconds_left() <= 0:
                    break
        except Exception as error:
            job = self.jobs.get(tenant, job_id) or job
            failures = job.failures + 1
            self.jobs.save(
                tenant,
                job.model_copy(
                    update={
                        "failures": failures,
                        "error": f"{type(error).__name__}: {error}"[:1_000],
                        "lease_until": None,
                        "status": "failed" if failures >= 3 else job.status,
                    }
                ),
            )
            raise
        finished = job.cursor.stage == "done"
        return self.jobs.save(
            tenant,
            job.model_copy(
                update={
                    "lease_until": None,
                    "status": "done" if finished else "running",
                    "finished_at": utc_now() if finished else None,
                }
            ),
        )

    # -- one unit ------------------------------------------------------------------------------
    def _step(self, tenant: str, job: CurationJob, config: TenantConfig) -> CurationJob:
        """Do the next unit (or the next part of one) and checkpoint it."""
        cursor = job.cursor
        if cursor.stage == "changes":
            return self._undo_step(tenant, job)
        unit = Unit(
            tenant=tenant,
            job=job,
            index=job.progress.units_done,
            config=config,
            jobs=self.jobs,
            embedder=self.embedder(),
            now=utc_now(),
            write_retries=self.write_retries,
        )
        within: str | None = None
        if cursor.stage == "users":
            user = self._next_user(tenant, job)
            if user is None:
                return self._checkpoint(tenant, job, unit, JobCursor(stage="namespaces"), unit_done=False)
            self.memories.run(unit, user)
            self.sessions.run(unit, user)
            next_cursor = JobCursor(stage="users", after=user)
        else:
            namespace = self._next_namespace(tenant, job)
            if namespace is None:
                return self._checkpoint(tenant, job, unit, JobCursor(stage="done"), unit_done=False)
            within = self.namespaces().run(unit, namespace, cursor.within)
            next_cursor = JobCursor(
                stage="namespaces",
                after=cursor.after if within else namespace,
                within=within,
            )
        return self._checkpoint(tenant, job, unit, next_cursor, unit_done=within is None)

    def _checkpoint(
        self, tenant: str, job: CurationJob, unit: Unit, cursor: JobCursor, unit_done: bool
    ) -> CurationJob:
        by_kind = dict(job.progress.by_kind)
        for change in unit.made:
            by_kind[change.kind] = by_kind.get(change.kind, 0) + 1
        progress = job.progress.model_copy(
            update={
                "units_done": job.progress.units_done + (1 if unit_done else 0),
                "changes": job.progress.changes + len(unit.made),
                "by_kind": by_kind,
                "conflicts_retried": job.progress.conflicts_retried + unit.conflicts,
            }
        )
        return self.jobs.save(tenant, job.model_copy(update={"cursor": cursor, "progress": progress}))

    def _next_user(self, tenant: str, job: CurationJob) -> str | None:
        if not USER_OPERATIONS & set(job.operations):
            return None
        after = job.cursor.after
        if job.user_id is not None:
            return job.user_id if after is None else None
        if job.namespace is not None:
            return None  # a namespace job touches no user's memories
        page = self.registry.users(tenant, after=after, limit=1)
        return page[0] if page else None

    def _next_namespace(self, tenant: str, job: CurationJob) -> str | None:
        if not NAMESPACE_OPERATIONS & set(job.operations):
            return None
        after = job.cursor.after  # an unfinished namespace (cursor.within set) is still the next one
        if job.user_id is not None or job.namespace is not None:
            explicit = [job.namespace] if job.namespace else [f"{USER_PREFIX}{job.user_id}"]
            remaining = [n for n in explicit if after is None or n > after]
            return remaining[0] if remaining else None
        page = self.registry.namespaces(tenant, after=after, limit=1)
        return page[0] if page else None

    # -- undo ----------------------------------------------------------------------------------
    def _undo_step(self, tenant: str, job: CurationJob) -> CurationJob:
        assert job.undo_of is not None
        changes, _ = self.jobs.changes(tenant, job.undo_of, after=job.cursor.after, limit=UNDO_PAGE)
        if not changes:
            return self.jobs.save(tenant, job.model_copy(update={"cursor": JobCursor(stage="done")}))
        by_kind = dict(job.progress.by_kind)
        undo = self.undo()
        for change in changes:
            outcome = undo.revert(tenant, job, change)
            by_kind[outcome] = by_kind.get(outcome, 0) + 1
        progress = job.progress.model_copy(
            update={
                "units_done": job.progress.units_done + 1,
                "changes": job.progress.changes + len(changes),
                "by_kind": by_kind,
            }
        )
        cursor = JobCursor(stage="changes", after=changes[-1].key)
        return self.jobs.save(tenant, job.model_copy(update={"cursor": cursor, "progress": progress}))
