"""Curation jobs, their change records and the per-tenant schedule, in the data table."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, Key
from botocore.exceptions import ClientError

from ..adapters import dynamodb
from ..models.common import utc_now
from ..models.curation import CurationChange, CurationJob
from .changes import WriteConflictError
from .keys import SCHEDULE_SK, curation_pk, job_changes_pk, job_sk


class JobStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    # -- jobs -------------------------------------------------------------------------------
    def create(self, tenant: str, job: CurationJob) -> None:
        dynamodb.table(self._table).put_item(
            Item=dynamodb.item(curation_pk(tenant), job_sk(job.job_id), job, job.version),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, tenant: str, job_id: str) -> CurationJob | None:
        raw = dynamodb.table(self._table).get_item(
            Key={"pk": curation_pk(tenant), "sk": job_sk(job_id)}, ConsistentRead=True
        )
        return dynamodb.load(CurationJob, raw["Item"]) if "Item" in raw else None

    def save(self, tenant: str, job: CurationJob) -> CurationJob:
        """Write the next version of the job; WriteConflictError if another slice wrote meanwhile."""
        saved = job.model_copy(update={"version": job.version + 1, "updated_at": utc_now()})
        item = dynamodb.item(curation_pk(tenant), job_sk(job.job_id), saved, saved.version)
        if not dynamodb.put_if_version(self._table, item, job.version):
            raise WriteConflictError(job.job_id)
        return saved

    # -- change records ----------------------------------------------------------------------
    def change_put(self, tenant: str, job_id: str, change: CurationChange) -> dict[str, Any]:
        """The record as a transaction item, so a change and its record commit together.

        Keyed by unit, kind and target: a unit redone after a crash overwrites, never duplicates."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": dynamodb.item(job_changes_pk(tenant, job_id), change.key, change, 1),
            }
        }

    def put_change(self, tenant: str, job_id: str, change: CurationChange) -> None:
        dynamodb.table(self._table).put_item(
            Item=dynamodb.item(job_changes_pk(tenant, job_id), change.key, change, 1)
        )

    def changes(
        self, tenant: str, job_id: str, after: str | None = None, limit: int = 100
    ) -> tuple[list[CurationChange], str | None]:
        condition: ConditionBase = Key("pk").eq(job_changes_pk(tenant, job_id))
        if after:
            condition = condition & Key("sk").gt(after)
        page = dynamodb.table(self._table).query(KeyConditionExpression=condition, Limit=limit)
        changes = [dynamodb.load(CurationChange, raw) for raw in page.get("Items", [])]
        more = "LastEvaluatedKey" in page and changes
        return changes, changes[-1].key if more else None

    # -- schedule ------------------------------------------------------------------------------
    def claim_schedule(self, tenant: str, every: timedelta, now: datetime | None = None) -> bool:
        """Mark a scheduled run as started when the last one is at least `every` old.

        Conditional, so two schedule invocations at once start one job, not two."""
        now = now or utc_now()
        try:
            dynamodb.table(self._table).put_item(
                Item={"pk": curation_pk(tenant), "sk": SCHEDULE_SK, "last_run": now.isoformat()},
                ConditionExpression="attribute_not_exists(pk) OR last_run <= :due",
                ExpressionAttributeValues={":due": (now - every).isoformat()},
            )
        except ClientError as error:
            if dynamodb.is_conditional_failure(error):
                return False
            raise
        return True
