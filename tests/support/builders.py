"""Small builders for transcripts and model replies used across tests."""

from __future__ import annotations

from typing import Any

from learning_machine.models.common import Layer
from learning_machine.models.extraction import (
    EntityOp,
    EntityOperation,
    ExtractionResult,
    KnowledgeOperation,
    MemoryOperation,
    ProfileFieldUpdate,
    SessionUpdate,
)
from learning_machine.models.transcripts import TranscriptEnvelope, TranscriptIn


def transcript(
    text: str = "hello",
    *,
    user: str = "u1",
    session: str = "s1",
    transcript_id: str | None = "t1",
    **extra: Any,
) -> TranscriptIn:
    return TranscriptIn(
        transcript_id=transcript_id,
        user_id=user,
        session_id=session,
        messages=[{"role": "user", "content": text}, {"role": "assistant", "content": "Noted."}],  # type: ignore[list-item]
        **extra,
    )


def envelope(tenant: str = "acme", **kwargs: Any) -> TranscriptEnvelope:
    t = transcript(**kwargs)
    return TranscriptEnvelope(tenant_id=tenant, transcript_id=t.transcript_id or "t1", transcript=t)


def op(
    kind: str,
    content: str | None = None,
    *,
    layer: Layer | None = None,
    memory_id: str | None = None,
    category: str | None = None,
    polarity: str | None = None,
) -> MemoryOperation:
    return MemoryOperation(
        op=kind,  # type: ignore[arg-type]
        memory_id=memory_id,
        layer=layer,
        category=category,
        content=content,
        polarity=polarity,  # type: ignore[arg-type]
        turn_index=0,
    )


def result(
    *operations: MemoryOperation,
    fields: dict[str, str | None] | None = None,
    summary: str | None = "Talked.",
    goal: str | None = None,
    plan: list[str] | None = None,
    progress: list[str] | None = None,
    entities: list[EntityOperation] | None = None,
    insights: list[KnowledgeOperation] | None = None,
) -> ExtractionResult:
    return ExtractionResult(
        memory_operations=list(operations),
        profile_updates=[
            ProfileFieldUpdate(field=k, value=v, turn_index=0) for k, v in (fields or {}).items()
        ],
        session=None
        if summary is None
        else SessionUpdate(summary=summary, goal=goal, plan=plan or [], progress=progress or []),
        entity_operations=entities or [],
        knowledge_operations=insights or [],
    )


def entity_op(kind: EntityOp, entity: str, content: str | None = None, **fields: Any) -> EntityOperation:
    return EntityOperation.of(kind, entity, 0, content=content, **fields)


def insight(title: str, content: str, *, tags: list[str] | None = None) -> KnowledgeOperation:
    return KnowledgeOperation(title=title, content=content, context=None, tags=tags or [], turn_index=0)
