"""One unit of curation work (a user, or a namespace) and how its changes are committed.

A change and its record in the job commit in one DynamoDB transaction: a change is recorded if
and only if it was made. In a dry run only the record is written, marked as not applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from ..adapters.embeddings.base import Embedder
from ..models.config import CurationConfig, TenantConfig
from ..models.curation import ChangeKind, CurationChange, CurationJob, Operation
from ..models.provenance import Provenance
from ..stores.changes import ChangeSet, WriteConflictError, transact
from ..stores.curation import JobStore


def snapshot(kind: str, item: BaseModel) -> dict[str, Any]:
    """An item as it was, tagged with its kind, for `CurationChange.before`."""
    return {"kind": kind, "item": item.model_dump(mode="json")}


@dataclass
class Unit:
    tenant: str
    job: CurationJob
    index: int
    config: TenantConfig
    jobs: JobStore
    embedder: Embedder
    now: datetime
    write_retries: int = 10
    made: list[CurationChange] = field(default_factory=list)
    conflicts: int = 0
    _vectors: dict[str, list[float]] = field(default_factory=dict)

    @property
    def curation(self) -> CurationConfig:
        return self.config.curation

    @property
    def dry_run(self) -> bool:
        return self.job.dry_run

    def wants(self, operation: Operation) -> bool:
        return operation in self.job.operations

    def days_ago(self, days: int) -> datetime:
        return self.now - timedelta(days=days)

    def provenance(self) -> Provenance:
        return Provenance(source="curation", job_id=self.job.job_id, recorded_at=self.now)

    def retrying(self, plan_and_commit: Callable[[], None]) -> None:
        """Run a step that plans from fresh state; when a concurrent writer wins, plan again."""
        for attempt in range(1, self.write_retries + 1):
            try:
                plan_and_commit()
                return
            except WriteConflictError:
                self.conflicts += 1
                if attempt == self.write_retries:
                    raise

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embedded once per text per unit: a re-plan after a conflict does not embed again."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, self.embedder.embed(missing), strict=True):
                self._vectors[text] = list(vector)
        return [self._vectors[t] for t in texts]

    def change(
        self,
        kind: ChangeKind,
        target: str,
        reason: str,
        *,
        kept: str | None = None,
        removed: Sequence[str] = (),
        before: Sequence[dict[str, Any]] = (),
        user_id: str | None = None,
        namespace: str | None = None,
    ) -> CurationChange:
        return CurationChange(
            key=f"{self.index:08d}#{kind}#{target}",
            kind=kind,
            user_id=user_id,
            namespace=namespace,
            kept=kept,
            removed=list(removed),
            reason=reason,
            before=list(before),
            applied=not self.dry_run,
            at=self.now,
        )

    def commit(self, items: list[dict[str, Any]], change: CurationChange) -> None:
        """Make the change and record it atomically (WriteConflictError if an item moved meanwhile)."""
        if self.dry_run:
            self.jobs.put_change(self.tenant, self.job.job_id, change)
        else:
            transact([*items, self.jobs.change_put(self.tenant, self.job.job_id, change)], "curation")
        self.made.append(change)

    def commit_memory_changes(self, changes: ChangeSet, records: list[CurationChange]) -> None:
        """Memory changes go through the same ChangeSet as extraction (versions and history)."""
        if self.dry_run:
            for record in records:
                self.commit([], record)
            return
        for record in records:
            changes.attach(self.jobs.change_put(self.tenant, self.job.job_id, record))
        changes.commit()
        self.made.extend(records)
