"""Prompt tokens per transcript as a user's history grows, and the context block beside the history.

Runs on the local stack's moto and index (`make up`) with a scripted model that adds two memories
per transcript. The measured transcripts (the 10th, 100th and 1,000th) and the 10 before each go
through the real pipeline (`Services.extraction_pipeline`, the one the extract handler runs: one model call,
one transaction); the other transcripts' two memories are written directly, in the items the
pipeline's change set would commit (memory + history version), by batch writes: moto copies the
whole table for every transaction, so 1,000 pipeline runs took 20 minutes and, with more data in
the table, exhausted memory. At each checkpoint we record:
- the prompt the openai adapter would send (`build_messages`) and the model calls per pipeline run;
  budget (DESIGN): exactly 1 call, and the 1,000th prompt at most 1.2x the 10th;
- the same prompt with other memory budgets (`--budgets`): the replies do not depend on the
  prompt, so re-cutting the same ranked memories at another budget is the prompt that budget
  would give; this is how the default `extraction.memory_budget_tokens` was chosen;
- the context block (`GET /v1/context`'s service, default `max_tokens`) against the tokens of the
  raw transcripts it stands for.
Exits non-zero when a budget is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid

from bench.common import write_result
from learning_machine.adapters import dynamodb
from learning_machine.adapters.llm.scripted import ScriptedModel
from learning_machine.cli.target import load_local_env
from learning_machine.composition import Services, services
from learning_machine.core.memory_rules import new_memory_id
from learning_machine.core.ranking import estimate_tokens, rank_memories, take_within_budget
from learning_machine.extraction.pipeline import memory_prompt_tokens
from learning_machine.extraction_contract.prompt import build_messages
from learning_machine.models.common import Layer, Role
from learning_machine.models.config import ExtractionConfig
from learning_machine.models.extraction import (
    ExtractionRequest,
    ExtractionResult,
    MemoryOperation,
    SessionUpdate,
)
from learning_machine.models.memories import Memory
from learning_machine.models.provenance import Provenance
from learning_machine.models.transcripts import Message, TranscriptEnvelope, TranscriptIn
from learning_machine.settings import get_settings
from learning_machine.stores.changes import ChangeSet
from learning_machine.stores.user_memory import UserMemoryStore

CHECKPOINTS = "10,100,1000"
THROUGH_PIPELINE = 10  # transcripts before each checkpoint that go through the pipeline too
SEED_BATCH = 25
MAX_RATIO = 1.2
BUDGETS = "500,600,700,800,900,1000,1500"
USER = "heavy-user"
TOPICS = [
    "kubernetes",
    "billing",
    "postgres",
    "react",
    "terraform",
    "kafka",
    "pricing",
    "oncall",
    "design",
    "hiring",
]


def reply_for(request: ExtractionRequest) -> ExtractionResult:
    """Two new facts per transcript, a growing summary capped by the model as a real one would be."""
    text = request.messages[0].content
    facts = [
        MemoryOperation(
            op="add",
            memory_id=None,
            layer=Layer.KNOWLEDGE,
            category=None,
            content=f"{text} (fact {k})",
            polarity=None,
            turn_index=0,
        )
        for k in range(2)
    ]
    previous = request.previous_session.summary if request.previous_session else ""
    summary = (previous + " " + text)[-600:]
    return ExtractionResult(
        memory_operations=facts,
        profile_updates=[],
        session=SessionUpdate(summary=summary, goal=None, plan=[], progress=[]),
        entity_operations=[],
        knowledge_operations=[],
    )


def transcript(n: int) -> TranscriptIn:
    topic = TOPICS[n % len(TOPICS)]
    question = f"Question {n} about {topic}: how do we handle {topic} case {n}?"
    return TranscriptIn(
        transcript_id=f"t{n}",
        user_id=USER,
        session_id=f"s{n // 50}",
        messages=[Message(role=Role.USER, content=question)],
    )


def prompt_tokens(request: ExtractionRequest) -> int:
    return estimate_tokens("\n".join(m["content"] for m in build_messages(request)))


def rebudgeted(request: ExtractionRequest, candidates: list[Memory], budget: int) -> ExtractionRequest:
    """The request the pipeline builds with another memory budget (same ranking, same cut rule)."""
    text = "\n".join(m.content for m in request.messages)
    kept, _ = take_within_budget(rank_memories(candidates, text), budget, memory_prompt_tokens)
    return request.model_copy(update={"memories": kept})


def through_pipeline(n: int, checkpoints: list[int]) -> bool:
    return any(0 <= checkpoint - n <= THROUGH_PIPELINE for checkpoint in checkpoints)


def seed_memories(table: str, tenant: str, transcripts: list[int]) -> None:
    """The two memories each of these transcripts adds, as the pipeline's change set writes them
    (memory item + its first history version), in batch writes instead of one transaction each."""
    changes = ChangeSet(table, tenant, USER)
    for n in transcripts:
        request_text = transcript(n).messages[0].content
        for k in range(2):
            provenance = Provenance(
                source="extraction", transcript_id=f"t{n}", turn_index=0, model="scripted"
            )
            memory = Memory(
                memory_id=new_memory_id(),
                user_id=USER,
                layer=Layer.KNOWLEDGE,
                content=f"{request_text} (fact {k})",
                provenance=provenance,
            )
            changes.add_memory(memory)
    with dynamodb.table(table).batch_writer() as batch:
        for item in changes.items:
            batch.put_item(Item=item["Put"]["Item"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--budgets", default=BUDGETS, help="memory budgets to compare")
    parser.add_argument("--checkpoints", default=CHECKPOINTS, help="prior transcripts at which to measure")
    args = parser.parse_args(argv)
    checkpoints = [int(c) for c in args.checkpoints.split(",") if c]
    budgets = [int(b) for b in args.budgets.split(",") if b]
    load_local_env()  # `make up` wrote the moto endpoint and table names here
    if not os.environ.get("AWS_ENDPOINT_URL"):
        print("run `make up` first: this benchmark writes to the local stack's moto server", file=sys.stderr)
        return 2
    settings = get_settings()
    model = ScriptedModel(default=reply_for)
    pipeline = Services(settings).extraction_pipeline(model=model)
    users = UserMemoryStore(settings.data_table)
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    default_budget = ExtractionConfig().memory_budget_tokens
    tokens: dict[str, int] = {}
    by_budget: dict[str, dict[str, int]] = {str(b): {} for b in budgets}
    context: dict[str, dict[str, int]] = {}
    history_tokens = 0
    seeded: list[int] = []
    for n in range(1, checkpoints[-1] + 1):
        incoming = transcript(n)
        history_tokens += sum(estimate_tokens(m.content) for m in incoming.messages)
        if not through_pipeline(n, checkpoints):
            seeded.append(n)
            if len(seeded) == SEED_BATCH or through_pipeline(n + 1, checkpoints):
                seed_memories(settings.data_table, tenant, seeded)
                seeded = []
            continue
        # Memories before this transcript: what the pipeline ranks and cuts for its prompt.
        candidates = users.load(tenant, USER).memories if n in checkpoints else []
        pipeline.process(TranscriptEnvelope(tenant_id=tenant, transcript_id=f"t{n}", transcript=incoming))
        if n in checkpoints:
            request = model.requests[-1]
            tokens[str(n)] = prompt_tokens(request)
            for budget in budgets:
                by_budget[str(budget)][str(n)] = prompt_tokens(rebudgeted(request, candidates, budget))
            block = services().context_service.build(tenant, USER, incoming.session_id, None, None)
            context[str(n)] = {
                "raw_history_tokens": history_tokens,
                "context_tokens": block.tokens,
                "max_tokens": block.max_tokens,
                "memories_held": 2 * n,
                "memories_in_context": sum(len(v) for v in block.memories.values()),
            }
    first, last = str(checkpoints[0]), str(checkpoints[-1])
    processed = sum(1 for n in range(1, checkpoints[-1] + 1) if through_pipeline(n, checkpoints))
    calls_per_transcript = model.calls / processed
    ratio = tokens[last] / tokens[first]
    ok = calls_per_transcript == 1 and ratio <= MAX_RATIO
    write_result(
        "prompt_growth",
        {
            "memory_budget_tokens": default_budget,
            "prior_transcripts_to_prompt_tokens": tokens,
            "memories_after": 2 * checkpoints[-1],
            "transcripts_through_the_pipeline": processed,
            "model_calls_per_transcript": calls_per_transcript,
            "ratio_1000th_to_10th": round(ratio, 3),
            "other_memory_budgets": {
                budget: {**points, "ratio": round(points[last] / points[first], 3)}
                for budget, points in by_budget.items()
            },
            "context_block_vs_raw_history": context,
            "budget": {"model_calls_per_transcript": 1, "max_ratio": MAX_RATIO},
            "within_budget": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
