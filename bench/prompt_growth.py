"""Prompt tokens per transcript as a user's history grows (local stack's moto, scripted model).

Each transcript adds memories through the real pipeline; we record the prompt the openai
adapter would send (`build_messages`) at 10, 100 and 1,000 prior transcripts, and the number
of model calls per transcript. Budget (DESIGN): exactly 1 call; the 1,000th prompt at most
1.2x the 10th. Exits non-zero when missed.
"""

from __future__ import annotations

import os
import sys
import uuid

from bench.common import write_result
from learning_machine.adapters.llm.scripted import ScriptedModel
from learning_machine.cli.http import load_local_env
from learning_machine.extraction.prompt import build_messages
from learning_machine.extraction.service import build_pipeline
from learning_machine.models.common import Layer, Role
from learning_machine.models.extraction import (
    ExtractionRequest,
    ExtractionResult,
    MemoryOperation,
    SessionUpdate,
)
from learning_machine.models.transcripts import Message, TranscriptEnvelope, TranscriptIn
from learning_machine.ranking import estimate_tokens
from learning_machine.settings import get_settings

CHECKPOINTS = (10, 100, 1_000)
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


def main() -> int:
    load_local_env()  # `make up` wrote the moto endpoint and table names here
    if not os.environ.get("AWS_ENDPOINT_URL"):
        print("run `make up` first: this benchmark writes to the local stack's moto server", file=sys.stderr)
        return 2
    model = ScriptedModel(default=reply_for)
    pipeline = build_pipeline(get_settings(), model=model)
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    prompt_tokens: dict[str, int] = {}
    for n in range(1, CHECKPOINTS[-1] + 1):
        topic = TOPICS[n % len(TOPICS)]
        question = f"Question {n} about {topic}: how do we handle {topic} case {n}?"
        transcript = TranscriptIn(
            transcript_id=f"t{n}",
            user_id="heavy-user",
            session_id=f"s{n // 50}",
            messages=[Message(role=Role.USER, content=question)],
        )
        pipeline.process(TranscriptEnvelope(tenant_id=tenant, transcript_id=f"t{n}", transcript=transcript))
        if n in CHECKPOINTS:
            prompt = "\n".join(m["content"] for m in build_messages(model.requests[-1]))
            prompt_tokens[str(n)] = estimate_tokens(prompt)
    calls_per_transcript = model.calls / CHECKPOINTS[-1]
    ratio = prompt_tokens[str(CHECKPOINTS[-1])] / prompt_tokens[str(CHECKPOINTS[0])]
    ok = calls_per_transcript == 1 and ratio <= 1.2
    write_result(
        "prompt_growth",
        {
            "prior_transcripts_to_prompt_tokens": prompt_tokens,
            "memories_after": 2 * CHECKPOINTS[-1],
            "model_calls_per_transcript": calls_per_transcript,
            "ratio_1000th_to_10th": round(ratio, 3),
            "budget": {"model_calls_per_transcript": 1, "max_ratio": 1.2},
            "within_budget": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
