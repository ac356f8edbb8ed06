"""Curation on demand: start a job (or a dry run), follow it, undo it."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ...models.api.curation import JobView
from ...models.curation import CurateRequest, JobAccepted
from .. import deps
from ..errors import not_found
from ..params import ChangeCursor, JobId, Limit
from ..tenancy import tenant_of

router = APIGatewayRouter()


@router.post(
    "/v1/curate",
    tags=["curation"],
    summary="Start curation of a user, a namespace or the whole tenant; answers 202 with the job id",
)
def start_curation(body: CurateRequest) -> Response[JobAccepted]:
    accepted = deps.services().curation.start(tenant_of(router), body)
    return Response(status_code=HTTPStatus.ACCEPTED.value, body=accepted, content_type="application/json")


@router.get(
    "/v1/curate/<job_id>", tags=["curation"], summary="Progress of a job and the changes it planned or made"
)
def get_curation(job_id: JobId, after: ChangeCursor = None, limit: Limit = 100) -> JobView:
    view = deps.services().curation.view(tenant_of(router), job_id, after=after, limit=limit)
    if view is None:
        raise not_found("curation job", ["path", "job_id"])
    return view


@router.post(
    "/v1/curate/<job_id>/undo", tags=["curation"], summary="Undo a finished job's changes (a new job)"
)
def undo_curation(job_id: JobId) -> Response[JobAccepted]:
    accepted = deps.services().curation.undo(tenant_of(router), job_id)
    if accepted is None:
        raise not_found("curation job", ["path", "job_id"])
    return Response(status_code=HTTPStatus.ACCEPTED.value, body=accepted, content_type="application/json")
