"""A model that replays scripted replies: drives the pipeline in tests without an endpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ...core.ranking import estimate_tokens
from ...models.extraction import ExtractionRequest, ExtractionResult, ModelReply
from ...models.transcripts import TokenUsage
from .base import ModelError

Script = ExtractionResult | Exception | Callable[[ExtractionRequest], ExtractionResult]


@dataclass
class ScriptedModel:
    """Answers each call with the next scripted item; records every request it was given."""

    replies: list[Script] = field(default_factory=list)
    default: Script | None = None
    requests: list[ExtractionRequest] = field(default_factory=list)
    name: str = "scripted"
    offline: bool = False

    @property
    def calls(self) -> int:
        return len(self.requests)

    def extract(self, request: ExtractionRequest) -> ModelReply:
        self.requests.append(request)
        script = self.replies.pop(0) if self.replies else self.default
        if script is None:
            raise ModelError("the script has no reply left")
        if isinstance(script, Exception):
            raise script
        result = script(request) if callable(script) else script
        prompt_tokens = estimate_tokens(request.model_dump_json())
        usage = TokenUsage(
            prompt_tokens=prompt_tokens, completion_tokens=estimate_tokens(result.model_dump_json())
        )
        return ModelReply(result=result, usage=usage, model=self.name)
