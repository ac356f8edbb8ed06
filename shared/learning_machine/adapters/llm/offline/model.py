"""The offline model: the ExtractionModel protocol over the rules."""

from __future__ import annotations

from ....models.extraction import (
    ExtractionRequest,
    ExtractionResult,
    ModelReply,
)
from ....models.transcripts import TokenUsage
from .entities import entity_operations
from .memories import memory_operations, profile_updates, slot
from .reading import read, user_turns
from .rules import RULES, schema_rules
from .sessions import session_update

MODEL_NAME = "offline-rules"


class OfflineExtractionModel:
    """The ExtractionModel used when no model endpoint is configured: deterministic rules, no LLM."""

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def offline(self) -> bool:
        return True

    def extract(self, request: ExtractionRequest) -> ModelReply:
        turns = user_turns(request.messages)
        known_projects = tuple(
            s[1] for m in request.memories if (s := slot(m.layer, m.content)) and s[0] == "project" and s[1]
        )
        rules = (*RULES, *schema_rules(request.profile_schema))
        reading = read(turns, rules, known_projects)
        result = ExtractionResult(
            memory_operations=memory_operations(request, reading.found),
            profile_updates=profile_updates(request, reading.found),
            session=session_update(request, turns, reading.topical),
            entity_operations=entity_operations(request, turns),
            knowledge_operations=[],  # reusable insights need judgement that rules do not have
        )
        return ModelReply(
            result=result, usage=TokenUsage(prompt_tokens=0, completion_tokens=0), model=MODEL_NAME
        )
