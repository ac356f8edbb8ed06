"""Accepting a transcript: record it as queued, then put it on the queue, or answer an error.

Once this returns, the transcript is on the queue: if the send fails the status record is
removed again, so the client's retry with the same transcript_id starts clean. The same holds
when a quota refuses it (QuotaExceededError, a 429): nothing is kept or enqueued, and the count
taken against the day's quota is given back when the send fails.
Each message's group is its tenant: on an SQS fair queue a tenant's backlog does not hold up the
other tenants' transcripts.
Secrets are redacted here, first: the status record, the queue, the DLQ, the model prompt and
everything learned from the transcript only ever see the redacted text.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass

from ..adapters.queue import MessageQueue
from ..core.errors import TooLargeError, UnavailableError
from ..core.redaction import redact
from ..models.common import utc_now
from ..models.transcripts import (
    MetadataValue,
    TranscriptAccepted,
    TranscriptEnvelope,
    TranscriptIn,
    TranscriptStatus,
)
from ..stores.transcripts import TranscriptStore
from .quotas import Quotas

# SQS refuses larger messages. Only a body full of short secrets grows past it once redacted.
MAX_QUEUE_MESSAGE_BYTES = 256 * 1024


class QueueUnavailableError(UnavailableError):
    """The queue refused the transcript; nothing was kept, the client should retry."""

    what = "the queue"


class TranscriptTooLargeError(TooLargeError, ValueError):
    """The redacted transcript does not fit in one queue message; nothing was kept."""

    def __init__(self, size: int) -> None:
        limit = MAX_QUEUE_MESSAGE_BYTES
        super().__init__(f"the transcript is {size} bytes once secrets are redacted; the limit is {limit}")


@dataclass
class TranscriptIntake:
    transcripts: TranscriptStore
    queue: MessageQueue
    quotas: Quotas | None = None

    def accept(self, tenant: str, transcript: TranscriptIn) -> TranscriptAccepted:
        transcript_id = transcript.transcript_id or f"tr_{uuid.uuid4().hex}"
        transcript, kinds = redacted(transcript.model_copy(update={"transcript_id": transcript_id}))
        envelope = TranscriptEnvelope(tenant_id=tenant, transcript_id=transcript_id, transcript=transcript)
        size = len(envelope.model_dump_json().encode())
        if size > MAX_QUEUE_MESSAGE_BYTES:
            raise TranscriptTooLargeError(size)
        status = TranscriptStatus(
            transcript_id=transcript_id,
            user_id=transcript.user_id,
            session_id=transcript.session_id,
            status="queued",
            received_at=envelope.received_at,
            redacted=dict(Counter(kinds)),
        )
        existing = self.transcripts.create(tenant, status)
        if existing is not None:
            return TranscriptAccepted(transcript_id=transcript_id, status=existing.status, duplicate=True)
        counted_on = None
        if self.quotas is not None:
            try:
                counted_on = self.quotas.admit_transcript(tenant, utc_now())
            except Exception:
                self.transcripts.delete(tenant, transcript_id)
                raise
        try:
            self.queue.send(envelope, group=tenant)
        except Exception as error:
            self.transcripts.delete(tenant, transcript_id)
            if self.quotas is not None and counted_on is not None:
                self.quotas.refund(tenant, counted_on)
            raise QueueUnavailableError(str(error)) from error
        return TranscriptAccepted(transcript_id=transcript_id, status="queued")


def redacted(transcript: TranscriptIn) -> tuple[TranscriptIn, list[str]]:
    """The transcript with secrets redacted from every message and metadata text, and their kinds."""
    kinds: list[str] = []

    def clean(text: str) -> str:
        text, found = redact(text)
        kinds.extend(found)
        return text

    messages = [m.model_copy(update={"content": clean(m.content)}) for m in transcript.messages]
    metadata: dict[str, MetadataValue] = {
        key: clean(value) if isinstance(value, str) else value for key, value in transcript.metadata.items()
    }
    return transcript.model_copy(update={"messages": messages, "metadata": metadata}), kinds
