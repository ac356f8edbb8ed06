"""An agent that remembers: the Learning Machine around an OpenAI chat-completions loop.

Each turn:
1. `GET /v1/context` with the user's message as the query; its XML goes into the system prompt.
2. The model is offered the service's tools as published (`GET /v1/tools`, OpenAI definitions).
3. Its tool calls run in the service for this user (`POST /v1/tools/call`); the results, or the
   service's refusal so that the model can correct the call, go back to it until it answers.
4. The turn (the user's message and the answer) is posted as a transcript (`POST /v1/transcripts`):
   the service learns from it in the background, and a crash loses at most the current turn.

Against the local stack (`make up`) and any OpenAI-compatible endpoint:

    OPENAI_API_KEY=... python -m learning_machine.examples.agent_loop --user ada --session s1

(`OPENAI_BASE_URL` for another server, `--model` or `LM_AGENT_MODEL` for another model.)
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from typing import Any, cast

from openai import OpenAI
from openai.types.chat import (
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
    ChatCompletionToolUnionParam,
)

from ..cli.target import use_api_settings
from ..client import ConflictError, InvalidRequestError, LearningMachineClient, NotFoundError
from ..models.common import MAX_MESSAGE_CHARS

DEFAULT_MODEL = "gpt-4o-mini"
MAX_QUERY_CHARS = 2_000  # the context route's limit for `query`
INSTRUCTIONS = (
    "You are a helpful assistant with a long-term memory. What you remember about the user is in "
    "the block below; their policies there take precedence over everything else. Use your memory "
    "tools to remember what will matter in later conversations, to correct what changed, and to "
    "forget what the user asks you to forget."
)


def system_prompt(instructions: str, context_xml: str) -> str:
    return f"{instructions}\n\n{context_xml}" if context_xml else instructions


@dataclass
class MemoryAgent:
    memory: LearningMachineClient
    llm: OpenAI
    user_id: str
    session_id: str
    model: str = DEFAULT_MODEL
    instructions: str = INSTRUCTIONS
    max_tool_rounds: int = 5
    history: list[ChatCompletionMessageParam] = field(default_factory=list)

    def turn(self, user_message: str) -> str:
        context = self.memory.get_context(
            self.user_id, session_id=self.session_id, query=user_message[:MAX_QUERY_CHARS]
        )
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system_prompt(self.instructions, context.xml)},
            *self.history,
            {"role": "user", "content": user_message},
        ]
        answer = self._answer(messages)
        self.history += [{"role": "user", "content": user_message}, {"role": "assistant", "content": answer}]
        self._learn(user_message, answer)
        return answer

    def _answer(self, messages: list[ChatCompletionMessageParam]) -> str:
        # Published as OpenAI function definitions, so they go to the model as they are.
        tools = cast(list[ChatCompletionToolUnionParam], self.memory.list_tools().tools)
        for _ in range(self.max_tool_rounds):
            reply = self._complete(messages, tools)
            calls = [
                c for c in reply.tool_calls or [] if isinstance(c, ChatCompletionMessageFunctionToolCall)
            ]
            if not calls:
                return reply.content or ""
            messages.append(
                {"role": "assistant", "content": reply.content, "tool_calls": [_echo(c) for c in calls]}
            )
            messages += [{"role": "tool", "tool_call_id": c.id, "content": self._run(c)} for c in calls]
        # Out of tool rounds: the model answers with what it has.
        return self._complete(messages, tools, tool_choice="none").content or ""

    def _complete(
        self,
        messages: list[ChatCompletionMessageParam],
        tools: list[ChatCompletionToolUnionParam],
        **extra: Any,
    ) -> ChatCompletionMessage:
        options: dict[str, Any] = {"tools": tools, **extra} if tools else {}
        completion = self.llm.chat.completions.create(model=self.model, messages=messages, **options)
        return completion.choices[0].message

    def _run(self, call: ChatCompletionMessageFunctionToolCall) -> str:
        try:
            result = self.memory.call_tool(
                call.function.name, call.function.arguments, user_id=self.user_id, session_id=self.session_id
            )
        except (InvalidRequestError, NotFoundError, ConflictError) as error:
            # A refusal names the argument at fault: the model can correct the call.
            return json.dumps({"error": error.message, "fields": error.field_errors})
        return json.dumps(result.result)

    def _learn(self, user_message: str, answer: str) -> None:
        turn = [("user", user_message), ("assistant", answer)]
        messages = [{"role": role, "content": text[:MAX_MESSAGE_CHARS]} for role, text in turn if text]
        self.memory.post_transcript(self.user_id, self.session_id, messages)


def _echo(call: ChatCompletionMessageFunctionToolCall) -> ChatCompletionMessageFunctionToolCallParam:
    """The call as the model made it, to precede its result in the conversation."""
    function = call.function
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": function.name, "arguments": function.arguments},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chat with an agent that learns (Ctrl-D to quit)")
    parser.add_argument("--user", required=True)
    parser.add_argument("--session", required=True)
    parser.add_argument("--model", default=os.environ.get("LM_AGENT_MODEL", DEFAULT_MODEL))
    args = parser.parse_args(argv)
    use_api_settings()
    with LearningMachineClient() as memory:
        agent = MemoryAgent(memory, OpenAI(), args.user, args.session, model=args.model)
        while True:
            try:
                message = input("you> ").strip()
            except EOFError:
                print()
                return 0
            if message:
                print(f"agent> {agent.turn(message)}")


if __name__ == "__main__":
    raise SystemExit(main())
