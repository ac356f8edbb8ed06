"""Prompt tokens per transcript as a user's history grows (in-process moto, scripted model).

Each transcript adds memories through the real pipeline; we record the prompt the openai
adapter would send (`build_messages`) at 10, 100 and 1,000 prior transcripts, and the number
of model calls per transcript. Budget (DESIGN): exactly 1 call; the 1,000th prompt at most
1.2x the 10th. Exits non-zero when missed.
"""

from __future__ import annotations

import os
import sys

import boto3
from moto import mock_aws

from bench.common import write_result
from learning_machine.adapters.llm.scripted import ScriptedModel
from learning_machine.extraction.prompt import build_messages
from learning_machine.extraction.service import build_pipeline
from learning_machine.models.common import Layer
from learning_machine.models.extraction import (
    ExtractionRequest,
    ExtractionResult,
    MemoryOperation,
    SessionUpdate,
)
from learning_machine.models.transcripts import TranscriptEnvelope, TranscriptIn
from learning_machine.ranking import estimate_tokens
from learning_machine.settings import get_settings
from local.provision import dead_letter_queues_first, ensure_queue, ensure_table
from local.template import LocalTemplate

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
    )


def main() -> int:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        LM_CONFIG_CACHE_SECONDS="0",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        template = LocalTemplate.load(endpoint_url="https://sqs.us-east-1.amazonaws.com")
        for table in template.tables.values():
            ensure_table(boto3.client("dynamodb"), table)
        for queue in dead_letter_queues_first(template):
            ensure_queue(boto3.client("sqs"), queue)
        os.environ.update(template.function_environment())
        model = ScriptedModel(default=reply_for)
        pipeline = build_pipeline(get_settings(), model=model)
        prompt_tokens: dict[str, int] = {}
        for n in range(1, CHECKPOINTS[-1] + 1):
            topic = TOPICS[n % len(TOPICS)]
            transcript = TranscriptIn(
                transcript_id=f"t{n}",
                user_id="heavy-user",
                session_id=f"s{n // 50}",
                messages=[
                    {
                        "role": "user",
                        "content": f"Question {n} about {topic}: how do we handle {topic} case {n}?",
                    }
                ],  # type: ignore[list-item]
            )
            pipeline.process(
                TranscriptEnvelope(tenant_id="bench", transcript_id=f"t{n}", transcript=transcript)
            )
            if n in CHECKPOINTS:
                request = model.requests[-1]
                prompt = "\n".join(m["content"] for m in build_messages(request))
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
