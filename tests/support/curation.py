"""Seeding what curation works on (with chosen times), and running a job to its end in-process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr

from learning_machine.adapters import dynamodb
from learning_machine.api import deps
from learning_machine.core.memory_rules import new_memory_id, revise
from learning_machine.curation.service import CurationService
from learning_machine.models.common import Layer
from learning_machine.models.curation import CurateRequest, CurationJob
from learning_machine.models.memories import Memory
from learning_machine.models.provenance import Provenance
from learning_machine.settings import get_settings
from learning_machine.stores.changes import ChangeSet, MemoryVectors


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def seed_memory(
    tenant: str,
    user: str,
    content: str,
    *,
    layer: Layer = Layer.KNOWLEDGE,
    at: datetime | None = None,
    confirmations: int = 0,
    transcript_id: str | None = None,
    polarity: str | None = None,
    embedded: bool = True,
) -> Memory:
    """A memory written at `at` (default now), as extraction would have written it then: with its
    vector, unless `embedded` is False (a memory written before memories were embedded)."""
    at = at or datetime.now(UTC)
    memory = Memory(
        memory_id=new_memory_id(),
        user_id=user,
        layer=layer,
        content=content,
        polarity=polarity,  # type: ignore[arg-type]
        created_at=at,
        updated_at=at,
        valid_from=at,
        confirmations=confirmations,
        last_confirmed_at=at if confirmations else None,
        provenance=Provenance(source="extraction", transcript_id=transcript_id, recorded_at=at),
    )
    vectors = MemoryVectors(deps.services().indexer.embedder.embed) if embedded else None
    changes = ChangeSet(get_settings().data_table, tenant, user, vectors)
    changes.add_memory(memory)
    changes.register_user()
    changes.commit()
    return memory


def revise_memory(tenant: str, user: str, current: Memory, content: str, at: datetime) -> Memory:
    """The next version of a memory, as if a transcript at `at` changed it."""
    updated = revise(current, Provenance(source="extraction", recorded_at=at), content=content)
    changes = ChangeSet(get_settings().data_table, tenant, user)
    changes.update_memory(current, updated)
    changes.commit()
    return updated


def delete_memory(tenant: str, user: str, current: Memory, at: datetime) -> None:
    changes = ChangeSet(get_settings().data_table, tenant, user)
    changes.delete_memory(current, Provenance(source="api", recorded_at=at))
    changes.commit()


def service() -> CurationService:
    return deps.services().curation


def start(tenant: str, **request: Any) -> str:
    return service().start(tenant, CurateRequest(**request)).job_id


def run_to_end(tenant: str, job_id: str, max_slices: int = 100) -> CurationJob:
    """Slices until the job is done (as the queue would deliver them, one after another)."""
    curation = service()
    for _ in range(max_slices):
        job = curation.runner.run_slice(tenant, job_id, lambda: 60.0)
        assert job is not None
        if job.status in ("done", "failed"):
            return job
    raise AssertionError(f"job {job_id} not done after {max_slices} slices")


def curate(tenant: str, **request: Any) -> CurationJob:
    return run_to_end(tenant, start(tenant, **request))


def tenant_items(tenant: str, *, without_jobs: bool = True) -> list[dict[str, Any]]:
    """Every item of the tenant in the data table (curation's own job records left out)."""
    table = dynamodb.table(get_settings().data_table)
    found = table.scan(FilterExpression=Attr("pk").begins_with(f"T#{tenant}#")).get("Items", [])
    if without_jobs:
        found = [i for i in found if not str(i["pk"]).startswith(f"T#{tenant}#CURATE")]
    return sorted(found, key=lambda i: (str(i["pk"]), str(i["sk"])))
