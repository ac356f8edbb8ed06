"""POST /v1/transcripts (202, queued) and GET /v1/transcripts/{id} (status)."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ...models.api.transcripts import TranscriptStatus
from ...models.limits import LimitExceeded
from ...models.transcripts import TranscriptAccepted, TranscriptIn
from .. import deps
from ..errors import not_found
from ..params import TranscriptId
from ..tenancy import tenant_of

router = APIGatewayRouter()


@router.post(
    "/v1/transcripts",
    tags=["transcripts"],
    summary="Send a transcript to learn from",
    responses={
        200: {"description": "A duplicate of an accepted transcript: nothing changes"},
        202: {"description": "Accepted: queued to learn from"},
        429: {
            "description": "A limit of the tenant refuses it (nothing kept); retry after Retry-After seconds",
            "content": {"application/json": {"model": LimitExceeded}},
        },
    },
)
def post_transcript(transcript: TranscriptIn) -> Response[TranscriptAccepted]:
    accepted = deps.services().intake.accept(tenant_of(router), transcript)
    status = HTTPStatus.OK if accepted.duplicate else HTTPStatus.ACCEPTED
    return Response(status_code=status.value, body=accepted, content_type="application/json")


@router.get("/v1/transcripts/<transcript_id>", tags=["transcripts"], summary="Status, operations and tokens")
def get_transcript(transcript_id: TranscriptId) -> TranscriptStatus:
    status = deps.services().transcript_store.get(tenant_of(router), transcript_id)
    if status is None:
        raise not_found("transcript", ["path", "transcript_id"])
    return TranscriptStatus.from_stored(status)
