"""Extraction through the openai SDK, against any OpenAI-compatible chat-completions endpoint.

Structured output comes in three flavours, tried in this order in "auto" mode:
1. `json_schema` (OpenAI strict structured outputs, through `chat.completions.parse`);
2. forced tool calling: one function whose parameters are the ExtractionResult schema;
3. `json_object`, with the schema spelled out in the system message.
Servers without `json_schema` reject it with a 400 (most) or a 500 (llama.cpp's server); the first
mode a server accepts is remembered, so later calls go straight to it. Retries of 408/409/429/5xx
and timeouts are the SDK's (`max_retries`, honouring Retry-After); whatever survives them becomes
a ModelError, and a reply that is not a valid ExtractionResult becomes a ModelOutputError.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal, cast, get_args

import openai
import pydantic
from openai.types.chat import ChatCompletion

from ...extraction.prompt import build_messages
from ...models.extraction import ExtractionRequest, ExtractionResult, ModelReply
from ...models.transcripts import TokenUsage
from ...ranking import estimate_tokens
from .base import ModelError, ModelOutputError

logger = logging.getLogger(__name__)

StructuredMode = Literal["json_schema", "tools", "json_object"]
FALLBACK_ORDER: tuple[StructuredMode, ...] = get_args(StructuredMode)
TOOL_NAME = "record_extraction"
# Statuses with which servers say "I do not support this response format" (llama.cpp: 500).
UNSUPPORTED_STATUSES = frozenset({400, 500})
# Local OpenAI-compatible servers usually ignore the key, but the SDK insists on one.
PLACEHOLDER_API_KEY = "not-needed"
_REASON_CHARS = 160

Messages = list[dict[str, str]]


def build_openai_client(
    base_url: str | None, api_key: str | None, timeout: float, max_retries: int
) -> openai.OpenAI:
    """A client with our timeout and retry budget; without a key it reads OPENAI_API_KEY."""
    key = api_key or (PLACEHOLDER_API_KEY if base_url else None)
    return openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries)


class OpenAIExtractionModel:
    """The ExtractionModel protocol over one chat-completions call per transcript."""

    def __init__(self, client: openai.OpenAI, model: str, structured_mode: str = "auto") -> None:
        if structured_mode != "auto" and structured_mode not in FALLBACK_ORDER:
            raise ValueError(f"unknown structured output mode: {structured_mode!r}")
        self._client = client
        self._model = model
        self._mode: StructuredMode | None = (
            None if structured_mode == "auto" else cast(StructuredMode, structured_mode)
        )

    @property
    def name(self) -> str:
        return self._model

    @property
    def offline(self) -> bool:
        return False

    @property
    def structured_mode(self) -> str:
        """The mode in use: "auto" until a server has accepted one."""
        return self._mode or "auto"

    def extract(self, request: ExtractionRequest) -> ModelReply:
        messages = build_messages(request)
        modes = (self._mode,) if self._mode else FALLBACK_ORDER
        for attempt, mode in enumerate(modes, start=1):
            try:
                completion = self._send(mode, messages)
            except openai.APIStatusError as error:
                if attempt < len(modes) and error.status_code in UNSUPPORTED_STATUSES:
                    logger.warning(
                        "structured output mode %s rejected (%s); falling back", mode, error.status_code
                    )
                    continue
                raise ModelError(_status_reason(error)) from error
            except ModelOutputError:
                self._mode = mode  # the server accepted the mode; only this reply was bad
                raise
            self._mode = mode
            return self._reply(mode, completion, messages)
        raise AssertionError("unreachable: the last mode either returns or raises")

    # --- one request per mode ---------------------------------------------------------------

    def _send(self, mode: StructuredMode, messages: Messages) -> ChatCompletion:
        """One exchange (plus the SDK's retries). Status errors pass through: extract() decides
        whether they mean "mode unsupported"; everything else becomes ModelError or ModelOutputError."""
        try:
            return self._request(mode, messages)
        except openai.APITimeoutError as error:
            raise ModelError("the model endpoint timed out") from error
        except openai.APIConnectionError as error:
            raise ModelError(f"cannot reach the model endpoint: {error.message}") from error
        except openai.LengthFinishReasonError as error:
            raise ModelOutputError("the reply was cut off (length)") from error
        except openai.ContentFilterFinishReasonError as error:
            raise ModelOutputError("the reply was cut off (content_filter)") from error
        except pydantic.ValidationError as error:
            raise ModelOutputError(_validation_reason(error)) from error
        except openai.APIStatusError:
            raise
        except openai.OpenAIError as error:
            raise ModelError(f"model call failed: {type(error).__name__}") from error
        except (ValueError, TypeError, AttributeError) as error:
            # The SDK parses the HTTP body before we see it: a body that is not a chat completion
            # surfaces as one of these, raised from inside its response parsing.
            raise ModelOutputError(f"the reply is not a chat completion ({type(error).__name__})") from error

    def _request(self, mode: StructuredMode, messages: Messages) -> ChatCompletion:
        completions = self._client.chat.completions
        params: Any = messages
        if mode == "json_schema":
            return completions.parse(model=self._model, messages=params, response_format=ExtractionResult)
        if mode == "tools":
            tool = openai.pydantic_function_tool(
                ExtractionResult,
                name=TOOL_NAME,
                description="Record the memory operations for this transcript.",
            )
            choice: Any = {"type": "function", "function": {"name": TOOL_NAME}}
            return completions.create(model=self._model, messages=params, tools=[tool], tool_choice=choice)
        with_schema: Any = _with_schema_instructions(messages)
        return completions.create(
            model=self._model, messages=with_schema, response_format={"type": "json_object"}
        )

    # --- reading the reply ------------------------------------------------------------------

    def _reply(self, mode: StructuredMode, completion: ChatCompletion, messages: Messages) -> ModelReply:
        if not isinstance(completion, ChatCompletion) or not completion.choices:
            raise ModelOutputError("the reply has no choices")
        result = _result(mode, completion)
        return ModelReply(
            result=result, usage=_usage(completion, messages, result), model=completion.model or self._model
        )


def _result(mode: StructuredMode, completion: ChatCompletion) -> ExtractionResult:
    choice = completion.choices[0]
    message = choice.message
    if message.refusal:
        raise ModelOutputError(f"the model refused: {_short(message.refusal)}")
    if choice.finish_reason in ("length", "content_filter"):
        raise ModelOutputError(f"the reply was cut off ({choice.finish_reason})")
    parsed = getattr(message, "parsed", None)
    if isinstance(parsed, ExtractionResult):
        return parsed
    text = _tool_arguments(completion) if mode == "tools" else None
    text = text or message.content
    if not text or not text.strip():
        raise ModelOutputError("the reply is empty")
    try:
        return ExtractionResult.model_validate_json(_strip_code_fence(text))
    except pydantic.ValidationError as error:
        raise ModelOutputError(_validation_reason(error)) from error


def _tool_arguments(completion: ChatCompletion) -> str | None:
    """Arguments of our function call; some servers answer in plain content instead."""
    for call in completion.choices[0].message.tool_calls or []:
        function = getattr(call, "function", None)
        if function is not None and function.name == TOOL_NAME:
            return cast(str, function.arguments)
    return None


def _usage(completion: ChatCompletion, messages: Messages, result: ExtractionResult) -> TokenUsage:
    """The server's count; estimated when a server omits it, so cost is never silently zero."""
    if completion.usage is not None:
        return TokenUsage(
            prompt_tokens=completion.usage.prompt_tokens, completion_tokens=completion.usage.completion_tokens
        )
    prompt = sum(estimate_tokens(message["content"]) for message in messages)
    return TokenUsage(prompt_tokens=prompt, completion_tokens=estimate_tokens(result.model_dump_json()))


def _with_schema_instructions(messages: Messages) -> Messages:
    """For `json_object`: the server only promises JSON, so the system message carries the schema."""
    schema = json.dumps(ExtractionResult.model_json_schema(), separators=(",", ":"))
    system, *rest = messages
    instruction = "Reply with one JSON object, and nothing else, matching this JSON Schema:"
    content = f"{system['content']}\n\n{instruction}\n{schema}"
    return [{**system, "content": content}, *rest]


def _strip_code_fence(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        stripped = stripped.strip("`")
        return stripped.removeprefix("json").strip()
    return stripped


# --- short reasons: never the whole reply, which may hold user data ------------------------


def _validation_reason(error: pydantic.ValidationError) -> str:
    problems = error.errors(include_input=False, include_url=False)
    if any(problem["type"] == "json_invalid" for problem in problems):
        return "the reply is not valid JSON"
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"]) or "reply"
    return _short(f"the reply does not match the schema ({len(problems)} errors; {where}: {first['msg']})")


def _status_reason(error: openai.APIStatusError) -> str:
    return _short(f"the model endpoint answered {error.status_code}: {error.message}")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"
