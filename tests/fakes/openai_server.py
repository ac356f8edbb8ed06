"""A fake OpenAI-compatible server (chat completions, embeddings) on 127.0.0.1, for tests and the local stack.

In a test:

    with FakeOpenAIServer() as server:              # port 0: a free port
        server.enqueue(HttpError(429, headers={"Retry-After": "0"}), result)
        client = openai.OpenAI(base_url=server.base_url, api_key="x")   # base_url ends in /v1
        ...
        server.requests                              # the JSON bodies received, in order

Each HTTP request (retries included) takes the next scripted behaviour from the queue:
- an `ExtractionResult`: answered in the request's mode (a forced tool call when the request has
  tools, message content otherwise);
- `Reply(content=... | tool_arguments=..., refusal=..., finish_reason=..., usage=...)`: exactly that;
- `HttpError(status, body=None, headers={})`: e.g. 429 with Retry-After, 500, or 400 "response_format
  json_schema not supported";
- `Delay(seconds, then=None)`: wait, then answer with `then` (default responder when None);
  provokes client timeouts; closing the server cuts the wait short;
- `Malformed(where="content" | "body")`: a reply whose content (or tool arguments) is not JSON, or
  an HTTP body that is not JSON at all.
When the queue is empty the default responder decides: a callable `(request_body) -> ExtractionResult
| behaviour`; `rule_based_responder` unless another is given. `reject_json_schema=STATUS` makes the
server refuse `json_schema` response formats like a server without them (llama.cpp answers 500).
`transcript_from_body(body)` reads the transcript back from the prompt (the JSON array between the
`<transcript>` tags written by learning_machine.extraction_contract.prompt).

Embeddings (`POST /v1/embeddings`) have their own record and script, so that a test scripting
chat failures never sees them consumed by an embeddings call, and the other way round:

    server.enqueue_embeddings(HttpError(429, headers={"Retry-After": "0"}), EmbeddingReply(reverse=True))
    server.embedding_requests                        # the JSON bodies received, in order
    server.bearer_tokens                             # the API keys presented

- `EmbeddingReply(dimension=None, reverse=False, vectors=None, count=None)`: the documented
  response (`object: list`, `data: [{object: embedding, index, embedding}]`, `model`, `usage`)
  with one deterministic vector per input (learning_machine's HashingEmbedder) of the request's
  `dimensions`, else `embedding_dimension` (384); `reverse` lists `data` backwards (each item keeps
  its index), `vectors` answers exactly those, `count` answers only that many items;
  `encoding_format: base64` is honoured (little-endian float32), like OpenAI;
- `HttpError`, `Delay(seconds, then=None)` and `Malformed()` (a body that is not JSON) as above.
When that queue is empty, `embedding_responder` decides (`hashed_embeddings_responder` unless
another is given); an empty-string input is refused with 400, as OpenAI does. Fault markers for
embeddings are separate from the chat ones (a transcript meant to fail extraction still embeds):
`[[fail-embeddings:500]]` and `[[fail-embeddings:429]]` in any input.

As a process (integration tests point LM_LLM_BASE_URL at it):

    python -m tests.fakes.openai_server --port 8765 [--host 127.0.0.1] [--reject-json-schema 500]
        [--embedding-dimension 384]

prints `fake-openai listening on http://127.0.0.1:8765/v1` and serves until killed (SIGTERM/SIGINT).

Fault markers: put one in the content of any message of a transcript, and every request carrying
that transcript fails the same way, retries included:
- `[[fail:500]]`        -> HTTP 500;
- `[[fail:429]]`        -> HTTP 429 with `Retry-After: 0`;
- `[[fail:malformed]]`  -> a 200 reply whose content (or tool arguments) is not valid JSON.
Both error statuses also carry `retry-after-ms: 10` so that the SDK's retries stay fast.

Switchable faults, for "fails now, succeeds later" (a marker fails every attempt, forever):

    server.fail_while("token-17", HttpError(503))    # every request whose transcript contains it
    ...                                              # the record fails, is retried, is dead-lettered
    server.heal("token-17")                          # or heal() for all: answered normally again
    server.extractions                               # bodies answered with a valid ExtractionResult

A switched fault is checked after the script and before the responder (and its markers).

Rules of `rule_based_responder` (deterministic; only user messages are read, one rule per message,
each operation's turn_index is the message's):
- `remember <layer>: <text>` or `remember feedback (positive|negative): <text>` -> add <text> in that
  layer (feedback defaults to positive), or noop on a shown memory of that layer with the same text
  (case and punctuation ignored). Layers the prompt does not allow are ignored.
- `forget: <text>` -> delete every shown memory whose text contains <text> (case-insensitive).
- `replace: <old> => <new>` -> update every shown memory containing <old>, with <old> replaced by <new>.
- `set <field>: <value>` -> profile update when <field> is in the prompt's profile schema
  (`null` removes the field).
- session (unless the prompt says it is off): summary = the previous summary, then
  `User: <message 1>; <message 2>; ...` (each message cut to 100 characters, the whole to 2000);
  with planning on, `goal: <text>` sets the goal, `plan: a; b; c` the plan, and each `done: <step>`
  appends to the progress (otherwise the previous values are kept).
- entity memory (unless the prompt says it is off):
  - `entity <name> (<type>): <fact>` -> upsert <name> (type null when it is not an entity type),
    then add_fact <fact>;
  - `supersede <name>: <old fact text> => <new fact>` -> supersede_fact with the id of the fact of
    that entity (by name or alias, case-insensitive) that the prompt's `<entities>` section shows
    with <old fact text> (case and punctuation ignored); add_fact <new fact> when none is shown;
  - `event <name> [<date text>]: <text>` -> add_event (the `[<date text>]` part is optional);
  - `link <a> <relation> <b>` -> relate (<relation> is one lowercase snake_case word).
- learned knowledge (unless the prompt says it is off): `insight <title>: <content>` -> a knowledge
  operation with no context and no tags.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import signal
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import FrameType, TracebackType
from typing import Any, Literal, Self, TypeAlias, get_args

from learning_machine.adapters.embeddings.hashing import HashingEmbedder
from learning_machine.core.ranking import estimate_tokens
from learning_machine.extraction_contract.prompt import (
    ENTITIES_OFF_LINE,
    KNOWLEDGE_OFF_LINE,
    LAYERS_LINE_PREFIX,
    NO_PROFILE_LINE,
    PLANNING_LINE,
    SESSION_OFF_LINE,
    TRANSCRIPT_CLOSE,
    TRANSCRIPT_OPEN,
)
from learning_machine.models.entities import EntityType
from learning_machine.models.extraction import (
    EntityOp,
    EntityOperation,
    ExtractionReply,
    ExtractionResult,
    KnowledgeOperation,
    MemoryOperation,
    ProfileFieldUpdate,
    SessionUpdate,
)
from tests.fakes.http import FakeHTTPServer

JsonBody = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    content: str | None = None
    tool_arguments: str | None = None
    tool_name: str | None = None  # None: the function the request forces, else its first tool
    refusal: str | None = None
    finish_reason: str | None = None  # None: "tool_calls" for tool calls, "stop" otherwise
    usage: tuple[int, int] | None = None  # (prompt, completion); None: estimated from the texts
    include_usage: bool = True


@dataclass(frozen=True)
class HttpError:
    status: int
    body: JsonBody | str | None = None  # None: an OpenAI-style error object
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Malformed:
    where: Literal["content", "body"] = "content"


@dataclass(frozen=True)
class Delay:
    seconds: float
    then: Behaviour | EmbeddingReply | None = None


@dataclass(frozen=True)
class EmbeddingReply:
    dimension: int | None = None  # None: the request's `dimensions`, else the server's default
    reverse: bool = False  # list `data` backwards; each item keeps its true `index`
    vectors: list[list[float]] | None = None  # exactly these, data[i] for input i
    count: int | None = None  # answer only this many items (a broken server)
    include_usage: bool = True


Behaviour: TypeAlias = ExtractionResult | Reply | HttpError | Malformed | Delay
Responder: TypeAlias = Callable[[JsonBody], Behaviour]
EmbeddingBehaviour: TypeAlias = EmbeddingReply | HttpError | Malformed | Delay
EmbeddingResponder: TypeAlias = Callable[[JsonBody], EmbeddingBehaviour]
DEFAULT_EMBEDDING_DIMENSION = 384

FAULT_HEADERS = {"retry-after-ms": "10"}
FAULTS: dict[str, Behaviour] = {
    "[[fail:500]]": HttpError(500, headers=FAULT_HEADERS),
    "[[fail:429]]": HttpError(429, headers={"Retry-After": "0", **FAULT_HEADERS}),
    "[[fail:malformed]]": Malformed(),
}
EMBEDDING_FAULTS: dict[str, EmbeddingBehaviour] = {
    "[[fail-embeddings:500]]": HttpError(500, headers=FAULT_HEADERS),
    "[[fail-embeddings:429]]": HttpError(429, headers={"Retry-After": "0", **FAULT_HEADERS}),
}
_BROKEN_JSON = '{"memory_operations": [{"op": "add", "content": "unterminated'


# --- reading the prompt ---------------------------------------------------------------------


def message_text(body: JsonBody, role: str) -> str:
    """All text of the request's messages with that role."""
    return "\n".join(
        str(message.get("content") or "")
        for message in body.get("messages", [])
        if message.get("role") == role
    )


def section(text: str, tag: str) -> str | None:
    """The body of `<tag ...>...</tag>` in the prompt, or None."""
    match = re.search(rf"<{tag}(?: [^>]*)?>\n(.*?)\n</{tag}>", text, re.DOTALL)
    return match.group(1) if match else None


def transcript_from_body(body: JsonBody) -> list[dict[str, Any]]:
    """The transcript the prompt carries: dicts with turn_index, role and content."""
    user = message_text(body, "user")
    start = user.find(TRANSCRIPT_OPEN)
    end = user.find(TRANSCRIPT_CLOSE, start)
    if start < 0 or end < 0:
        return []
    messages: list[dict[str, Any]] = json.loads(user[start + len(TRANSCRIPT_OPEN) : end])
    return messages


@dataclass(frozen=True)
class ShownMemory:
    memory_id: str
    layer: str
    content: str


def shown_memories(body: JsonBody) -> list[ShownMemory]:
    """The memories listed in the prompt, as `[id] layer/category (polarity): text` lines."""
    lines = (section(message_text(body, "user"), "memories") or "").splitlines()
    pattern = re.compile(r"^\[(?P<id>[^\]]+)\] (?P<layer>[a-z]+)[^:]*: (?P<content>.*)$")
    found = [pattern.match(line) for line in lines]
    return [
        ShownMemory(m["id"], m["layer"], m["content"].replace("&lt;", "<").replace("&gt;", ">"))
        for m in found
        if m
    ]


@dataclass(frozen=True)
class ShownEntityLines:
    name: str
    aliases: list[str]
    facts: list[tuple[str, str]]  # (fact_id, text)


def shown_entities(body: JsonBody) -> list[ShownEntityLines]:
    """The entities listed in the prompt: `- Name (type; aliases: a, b): ...` then `  [id] fact` lines."""
    header = re.compile(r"^- (?P<name>.+?) \((?P<meta>[^()]*)\)(?:: .*)?$")
    fact = re.compile(r"^  \[(?P<id>[^\]]+)\] (?P<content>.*)$")
    found: list[ShownEntityLines] = []
    for line in (section(message_text(body, "user"), "entities") or "").splitlines():
        if (m := header.match(line)) is not None:
            aliases = next(
                (p.removeprefix("aliases: ") for p in m["meta"].split("; ") if p.startswith("aliases: ")), ""
            )
            found.append(
                ShownEntityLines(_unescape(m["name"]), [_unescape(a) for a in aliases.split(", ") if a], [])
            )
        elif (m := fact.match(line)) is not None and found:
            found[-1].facts.append((m["id"], _unescape(m["content"])))
    return found


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">")


def allowed_layers(body: JsonBody) -> list[str]:
    for line in message_text(body, "system").splitlines():
        if line.startswith(LAYERS_LINE_PREFIX):
            return [name.strip(" .") for name in line.removeprefix(LAYERS_LINE_PREFIX).split(",")]
    return []


def profile_fields(body: JsonBody) -> list[str]:
    if NO_PROFILE_LINE in message_text(body, "system"):
        return []
    schema = section(message_text(body, "user"), "profile_schema") or ""
    # A standard field is listed by its name alone, a custom one as "name: description".
    return [line.split(":", 1)[0].strip() for line in schema.splitlines() if line.strip()]


# --- the rule-based responder ---------------------------------------------------------------


def rule_based_responder(body: JsonBody) -> Behaviour:
    """Deterministic replies from the transcript, with fault markers; see the module docstring."""
    transcript = transcript_from_body(body)
    for message in transcript:
        for marker, fault in FAULTS.items():
            if marker in str(message.get("content", "")):
                return fault
    user_messages = [m for m in transcript if m.get("role") == "user"]
    operations: list[MemoryOperation] = []
    updates: list[ProfileFieldUpdate] = []
    entity_ops: list[EntityOperation] = []
    insights: list[KnowledgeOperation] = []
    system = message_text(body, "system")
    for message in user_messages:
        text, turn = str(message["content"]).strip(), int(message["turn_index"])
        operations += _memory_operations(body, text, turn)
        updates += _profile_updates(body, text, turn)
        if ENTITIES_OFF_LINE not in system:
            entity_ops += _entity_operations(body, text, turn)
        if KNOWLEDGE_OFF_LINE not in system and (match := _INSIGHT.match(text)):
            insights.append(
                KnowledgeOperation(
                    title=match["title"].strip(),
                    content=match["content"].strip(),
                    context=None,
                    tags=[],
                    turn_index=turn,
                )
            )
    return ExtractionResult(
        memory_operations=operations[:30],
        profile_updates=updates[:20],
        session=_session(body, user_messages),
        entity_operations=entity_ops[:30],
        knowledge_operations=insights[:5],
    )


_REMEMBER = re.compile(
    r"^remember (?P<layer>[a-z]+)(?: \((?P<polarity>positive|negative)\))?:\s*(?P<text>.+)$", re.I | re.S
)
_FORGET = re.compile(r"^forget:\s*(?P<text>.+)$", re.I | re.S)
_REPLACE = re.compile(r"^replace:\s*(?P<old>.+?)\s*=>\s*(?P<new>.+)$", re.I | re.S)
_SET = re.compile(r"^set (?P<field>[a-z][a-z0-9_]*):\s*(?P<value>.+)$", re.I | re.S)


def _memory_operations(body: JsonBody, text: str, turn: int) -> list[MemoryOperation]:
    memories = shown_memories(body)
    if match := _REMEMBER.match(text):
        return _remember(body, memories, match, turn)
    if match := _FORGET.match(text):
        needle = match["text"].strip().lower()
        return [_op("delete", turn, memory_id=m.memory_id) for m in memories if needle in m.content.lower()]
    if match := _REPLACE.match(text):
        old = re.compile(re.escape(match["old"].strip()), re.I)
        return [
            _op("update", turn, memory_id=m.memory_id, content=old.sub(match["new"].strip(), m.content))
            for m in memories
            if old.search(m.content)
        ]
    return []


def _remember(
    body: JsonBody, memories: list[ShownMemory], match: re.Match[str], turn: int
) -> list[MemoryOperation]:
    layer, content = match["layer"].lower(), match["text"].strip()
    if layer not in allowed_layers(body):
        return []
    for memory in memories:
        if memory.layer == layer and _normalized(memory.content) == _normalized(content):
            return [_op("noop", turn, memory_id=memory.memory_id)]
    polarity = (match["polarity"] or "positive").lower() if layer == "feedback" else None
    return [_op("add", turn, layer=layer, content=content, polarity=polarity)]


def _op(op: str, turn: int, **fields: Any) -> MemoryOperation:
    values: dict[str, Any] = dict.fromkeys(("memory_id", "layer", "category", "content", "polarity"))
    return MemoryOperation.model_validate({**values, **fields, "op": op, "turn_index": turn})


_ENTITY = re.compile(r"^entity (?P<name>.+?) \((?P<type>[a-z]+)\):\s*(?P<fact>.+)$", re.I | re.S)
_SUPERSEDE = re.compile(r"^supersede (?P<name>.+?):\s*(?P<old>.+?)\s*=>\s*(?P<new>.+)$", re.I | re.S)
_EVENT = re.compile(r"^event (?P<name>.+?)(?: \[(?P<date>[^\]]+)\])?:\s*(?P<text>.+)$", re.I | re.S)
_LINK = re.compile(r"^link (?P<a>.+?) (?P<relation>[a-z][a-z0-9_]*) (?P<b>.+)$", re.S)
_INSIGHT = re.compile(r"^insight (?P<title>[^:]+):\s*(?P<content>.+)$", re.I | re.S)
_ENTITY_TYPES = frozenset(get_args(EntityType))


def _entity_operations(body: JsonBody, text: str, turn: int) -> list[EntityOperation]:
    if match := _ENTITY.match(text):
        kind = match["type"].lower()
        return [
            _entity_op("upsert", match["name"], turn, entity_type=kind if kind in _ENTITY_TYPES else None),
            _entity_op("add_fact", match["name"], turn, content=match["fact"].strip()),
        ]
    if match := _SUPERSEDE.match(text):
        name, old, new = match["name"].strip(), _normalized(match["old"]), match["new"].strip()
        for entity in shown_entities(body):
            if _normalized(name) in {_normalized(n) for n in (entity.name, *entity.aliases)}:
                for fact_id, content in entity.facts:
                    if _normalized(content) == old:
                        return [_entity_op("supersede_fact", name, turn, content=new, fact_id=fact_id)]
        return [_entity_op("add_fact", name, turn, content=new)]
    if match := _EVENT.match(text):
        return [
            _entity_op(
                "add_event", match["name"], turn, content=match["text"].strip(), date_text=match["date"]
            )
        ]
    if match := _LINK.match(text):
        return [_entity_op("relate", match["a"], turn, relation=match["relation"], target=match["b"].strip())]
    return []


def _entity_op(op: EntityOp, name: str, turn: int, **fields: Any) -> EntityOperation:
    return EntityOperation.of(op, name.strip(), turn, **fields)


def _profile_updates(body: JsonBody, text: str, turn: int) -> list[ProfileFieldUpdate]:
    match = _SET.match(text)
    if not match or match["field"].lower() not in profile_fields(body):
        return []
    value = match["value"].strip()
    return [
        ProfileFieldUpdate(
            field=match["field"].lower(), value=None if value == "null" else value, turn_index=turn
        )
    ]


def _session(body: JsonBody, user_messages: list[dict[str, Any]]) -> SessionUpdate | None:
    system = message_text(body, "system")
    if SESSION_OFF_LINE in system:
        return None
    previous = json.loads(section(message_text(body, "user"), "previous_session") or "{}")
    texts = [" ".join(str(m["content"]).split())[:100] for m in user_messages]
    parts = [previous.get("summary") or "", "User: " + "; ".join(texts) if texts else ""]
    summary = " ".join(part for part in parts if part)[:2000] or "Nothing yet."
    goal, plan, progress = (
        previous.get("goal"),
        list(previous.get("plan", [])),
        list(previous.get("progress", [])),
    )
    if PLANNING_LINE not in system:
        return SessionUpdate(summary=summary, goal=None, plan=[], progress=[])
    for text in texts:
        key, _, value = text.partition(":")
        if key.lower() == "goal":
            goal = value.strip()
        elif key.lower() == "plan":
            plan = [step.strip() for step in value.split(";") if step.strip()]
        elif key.lower() == "done":
            progress.append(value.strip())
    return SessionUpdate(summary=summary, goal=goal, plan=plan, progress=progress)


def _normalized(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


# --- the server -----------------------------------------------------------------------------


class FakeOpenAIServer:
    """A chat-completions endpoint on 127.0.0.1 that answers from a script, then a responder."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reject_json_schema: int | None = None,
        embedding_responder: EmbeddingResponder | None = None,
        embedding_dimension: int = DEFAULT_EMBEDDING_DIMENSION,
    ) -> None:
        self.responder = responder or rule_based_responder
        self.reject_json_schema = reject_json_schema
        self.requests: list[JsonBody] = []
        self.script: deque[Behaviour] = deque()
        self.embedding_responder = embedding_responder or hashed_embeddings_responder
        self.embedding_dimension = embedding_dimension
        self.embedding_requests: list[JsonBody] = []
        self.embedding_script: deque[EmbeddingBehaviour] = deque()
        self.faults: dict[str, Behaviour] = {}
        self.extractions: list[JsonBody] = []
        self.bearer_tokens: set[str] = set()  # the API keys clients presented
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = _HTTPServer((host, port), _Handler, self)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def enqueue(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self.script.extend(behaviours)

    def enqueue_embeddings(self, *behaviours: EmbeddingBehaviour) -> None:
        with self._lock:
            self.embedding_script.extend(behaviours)

    def fail_while(self, token: str, behaviour: Behaviour) -> None:
        """Answer `behaviour` to every request whose transcript contains `token`, until healed."""
        with self._lock:
            self.faults[token] = behaviour

    def heal(self, *tokens: str) -> None:
        """Lift the switched faults of these tokens (all of them when none is named)."""
        with self._lock:
            for token in tokens or list(self.faults):
                self.faults.pop(token, None)

    def record_extraction(self, body: JsonBody) -> None:
        with self._lock:
            self.extractions.append(body)

    def start(self) -> Self:
        # A short poll interval makes close() quick: shutdown() waits for the next poll.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def next_behaviour(self, body: JsonBody) -> Behaviour:
        """Record the request and decide how to answer it."""
        text = "\n".join(str(m.get("content", "")) for m in transcript_from_body(body)) if self.faults else ""
        with self._lock:
            self.requests.append(body)
            if self.reject_json_schema and _response_format(body) == "json_schema":
                return HttpError(
                    self.reject_json_schema, body=_error_body("response_format json_schema not supported")
                )
            if self.script:
                return self.script.popleft()
            switched = next((fault for token, fault in self.faults.items() if token in text), None)
        return switched if switched is not None else self.responder(body)

    def next_embedding_behaviour(self, body: JsonBody) -> EmbeddingBehaviour:
        """Record an embeddings request and decide how to answer it."""
        with self._lock:
            self.embedding_requests.append(body)
            if self.embedding_script:
                return self.embedding_script.popleft()
        return self.embedding_responder(body)

    def wait(self, seconds: float) -> bool:
        """Sleep unless the server closes first; True when it did."""
        return self._closing.wait(seconds)


_HTTPServer = FakeHTTPServer[FakeOpenAIServer]


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.fake.bearer_tokens.add(self.headers.get("Authorization", "").removeprefix("Bearer "))
        route = self.path.split("?", 1)[0].rstrip("/")
        is_embeddings = route.endswith("/embeddings")
        if not (is_embeddings or route.endswith("/chat/completions")):
            self._send_json(404, _error_body(f"no route {self.path}"))
            return
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._send_json(400, _error_body("the request body is not JSON"))
            return
        if is_embeddings:
            self._answer_embeddings(body, self.server.fake.next_embedding_behaviour(body))
        else:
            self._answer(body, self.server.fake.next_behaviour(body))

    def _answer_embeddings(self, body: JsonBody, behaviour: Behaviour | EmbeddingReply) -> None:
        fake = self.server.fake
        if isinstance(behaviour, Delay):
            if fake.wait(behaviour.seconds):
                return
            then = behaviour.then if behaviour.then is not None else fake.embedding_responder(body)
            self._answer_embeddings(body, then)
        elif isinstance(behaviour, HttpError):
            payload = (
                behaviour.body if behaviour.body is not None else _error_body(f"scripted {behaviour.status}")
            )
            self._send_json(behaviour.status, payload, behaviour.headers)
        elif isinstance(behaviour, Malformed):
            self._send_bytes(200, b'{"object": "list", "data": [', {"Content-Type": "application/json"})
        elif isinstance(behaviour, EmbeddingReply):
            try:
                answer = embeddings_response(body, behaviour, fake.embedding_dimension)
            except ValueError as error:
                self._send_json(400, _error_body(str(error)))
                return
            self._send_json(200, answer)
        else:
            self._send_json(500, _error_body(f"not an embeddings behaviour: {type(behaviour).__name__}"))

    def _answer(self, body: JsonBody, behaviour: Behaviour) -> None:
        fake = self.server.fake
        if isinstance(behaviour, Delay):
            if fake.wait(behaviour.seconds):
                return
            self._answer(body, behaviour.then if behaviour.then is not None else fake.responder(body))
        elif isinstance(behaviour, HttpError):
            payload = (
                behaviour.body if behaviour.body is not None else _error_body(f"scripted {behaviour.status}")
            )
            self._send_json(behaviour.status, payload, behaviour.headers)
        elif isinstance(behaviour, Malformed) and behaviour.where == "body":
            self._send_bytes(
                200, b'{"id": "chatcmpl-broken", "choices": [', {"Content-Type": "application/json"}
            )
        else:
            sent = self._send_json(200, completion(body, behaviour))
            if sent and isinstance(behaviour, ExtractionResult):
                fake.record_extraction(body)

    def _send_json(self, status: int, payload: JsonBody | str, headers: dict[str, str] | None = None) -> bool:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        return self._send_bytes(status, data, {"Content-Type": "application/json", **(headers or {})})

    def _send_bytes(self, status: int, data: bytes, headers: dict[str, str]) -> bool:
        """False when writing failed: the client had gone (a timeout)."""
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except ConnectionError:
            return False  # the client gave up (timeout) before the answer
        return True


# --- building replies -----------------------------------------------------------------------


def completion(body: JsonBody, behaviour: ExtractionResult | Reply | Malformed) -> JsonBody:
    """A chat.completion object answering `body`."""
    reply = _as_reply(body, behaviour)
    message: JsonBody = {"role": "assistant", "content": reply.content, "refusal": reply.refusal}
    if reply.tool_arguments is not None:
        name = reply.tool_name or _forced_tool(body) or "tool"
        call = {
            "id": "call_fake",
            "type": "function",
            "function": {"name": name, "arguments": reply.tool_arguments},
        }
        message["tool_calls"] = [call]
    finish = reply.finish_reason or ("tool_calls" if reply.tool_arguments is not None else "stop")
    answer: JsonBody = {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": 0,
        "model": str(body.get("model", "fake-model")),
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
    }
    if reply.include_usage:
        answer["usage"] = _usage(body, reply)
    return answer


def _as_reply(body: JsonBody, behaviour: ExtractionResult | Reply | Malformed) -> Reply:
    if isinstance(behaviour, Reply):
        return behaviour
    # A model answers in the reply format it is held to: one object per operation.
    text = (
        _BROKEN_JSON
        if isinstance(behaviour, Malformed)
        else ExtractionReply.from_result(behaviour).model_dump_json()
    )
    return Reply(tool_arguments=text) if _forced_tool(body) else Reply(content=text)


def _forced_tool(body: JsonBody) -> str | None:
    """The function the request asks for: the one `tool_choice` names, else the first tool."""
    tools = body.get("tools") or []
    if not tools:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("function", {}).get("name"):
        return str(choice["function"]["name"])
    return str(tools[0].get("function", {}).get("name", "tool"))


def _usage(body: JsonBody, reply: Reply) -> dict[str, int]:
    if reply.usage is not None:
        prompt, completion_tokens = reply.usage
    else:
        prompt = sum(estimate_tokens(str(m.get("content") or "")) for m in body.get("messages", []))
        completion_tokens = estimate_tokens((reply.content or "") + (reply.tool_arguments or ""))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def _response_format(body: JsonBody) -> str | None:
    response_format = body.get("response_format")
    return str(response_format.get("type")) if isinstance(response_format, dict) else None


def _error_body(message: str) -> JsonBody:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


# --- embeddings -----------------------------------------------------------------------------


def hashed_embeddings_responder(body: JsonBody) -> EmbeddingBehaviour:
    """Deterministic vectors, unless an input carries an embeddings fault marker."""
    for text in _embedding_inputs(body):
        for marker, fault in EMBEDDING_FAULTS.items():
            if marker in text:
                return fault
    return EmbeddingReply()


def embeddings_response(body: JsonBody, reply: EmbeddingReply, default_dimension: int) -> JsonBody:
    """A `list` of `embedding` objects answering `body`; ValueError for a request OpenAI refuses."""
    inputs = _embedding_inputs(body)
    if not inputs or any(text == "" for text in inputs):
        raise ValueError("'$.input' is invalid: inputs must be non-empty strings")
    requested = body.get("dimensions")
    if requested is not None and (not isinstance(requested, int) or requested < 1):
        raise ValueError("'dimensions' must be a positive integer")
    dimension = reply.dimension or requested or default_dimension
    vectors = reply.vectors if reply.vectors is not None else HashingEmbedder(dimension).embed(inputs)
    encode_base64 = body.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": _base64_floats(vector) if encode_base64 else vector,
        }
        for index, vector in enumerate(vectors)
    ][: reply.count]
    if reply.reverse:
        data.reverse()
    answer: JsonBody = {"object": "list", "data": data, "model": str(body.get("model", "fake-embedding"))}
    if reply.include_usage:
        tokens = sum(estimate_tokens(text) for text in inputs)
        answer["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return answer


def _embedding_inputs(body: JsonBody) -> list[str]:
    """The request's `input` as a list of strings (a lone string is one input)."""
    raw = body.get("input")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        return [item if isinstance(item, str) else json.dumps(item) for item in raw]
    return []


def _base64_floats(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


# --- as a process ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Fake OpenAI-compatible chat-completions and embeddings server"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--reject-json-schema",
        type=int,
        default=None,
        metavar="STATUS",
        help="answer json_schema requests with this status (llama.cpp: 500)",
    )
    parser.add_argument(
        "--embedding-dimension",
        type=int,
        default=DEFAULT_EMBEDDING_DIMENSION,
        help="size of the vectors /v1/embeddings returns when a request does not ask for one",
    )
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(
        host=args.host,
        port=args.port,
        reject_json_schema=args.reject_json_schema,
        embedding_dimension=args.embedding_dimension,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"fake-openai listening on {server.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
