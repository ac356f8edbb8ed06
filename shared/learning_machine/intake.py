"""Accepting a transcript: record it as queued, then put it on the queue, or answer an error.

Once this returns, the transcript is on the queue: if the send fails the status record is
removed again, so the client's retry with the same transcript_id starts clean.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .adapters.queue import TranscriptQueue
from .models.transcripts import TranscriptAccepted, TranscriptEnvelope, TranscriptIn, TranscriptStatus
from .stores.transcripts import TranscriptStore


class QueueUnavailableError(Exception):
    """The queue refused the transcript; nothing was kept, the client should retry."""


@dataclass
class TranscriptIntake:
    transcripts: TranscriptStore
    queue: TranscriptQueue

    def accept(self, tenant: str, transcript: TranscriptIn) -> TranscriptAccepted:
        transcript_id = transcript.transcript_id or f"tr_{uuid.uuid4().hex}"
        transcript = transcript.model_copy(update={"transcript_id": transcript_id})
        envelope = TranscriptEnvelope(tenant_id=tenant, transcript_id=transcript_id, transcript=transcript)
        status = TranscriptStatus(
            transcript_id=transcript_id,
            user_id=transcript.user_id,
            session_id=transcript.session_id,
            status="queued",
            received_at=envelope.received_at,
        )
        existing = self.transcripts.create(tenant, status)
        if existing is not None:
            return TranscriptAccepted(transcript_id=transcript_id, status=existing.status, duplicate=True)
        try:
            self.queue.send(envelope)
        except Exception as error:
            self.transcripts.delete(tenant, transcript_id)
            raise QueueUnavailableError(str(error)) from error
        return TranscriptAccepted(transcript_id=transcript_id, status="queued")
