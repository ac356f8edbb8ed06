"""Learn from one transcript: one model call for every ALWAYS store, applied atomically.

The model is called once; if the write then meets a concurrent writer, only the state is
reloaded and the same operations are re-applied, so a conflict never costs a second call.
The transcript's status becomes `done` in the same transaction as the user's memory, profile
and session changes, so a second delivery can never apply them twice. Entity memory and learned
knowledge live in other items and the index: they are applied just before that transaction and
are idempotent (see indexed_stores), so a failure in between leaves the transcript to be retried.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from ..adapters.embeddings.base import EMBEDDING_METER
from ..adapters.llm.base import ExtractionModel, ModelError
from ..core.memory_rules import Origin
from ..core.ranking import estimate_tokens, rank_memories, take_within_budget
from ..models.common import Role, utc_now
from ..models.config import TenantConfig
from ..models.extraction import ExtractionRequest, ModelReply, NumberedMessage
from ..models.memories import Memory
from ..models.profile import STANDARD_FIELDS
from ..models.sessions import SessionContext
from ..models.transcripts import TranscriptEnvelope, TranscriptStatus
from ..stores.changes import AlreadyAppliedError, ChangeSet, MemoryVectors, commit_with_retry
from ..stores.config import ConfigStore
from ..stores.sessions import SessionStore
from ..stores.transcripts import TranscriptStore
from ..stores.usage import UsageStore
from ..stores.user_memory import UserMemoryStore, UserState
from .apply import memory_texts, plan_extraction, profile_options, profile_schema
from .indexed_stores import IndexedStores, Outcome, apply_indexed, relevant_entities

logger = logging.getLogger(__name__)

# Tokens per memory line in the prompt beyond its text (id, layer, category).
MEMORY_LINE_OVERHEAD = 12


class MetricsSink(Protocol):
    """What the pipeline reports; Powertools' Metrics satisfies it."""

    def add_metric(self, name: str, unit: str, value: float) -> None: ...


class NullMetrics:
    def add_metric(self, name: str, unit: str, value: float) -> None:
        return None


class SessionOwnershipError(Exception):
    """The session id already belongs to another user of the tenant: refuse rather than mix them."""


@dataclass
class Stores:
    table: str
    config: ConfigStore
    users: UserMemoryStore
    sessions: SessionStore
    transcripts: TranscriptStore
    # Daily usage counters (GET /v1/usage); a failure on attempt `max_attempts` counts as failed.
    usage: UsageStore | None = None
    max_attempts: int = 3


class ExtractionPipeline:
    """Without `indexed` stores, entity memory and learned knowledge are simply not learned."""

    def __init__(
        self,
        stores: Stores,
        model: ExtractionModel,
        write_retries: int,
        metrics: MetricsSink | None = None,
        indexed: IndexedStores | None = None,
    ) -> None:
        self.stores = stores
        self.model = model
        self.write_retries = write_retries
        self.metrics = metrics or NullMetrics()
        self.indexed = indexed
        self._embedding_start = 0  # the meter's count when the current transcript began

    def process(self, envelope: TranscriptEnvelope) -> TranscriptStatus:
        tenant = envelope.tenant_id
        existing = self.stores.transcripts.get(tenant, envelope.transcript_id)
        if existing and existing.status == "done":
            logger.info("transcript already learned", extra={"transcript_id": envelope.transcript_id})
            return existing
        status = (existing or self._queued(envelope)).model_copy(
            update={
                "status": "processing",
                "attempts": (existing.attempts if existing else 0) + 1,
                "error": None,
            }
        )
        self.stores.transcripts.mark(tenant, status)

        try:
            return self._learn(envelope, status)
        except Exception as error:
            # The record fails (and is retried, then dead-lettered); the status says why.
            self.stores.transcripts.mark(tenant, self.stores.transcripts.failed(status, error))
            if self.stores.usage is not None and status.attempts >= self.stores.max_attempts:
                self.stores.usage.add(tenant, utc_now().date(), transcripts_failed=1)
            if isinstance(error, ModelError):
                self.metrics.add_metric("ModelFailures", "Count", 1)
            raise

    def _learn(self, envelope: TranscriptEnvelope, status: TranscriptStatus) -> TranscriptStatus:
        tenant = envelope.tenant_id
        self._embedding_start = EMBEDDING_METER.tokens
        config = self.stores.config.get(tenant).config
        if not learns_anything(config, self.indexed):
            return self._finish(envelope, status, config, reply=None)

        state = self.stores.users.load(tenant, envelope.transcript.user_id)
        session = self._session(tenant, envelope)
        request = build_request(envelope, config, state, session, self.indexed)
        reply = screen_invented_ids(self.model.extract(request), request)
        self.metrics.add_metric("ModelCalls", "Count", reply.calls)
        if reply.calls > 1:
            self.metrics.add_metric("RepairCalls", "Count", reply.calls - 1)
        self.metrics.add_metric("PromptTokens", "Count", reply.usage.prompt_tokens)
        return self._finish(envelope, status, config, reply, state, session)

    def _finish(
        self,
        envelope: TranscriptEnvelope,
        status: TranscriptStatus,
        config: TenantConfig,
        reply: ModelReply | None,
        state: UserState | None = None,
        session: SessionContext | None = None,
    ) -> TranscriptStatus:
        tenant = envelope.tenant_id
        transcript = envelope.transcript
        now = utc_now()
        origin = Origin(
            source="extraction",
            transcript_id=envelope.transcript_id,
            model=reply.model if reply else None,
            at=now,
        )
        indexed = Outcome()
        if reply is not None and self.indexed is not None:
            # Before the transaction that marks the transcript done: if this fails, it is retried.
            indexed = apply_indexed(
                reply.result,
                stores=self.indexed,
                tenant=tenant,
                user_id=transcript.user_id,
                config=config,
                origin=origin,
                reference=transcript.occurred_at or envelope.received_at,
                memory_texts=memory_texts(reply.result) if config.stores.user_profile.always else (),
            )
        fresh_read = True
        done = status
        # Memory texts were embedded with the entities and insights (one call per transcript); a
        # text only a retry's re-plan produces is embedded at commit.
        embedder = self.indexed.embedder if self.indexed else None
        vectors = MemoryVectors(
            (lambda texts: embedder().embed(texts)) if embedder else None, indexed.memory_vectors
        )

        def build() -> ChangeSet:
            nonlocal done, fresh_read
            # The first attempt reuses what was read before the model call; retries reload.
            current_state = (
                state
                if fresh_read and state
                else self.stores.users.load(tenant, transcript.user_id, consistent=True)
            )
            current_session = session if fresh_read else self._session(tenant, envelope)
            fresh_read = False
            changes = ChangeSet(self.stores.table, tenant, transcript.user_id, vectors)
            skipped: list[str] = []
            if reply is not None:
                skipped = plan_extraction(
                    reply.result,
                    changes=changes,
                    state=current_state,
                    session=current_session,
                    session_id=transcript.session_id,
                    config=config,
                    origin=origin,
                ).skipped
            done = status.model_copy(
                update={
                    "status": "done",
                    "completed_at": now,
                    "model": reply.model if reply else None,
                    "usage": reply.usage if reply else status.usage,
                    "model_calls": reply.calls if reply else 0,
                    "repair_calls": reply.calls - 1 if reply else 0,
                    "first_reply_error": reply.first_reply_error if reply else None,
                    "operations": [*changes.applied, *indexed.applied],
                    "skipped": [*(reply.dropped if reply else []), *skipped, *indexed.skipped],
                    "held": reply.held if reply else [],
                }
            )
            changes.complete_transcript(done)
            if not current_state.exists:  # curation walks the tenant's users from this registry
                changes.register_user()
            embedded = EMBEDDING_METER.tokens - self._embedding_start
            changes.add_usage(reply.usage if reply else None, reply.calls if reply else 0, now, embedded)
            return changes

        def on_retry(attempt: int) -> None:
            self.metrics.add_metric("WriteConflictRetries", "Count", 1)
            logger.info("write conflict, re-applying", extra={"attempt": attempt})

        try:
            commit_with_retry(build, self.write_retries, on_retry)
        except AlreadyAppliedError:
            return self.stores.transcripts.get(tenant, envelope.transcript_id) or done
        self.metrics.add_metric("TranscriptsLearned", "Count", 1)
        return done

    def _session(self, tenant: str, envelope: TranscriptEnvelope) -> SessionContext | None:
        session = self.stores.sessions.get(tenant, envelope.transcript.session_id)
        if session and session.user_id != envelope.transcript.user_id:
            raise SessionOwnershipError(f"session {session.session_id} belongs to another user")
        return session

    @staticmethod
    def _queued(envelope: TranscriptEnvelope) -> TranscriptStatus:
        return TranscriptStatus(
            transcript_id=envelope.transcript_id,
            user_id=envelope.transcript.user_id,
            session_id=envelope.transcript.session_id,
            status="queued",
            received_at=envelope.received_at,
        )


def learns_anything(config: TenantConfig, indexed: IndexedStores | None) -> bool:
    stores = config.stores
    always = [stores.user_profile.always, stores.session_context.always]
    if indexed is not None:
        always += [stores.entity_memory.always, stores.learned_knowledge.always]
    return any(always)


def build_request(
    envelope: TranscriptEnvelope,
    config: TenantConfig,
    state: UserState,
    session: SessionContext | None,
    indexed: IndexedStores | None = None,
) -> ExtractionRequest:
    """The model's input: the transcript, the profile, the relevant memories under a budget, and
    (one index query) the relevant entities with their current facts."""
    transcript = envelope.transcript
    profile_store = config.stores.user_profile
    session_store = config.stores.session_context
    entity_store = config.stores.entity_memory
    knowledge_store = config.stores.learned_knowledge
    layers = profile_store.enabled_layers() if profile_store.always else []
    text = "\n".join(m.content for m in transcript.messages)
    candidates = [m for m in state.memories if m.layer in layers]
    relevant, _ = take_within_budget(
        rank_memories(candidates, text),
        config.extraction.memory_budget_tokens,
        lambda m: memory_prompt_tokens(m),
    )
    learn_entities = indexed is not None and entity_store.always
    learn_knowledge = indexed is not None and knowledge_store.always
    entities = (
        relevant_entities(indexed.entities(), envelope.tenant_id, config, transcript.user_id, text)
        if indexed is not None and learn_entities
        else []
    )
    return ExtractionRequest(
        transcript_id=envelope.transcript_id,
        occurred_at=transcript.occurred_at or envelope.received_at,
        messages=[NumberedMessage(turn_index=i, **m.model_dump()) for i, m in enumerate(transcript.messages)],
        profile_fields=state.profile.fields,
        profile_schema=profile_schema(config),
        profile_options=profile_options(config),
        memories=relevant,
        memories_total=len(state.memories),
        previous_session=session if session_store.always else None,
        learn_profile=profile_store.always,
        layers=layers,
        layer_prompts={
            layer: c.prompt for layer, c in profile_store.layers.items() if c.prompt and c.enabled
        },
        profile_prompt=profile_store.prompt,
        learn_session=session_store.always,
        planning=session_store.planning,
        session_prompt=session_store.prompt,
        learn_entities=learn_entities,
        entity_prompt=entity_store.prompt if learn_entities else None,
        entities=entities,
        learn_knowledge=learn_knowledge,
        knowledge_prompt=knowledge_store.prompt if learn_knowledge else None,
    )


def screen_invented_ids(reply: ModelReply, request: ExtractionRequest) -> ModelReply:
    """Operations on a memory or fact the prompt did not show, standard profile values nobody
    said, and new memories that only repeat a profile value of the same reply, are dropped and
    reported.

    The model can only know the ids it was shown; any other id is invented (or copied from
    elsewhere in the prompt), and applying it could change a memory the transcript never spoke of.
    """
    shown_memories = {memory.memory_id for memory in request.memories if memory.layer in request.layers}
    shown_facts = {fact.fact_id for entity in request.entities for fact in entity.facts}
    result = reply.result
    dropped: list[str] = []
    memory_ops = []
    for op in result.memory_operations:
        if op.op != "add" and op.memory_id not in shown_memories:
            dropped.append(
                f"{op.op} of invented memory id {str(op.memory_id)[:40]!r} (not shown to the model)"
            )
        else:
            memory_ops.append(op)
    entity_ops = []
    for entity_op in result.entity_operations:
        if entity_op.op == "supersede_fact" and entity_op.fact_id not in shown_facts:
            dropped.append(f"supersede_fact of invented fact id {str(entity_op.fact_id)[:40]!r} (not shown)")
        else:
            entity_ops.append(entity_op)
    said = " ".join(message.content for message in request.messages if message.role == Role.USER).lower()
    profile_updates = []
    for update in result.profile_updates:
        if update.field in STANDARD_FIELDS and update.value is not None and not _was_said(update.value, said):
            dropped.append(f"profile field {update.field}: a value nobody said in the transcript")
        else:
            profile_updates.append(update)
    repeats = {
        _normal(update.value): f"profile field {update.field}" for update in profile_updates if update.value
    }
    kept_ops = []
    for op in memory_ops:
        repeated = repeats.get(_normal(op.content or "")) if op.op == "add" else None
        if op.op == "add" and _FIELD_SHAPED.match(op.content or ""):
            name = (op.content or "").split(":")[0].strip().lower()
            repeated = f"profile field {name}" if name in request.profile_schema else None
        if repeated:  # a small model files field values as memories too
            dropped.append(f"add of a memory that repeats {repeated}")
        else:
            kept_ops.append(op)
    memory_ops = kept_ops
    if not dropped:
        return reply
    screened = result.model_copy(
        update={
            "memory_operations": memory_ops,
            "entity_operations": entity_ops,
            "profile_updates": profile_updates,
        }
    )
    return reply.model_copy(update={"result": screened, "dropped": [*reply.dropped, *dropped]})


# "timezone: UTC", "name:null": a profile slot the model wrote out as a memory.
_FIELD_SHAPED = re.compile(r"^\s*[a-z_]+\s*:")


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _was_said(value: str, said: str) -> bool:
    """A standard profile value (name, company, city, language...) comes from the transcript: at
    least one of its words (3+ letters, compared on the first 4) was said. A small model fills
    fields with guesses ("timezone: UTC", "language: English") that nobody stated."""
    words = [word for word in re.findall(r"[a-z0-9]+", value.lower()) if len(word) >= 3]
    return not words or any(word[:4] in said for word in words)


def memory_prompt_tokens(memory: Memory) -> int:
    return estimate_tokens(memory.content) + MEMORY_LINE_OVERHEAD
