"""GET /v1/sessions/{session_id}/context."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ...models.api.sessions import SessionContext
from .. import deps
from ..errors import not_found
from ..params import SessionId
from ..tenancy import tenant_of

router = APIGatewayRouter()


@router.get("/v1/sessions/<session_id>/context", tags=["sessions"])
def session_context(session_id: SessionId) -> SessionContext:
    session = deps.services().session_store.get(tenant_of(router), session_id)
    if session is None:
        raise not_found("session", ["path", "session_id"])
    return SessionContext.from_stored(session)
