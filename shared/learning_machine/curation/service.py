"""Starting, following and undoing curation jobs; the schedule; one slice of work per message."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel

from ..adapters.queue import MessageQueue
from ..core.errors import ConflictError
from ..core.ids import new_id
from ..core.namespaces import resolve
from ..models.api import curation as api_curation
from ..models.curation import DEFAULT_OPERATIONS, CurateRequest, CurationJob, JobAccepted, JobCursor
from ..services.indexing import Indexer
from ..stores.api_keys import ApiKeyStore
from ..stores.config import ConfigStore
from ..stores.curation import JobStore
from .runner import CurationRunner, JobBusyError

logger = logging.getLogger(__name__)


class SliceMessage(BaseModel):
    """What the curation queue carries: which job to work on next."""

    tenant_id: str
    job_id: str


class JobStateError(ConflictError, ValueError):
    """The job cannot be undone (not finished, a dry run, or an undo itself)."""

    argument = "job_id"


@dataclass
class CurationService:
    """Wired by the composition root; the runner and the index are built on first use (API calls that
    start or follow a job never open the index)."""

    configs: ConfigStore
    queue: MessageQueue
    jobs: JobStore
    api_keys: ApiKeyStore
    indexer: Callable[[], Indexer]
    build_runner: Callable[[], CurationRunner]

    @property
    def runner(self) -> CurationRunner:
        return self.build_runner()

    # -- API -----------------------------------------------------------------------------------
    def start(self, tenant: str, request: CurateRequest) -> JobAccepted:
        """Record the job, then queue its first slice (NamespaceError for 'user' without user_id)."""
        namespace = None
        if request.namespace:
            configured = self.configs.get(tenant).config.stores.entity_memory.namespace
            namespace = resolve(request.namespace, configured, request.user_id)
        job = CurationJob(
            job_id=new_id("cj"),
            user_id=request.user_id,
            namespace=namespace,
            operations=list(dict.fromkeys(request.operations or DEFAULT_OPERATIONS)),
            dry_run=request.dry_run,
        )
        return self._launch(tenant, job)

    def view(
        self, tenant: str, job_id: str, after: str | None = None, limit: int = 100
    ) -> api_curation.JobView | None:
        """The API's answer: the job and a page of its changes."""
        job = self.jobs.get(tenant, job_id)
        if job is None:
            return None
        changes, next_token = self.jobs.changes(tenant, job_id, after=after, limit=limit)
        return api_curation.JobView(
            job=api_curation.CurationJob.from_stored(job),
            changes=[api_curation.CurationChange.from_stored(change) for change in changes],
            next_token=next_token,
        )

    def undo(self, tenant: str, job_id: str) -> JobAccepted | None:
        original = self.jobs.get(tenant, job_id)
        if original is None:
            return None
        if original.dry_run or original.undo_of or original.status != "done":
            raise JobStateError(
                f"job {job_id} is {'a dry run' if original.dry_run else original.status}: "
                "only a finished curation run can be undone"
            )
        job = CurationJob(
            job_id=new_id("cj"),
            trigger="undo",
            undo_of=job_id,
            user_id=original.user_id,
            namespace=original.namespace,
            operations=original.operations,
            cursor=JobCursor(stage="changes"),
        )
        return self._launch(tenant, job)

    def _launch(self, tenant: str, job: CurationJob) -> JobAccepted:
        self.jobs.create(tenant, job)
        self.queue.send(SliceMessage(tenant_id=tenant, job_id=job.job_id))
        return JobAccepted(job_id=job.job_id, status=job.status, dry_run=job.dry_run)

    # -- schedule ------------------------------------------------------------------------------
    def run_schedule(self) -> list[str]:
        """For every tenant whose schedule is due: one whole-tenant job; and replay index writes
        that waited in the outbox (a tenant that never writes again still gets them applied)."""
        started: list[str] = []
        for tenant in self.api_keys.active_tenants():
            try:
                self.indexer().drain(tenant)
            except Exception:  # the index may still be down: the outbox keeps the writes
                logger.warning("index outbox of %s not drained", tenant, exc_info=True)
            schedule = self.configs.get(tenant, fresh=True).config.curation.schedule
            if schedule.enabled and self.jobs.claim_schedule(tenant, timedelta(hours=schedule.every_hours)):
                job = CurationJob(job_id=new_id("cj"), trigger="schedule")
                started.append(self._launch(tenant, job).job_id)
        return started

    # -- slices ----------------------------------------------------------------------------------
    def process(self, message: SliceMessage, seconds_left: Callable[[], float]) -> CurationJob | None:
        """One slice; queues the next one while the job is not finished."""
        try:
            job = self.runner.run_slice(message.tenant_id, message.job_id, seconds_left)
        except JobBusyError:
            logger.info("job %s is running in another invocation", message.job_id)
            return None
        except Exception:
            failed = self.jobs.get(message.tenant_id, message.job_id)
            if failed is not None and failed.status == "failed":
                logger.exception("curation job %s failed for good", message.job_id)
                return failed
            raise  # the queue delivers the slice again; the job resumes from its checkpoint
        if job is not None and job.status == "running":
            self.queue.send(message)
        return job
