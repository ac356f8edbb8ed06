"""Extraction through the openai SDK, against any OpenAI-compatible chat-completions endpoint.

What the model is told (the messages, the tool, the cut-off repair turn) comes from
extraction_contract/, which depends on models/ only, so this adapter depends on nothing above it:
it speaks the protocol (modes, fallbacks, the repair call, errors).
The reply is held to the request's own schema (extraction_contract/schema.py: one object per
operation, ids and layers narrowed to what the request shows), in three flavours tried in this
order in "auto" mode:
1. `json_schema` (strict structured outputs; llama.cpp's server decodes under it);
2. forced tool calling: one function whose parameters are that schema;
3. `json_object`, with the schema spelled out in the system message.
Servers without `json_schema` reject it with a 400 (most) or a 500 (llama.cpp's server); the first
mode a server accepts is remembered, so later calls go straight to it. Every request caps the
completion tokens, so a model that runs away stops there. Retries of 408/409/429/5xx and timeouts
are the SDK's (`max_retries`, honouring Retry-After); whatever survives them becomes a ModelError.
A reply that is cut off or not a valid ExtractionReply gets exactly one repair call (the reason,
and the invalid reply when it was complete, go back to the model); the ModelReply counts it. A
second invalid reply becomes a ModelOutputError.
What the reply proposes is then screened against the user's words (grounding.py): a memory or
entity fact the user did not say is held back, not applied, and reported in the reply's `held`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Literal, cast, get_args

import openai
import pydantic
from openai.types.chat import ChatCompletion

from ...core.ranking import estimate_tokens
from ...extraction_contract.prompt import CUT_OFF_INSTRUCTION, TOOL_DESCRIPTION, TOOL_NAME, build_messages
from ...extraction_contract.schema import SCHEMA_NAME, Schema, reply_schema
from ...extraction_contract.shown_ids import ShownIds
from ...models.extraction import ExtractionReply, ExtractionRequest, ExtractionResult, ModelReply
from ...models.transcripts import TokenUsage
from .base import ModelError, ModelOutputError
from .grounding import screen_ungrounded

logger = logging.getLogger(__name__)

StructuredMode = Literal["json_schema", "tools", "json_object"]
FALLBACK_ORDER: tuple[StructuredMode, ...] = get_args(StructuredMode)
# Statuses with which servers say "I do not support this response format" (llama.cpp: 500).
UNSUPPORTED_STATUSES = frozenset({400, 500})
_REASON_CHARS = 160
DEFAULT_MAX_COMPLETION_TOKENS = 2048
# What of an invalid reply goes back to the model in the repair call.
REPAIR_ECHO_CHARS = 4_000
REPAIR_INSTRUCTION = (
    "Your reply could not be used: {reason}. Reply again with one JSON object that matches the "
    "required schema exactly, and nothing else."
)

Messages = list[dict[str, str]]


class InvalidReplyError(ModelOutputError):
    """A reply that came back but cannot be used; carries its text when it was complete."""

    def __init__(self, reason: str, text: str | None = None, cut_off: bool = False) -> None:
        super().__init__(reason)
        self.text = text
        self.cut_off = cut_off


class OpenAIExtractionModel:
    """The ExtractionModel protocol over one chat-completions call per transcript."""

    def __init__(
        self,
        client: openai.OpenAI,
        model: str,
        structured_mode: str = "auto",
        max_completion_tokens: int = DEFAULT_MAX_COMPLETION_TOKENS,
        bounded_strings: bool = False,
        extra_body: Mapping[str, object] | None = None,
    ) -> None:
        if structured_mode != "auto" and structured_mode not in FALLBACK_ORDER:
            raise ValueError(f"unknown structured output mode: {structured_mode!r}")
        self._client = client
        self._model = model
        self._max_completion_tokens = max_completion_tokens
        self._bounded_strings = bounded_strings
        self._extra_body = dict(extra_body) if extra_body else None
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
        reply = self._extract(request)
        reply = reply.model_copy(update={"result": ShownIds.of(request).resolve(reply.result)})
        return screen_ungrounded(reply, request)

    def _extract(self, request: ExtractionRequest) -> ModelReply:
        messages = build_messages(request)
        schema = reply_schema(request, self._bounded_strings)
        mode, completion = self._first_exchange(messages, schema)
        try:
            return self._reply(mode, completion, messages)
        except InvalidReplyError as error:
            invalid = error
        first_error = str(invalid)
        logger.warning("invalid model reply, one repair call: %s", first_error)
        repair = [*messages, *_repair_turns(invalid)]
        if invalid.cut_off and mode != "json_object":
            # Held to fewer operations, so that this reply fits the cap. (In json_object mode the
            # schema is spelled out in the prompt, which the repair continues unchanged.)
            schema = reply_schema(request, self._bounded_strings, compact=True)
        try:
            completion_2 = self._send(mode, repair, schema)
        except openai.APIStatusError as status_error:
            raise ModelError(_status_reason(status_error)) from status_error
        try:
            reply = self._reply(mode, completion_2, repair)
        except InvalidReplyError as second:
            raise ModelOutputError(f"invalid reply after one repair call: {second}") from second
        usage = _usage(completion, messages, None) + reply.usage
        return reply.model_copy(update={"calls": 2, "first_reply_error": first_error, "usage": usage})

    def _first_exchange(self, messages: Messages, schema: Schema) -> tuple[StructuredMode, ChatCompletion]:
        """The first request, in the remembered mode, or in each mode in turn until one is accepted."""
        modes = (self._mode,) if self._mode else FALLBACK_ORDER
        for attempt, mode in enumerate(modes, start=1):
            try:
                completion = self._send(mode, messages, schema)
            except openai.APIStatusError as error:
                if attempt < len(modes) and error.status_code in UNSUPPORTED_STATUSES:
                    logger.warning(
                        "structured output mode %s rejected (%s); falling back", mode, error.status_code
                    )
                    continue
                raise ModelError(_status_reason(error)) from error
            self._mode = mode  # the server accepted the mode, whatever the reply holds
            return mode, completion
        raise AssertionError("unreachable: the last mode either returns or raises")

    # --- one request per mode ---------------------------------------------------------------

    def _send(self, mode: StructuredMode, messages: Messages, schema: Schema) -> ChatCompletion:
        """One exchange (plus the SDK's retries). Status errors pass through: extract() decides
        whether they mean "mode unsupported"; everything else becomes ModelError or ModelOutputError."""
        try:
            return self._request(mode, messages, schema)
        except openai.APITimeoutError as error:
            raise ModelError("the model endpoint timed out") from error
        except openai.APIConnectionError as error:
            raise ModelError(f"cannot reach the model endpoint: {error.message}") from error
        except openai.APIStatusError:
            raise
        except openai.OpenAIError as error:
            raise ModelError(f"model call failed: {type(error).__name__}") from error
        except (ValueError, TypeError, AttributeError) as error:
            # The SDK parses the HTTP body before we see it: a body that is not a chat completion
            # surfaces as one of these, raised from inside its response parsing.
            raise ModelOutputError(f"the reply is not a chat completion ({type(error).__name__})") from error

    def _request(self, mode: StructuredMode, messages: Messages, schema: Schema) -> ChatCompletion:
        """One call in `mode`: what the mode asks of the server, with what every call carries."""
        structured: dict[str, Any]
        if mode == "json_schema":
            structured = {
                "messages": messages,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": schema},
                },
            }
        elif mode == "tools":
            tool = {
                "type": "function",
                "function": {
                    "name": TOOL_NAME,
                    "description": TOOL_DESCRIPTION,
                    "parameters": schema,
                    "strict": True,
                },
            }
            structured = {
                "messages": messages,
                "tools": [tool],
                "tool_choice": {"type": "function", "function": {"name": TOOL_NAME}},
            }
        else:
            structured = {
                "messages": _with_schema_instructions(messages, schema),
                "response_format": {"type": "json_object"},
            }
        completion: ChatCompletion = self._client.chat.completions.create(
            model=self._model,
            max_completion_tokens=self._max_completion_tokens,
            extra_body=self._extra_body,
            **structured,
        )
        return completion

    # --- reading the reply ------------------------------------------------------------------

    def _reply(self, mode: StructuredMode, completion: ChatCompletion, messages: Messages) -> ModelReply:
        if not isinstance(completion, ChatCompletion) or not completion.choices:
            raise ModelOutputError("the reply has no choices")
        result, dropped = _result(mode, completion).to_result()
        return ModelReply(
            result=result,
            usage=_usage(completion, messages, result),
            model=completion.model or self._model,
            dropped=dropped,
        )


def _result(mode: StructuredMode, completion: ChatCompletion) -> ExtractionReply:
    choice = completion.choices[0]
    message = choice.message
    if message.refusal:
        raise InvalidReplyError(f"the model refused: {_short(message.refusal)}")
    if choice.finish_reason in ("length", "content_filter"):
        raise InvalidReplyError(f"the reply was cut off ({choice.finish_reason})", cut_off=True)
    text = _tool_arguments(completion) if mode == "tools" else None
    text = text or message.content
    if not text or not text.strip():
        raise InvalidReplyError("the reply is empty")
    try:
        return ExtractionReply.model_validate_json(_strip_code_fence(text))
    except pydantic.ValidationError as error:
        raise InvalidReplyError(_validation_reason(error), text) from error


def _repair_turns(error: InvalidReplyError) -> Messages:
    """What goes back to the model for its one repair: its invalid reply (when complete) and why."""
    if error.cut_off:
        return [{"role": "user", "content": CUT_OFF_INSTRUCTION}]
    turns: Messages = []
    if error.text:
        turns.append({"role": "assistant", "content": error.text[:REPAIR_ECHO_CHARS]})
    turns.append({"role": "user", "content": REPAIR_INSTRUCTION.format(reason=str(error))})
    return turns


def _tool_arguments(completion: ChatCompletion) -> str | None:
    """Arguments of our function call; some servers answer in plain content instead."""
    for call in completion.choices[0].message.tool_calls or []:
        function = getattr(call, "function", None)
        if function is not None and function.name == TOOL_NAME:
            return cast(str, function.arguments)
    return None


def _usage(completion: ChatCompletion, messages: Messages, result: ExtractionResult | None) -> TokenUsage:
    """The server's count; estimated when a server omits it, so cost is never silently zero."""
    if completion.usage is not None:
        return TokenUsage(
            prompt_tokens=completion.usage.prompt_tokens, completion_tokens=completion.usage.completion_tokens
        )
    prompt = sum(estimate_tokens(message["content"]) for message in messages)
    if result is not None:
        reply_text = result.model_dump_json()
    elif completion.choices:
        reply_text = completion.choices[0].message.content or _tool_arguments(completion) or ""
    else:
        reply_text = ""
    return TokenUsage(prompt_tokens=prompt, completion_tokens=estimate_tokens(reply_text))


def _with_schema_instructions(messages: Messages, reply: Schema) -> Messages:
    """For `json_object`: the server only promises JSON, so the system message carries the schema."""
    schema = json.dumps(reply, separators=(",", ":"))
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
