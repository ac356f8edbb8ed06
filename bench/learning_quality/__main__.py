"""Learning quality: what the service believes after each session of multi-session conversations.

    python -m bench.learning_quality [DATA] --learner offline|local|endpoint [--only c01,c02]

Starts its own local stack (moto, API, poller: the real handlers, the production pipeline) on
its own ports with the learner asked for: `offline` (the rule-based extractor), `local` (the
llama.cpp server of local/model_server.py, built and started if needed) or `endpoint` (any
OpenAI-compatible endpoint: --base-url, --model, OPENAI_API_KEY). Each conversation runs for a
tenant of its own (its configuration applied), one session at a time, over HTTP; after each
session the state is read back and scored (README.md beside this file). Results go to
bench/results/learning_quality_<learner>.json with the command.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import write_result
from bench.learning_quality.dataset import (
    Conversation,
    ExpectedEntity,
    ExpectedInsight,
    ExpectedMemory,
    Forbid,
    Session,
    load,
)
from bench.learning_quality.matching import grounded, matches, stems
from learning_machine.cli.http import Api, ApiError
from local.stack import REPO_ROOT, StackInfo, create_api_key, start_stack, stop_stack

DEFAULT_DATA = Path(__file__).with_name("data") / "conversations.json"
STORES = ("profile", "memories", "entities", "session", "knowledge")
# Stores whose items count for precision, by the name transcript operations give them.
OPERATION_STORES = {
    "user_profile": "profile",
    "memories": "memories",
    "entity_memory": "entities",
    "learned_knowledge": "knowledge",
}
TRANSCRIPT_TIMEOUT_SECONDS = 900.0
# Each session happens at a fixed time, a week after the one before: the prompt shows the
# transcript's time, and a prompt that differs between runs gets another greedy reply.
FIRST_SESSION_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BUDGET = {"failed": 0, "schema_valid_first": 0.95, "recall": 0.8, "precision": 0.9, "repair_share": 0.05}


@dataclass
class StoreScore:
    expected: int = 0
    matched: int = 0
    items: int = 0
    violations: int = 0

    def figures(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "matched": self.matched,
            "recall": round(self.matched / self.expected, 3) if self.expected else None,
            "items": self.items,
            "violations": self.violations,
            "precision": round(1 - self.violations / self.items, 3) if self.items else None,
        }


@dataclass
class Totals:
    stores: dict[str, StoreScore] = field(default_factory=lambda: {name: StoreScore() for name in STORES})
    contradictions: dict[str, int] = field(
        default_factory=lambda: {"updated": 0, "duplicated": 0, "missed": 0}
    )
    transcripts: list[dict[str, Any]] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    by_conversation: dict[str, dict[str, int]] = field(default_factory=dict)
    # What the service believed after each session (memories and entity facts), to read a miss.
    beliefs: dict[str, list[str]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "expected": sum(s.expected for s in self.stores.values()),
            "matched": sum(s.matched for s in self.stores.values()),
            "items": sum(s.items for s in self.stores.values()),
            "violations": sum(s.violations for s in self.stores.values()),
        }


@dataclass
class Snapshot:
    profile: dict[str, str]
    memories: list[dict[str, Any]]
    session: dict[str, Any]
    entities: list[dict[str, Any]]
    insights: list[dict[str, Any]]  # each with "state": active or pending

    def entity_texts(self, entity: dict[str, Any], edges: bool) -> list[str]:
        texts = [fact["content"] for fact in entity["facts"] if fact.get("valid_to") is None]
        texts += [event["content"] for event in entity.get("events", [])]
        if entity.get("description"):
            texts.append(entity["description"])
        if edges:
            texts += [
                f"{edge['source_name']} {edge['relation']} {edge['target_name']}"
                for edge in entity.get("relationships", [])
            ]
        return texts


# ------------------------------------------------------------------ the learner's stack


def learner_env(args: argparse.Namespace) -> dict[str, str]:
    """The settings the stack's functions run with for this learner (empty values mean unset)."""
    if args.learner == "offline":
        return {
            "LM_LLM_BASE_URL": "",
            "OPENAI_API_KEY": "",
            "LM_LLM_API_KEY": "",
            "LM_EMBEDDING_BACKEND": "local",
        }
    if args.learner == "local":
        from local import model_server

        paths = model_server.Paths((REPO_ROOT / ".local").resolve())
        port = args.model_port
        model_server.start_server(paths, port)
        return model_server.llm_env(port)
    if not args.base_url:
        raise SystemExit("--learner endpoint needs --base-url (and OPENAI_API_KEY for a hosted one)")
    return {
        "LM_LLM_BASE_URL": args.base_url,
        "LM_LLM_MODEL": args.model,
        "LM_EMBEDDING_BACKEND": "local",
    }


# ------------------------------------------------------------------ one conversation


def run_conversation(
    conversation: Conversation,
    stack: StackInfo,
    run: str,
    totals: Totals,
    first_session: datetime,
) -> None:
    tenant = f"lq-{conversation.id}-{run}"
    key = create_api_key(stack.moto_url, stack.env["LM_KEYS_TABLE"], tenant, label="learning-quality")
    api = Api(stack.api_url, key, timeout=60.0)
    api.request("PUT", "/v1/config", conversation.config)
    user = f"u-{conversation.id}"
    said: set[str] = set()
    for number, session in enumerate(conversation.sessions, start=1):
        session_id = f"{conversation.id}-s{number}"
        where = f"{conversation.id} session {number}"
        for call in session.tool_calls:
            arguments = {name: _resolve(api, user, value) for name, value in call.arguments.items()}
            body = {"name": call.name, "arguments": arguments, "user_id": user, "session_id": session_id}
            try:
                api.request("POST", "/v1/tools/call", body)
            except ApiError as error:  # e.g. forgetting a memory that was never learned
                totals.misses.append(f"{where}: tool call {call.name} refused ({error.status})")
            said |= stems(" ".join(str(value) for value in arguments.values()))
        status = None
        if session.messages:
            said |= stems(" ".join(message["content"] for message in session.messages))
            occurred_at = session_time(number, first_session)
            status = learn(api, user, session_id, session, occurred_at, where, totals)
        snapshot = read_state(api, user, session_id)
        score_session(session, snapshot, status, said, where, totals)


def session_time(number: int, first: datetime = FIRST_SESSION_AT) -> datetime:
    """When session `number` (from 1) of any conversation happens, the same in every run."""
    return first + timedelta(weeks=number - 1)


def _resolve(api: Api, user: str, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("$memory:"):
        term = value.removeprefix("$memory:")
        memories = api.request("GET", f"/v1/users/{user}/memories")["memories"]
        found = [memory["memory_id"] for memory in memories if matches(memory["content"], [term])]
        return found[0] if found else "m_missing"
    return value


def learn(
    api: Api,
    user: str,
    session_id: str,
    session: Session,
    occurred_at: datetime,
    where: str,
    totals: Totals,
) -> dict[str, Any]:
    started = time.monotonic()
    body = {
        "user_id": user,
        "session_id": session_id,
        "messages": session.messages,
        "occurred_at": occurred_at.isoformat(),
    }
    transcript_id = api.request("POST", "/v1/transcripts", body)["transcript_id"]
    while True:
        status: dict[str, Any] = api.request("GET", f"/v1/transcripts/{transcript_id}")
        if status["status"] in ("done", "failed"):  # a failed one is not waited for through its retries
            break
        if time.monotonic() - started > TRANSCRIPT_TIMEOUT_SECONDS:
            status = {**status, "status": "failed", "error": "timed out in the benchmark"}
            break
        time.sleep(0.25)
    seconds = time.monotonic() - started
    totals.transcripts.append(
        {
            "where": where,
            "status": status["status"],
            "error": status.get("error"),
            "seconds": round(seconds, 2),
            "model_calls": status.get("model_calls", 0),
            "repair_calls": status.get("repair_calls", 0),
            "first_reply_error": status.get("first_reply_error"),
            "prompt_tokens": status["usage"]["prompt_tokens"],
            "completion_tokens": status["usage"]["completion_tokens"],
            "skipped": status.get("skipped", []),
            "held": status.get("held", []),
        }
    )
    return status


def read_state(api: Api, user: str, session_id: str) -> Snapshot:
    profile = _get_or_empty(api, f"/v1/users/{user}/profile").get("fields", {})
    memories = api.request("GET", f"/v1/users/{user}/memories")["memories"]
    session = _get_or_empty(api, f"/v1/sessions/{session_id}/context")
    entities = []
    for entity in api.request("GET", "/v1/entities", query={"user_id": user})["entities"]:
        view = api.request("GET", f"/v1/entities/{entity['entity_id']}", query={"user_id": user})
        entities.append({**view["entity"], "relationships": view.get("relationships", [])})
    insights = [{**i, "state": "active"} for i in api.request("GET", "/v1/knowledge")["insights"]]
    insights += [{**i, "state": "pending"} for i in api.request("GET", "/v1/knowledge/proposals")["insights"]]
    return Snapshot({k: str(v) for k, v in profile.items()}, memories, session, entities, insights)


def _get_or_empty(api: Api, path: str) -> dict[str, Any]:
    """A user or session nothing was learned for yet is a 404: nothing held."""
    try:
        return dict(api.request("GET", path))
    except ApiError as error:
        if error.status == 404:
            return {}
        raise


# ------------------------------------------------------------------ scoring


def score_session(
    session: Session,
    state: Snapshot,
    status: dict[str, Any] | None,
    said: set[str],
    where: str,
    totals: Totals,
) -> None:
    scores = totals.stores
    expect = session.expect

    def check(store: str, ok: bool, what: str) -> None:
        scores[store].expected += 1
        scores[store].matched += ok
        if not ok:
            totals.misses.append(f"{where}: {store} {what}")

    for name, terms in expect.profile.items():
        check("profile", matches(state.profile.get(name, ""), terms), f"{name}~{terms}")
    for memory in expect.memories:
        found = _memory_found(state, memory)
        check("memories", found, f"{memory.layer or '*'}~{memory.terms}")
        if memory.replaces is not None:
            old = _memory_found(state, memory.model_copy(update={"terms": memory.replaces, "layer": None}))
            outcome = "missed" if not found else "duplicated" if old else "updated"
            totals.contradictions[outcome] += 1
            if outcome == "duplicated":
                totals.wrong.append(f"{where}: kept {memory.replaces} beside {memory.terms}")
    for entity in expect.entities:
        check(
            "entities", _entity_found(state, entity), f"{entity.name}~{entity.facts or entity.facts_or_edges}"
        )
    if expect.session is not None:
        _score_session_context(expect.session, state, check)
    for insight in expect.knowledge:
        check("knowledge", _insight_found(state, insight), f"{insight.state}~{insight.terms}")

    # Precision: every item now held, and what is wrong with it.
    wrong: dict[str, set[str]] = defaultdict(set)
    items = {
        "profile": [(f"profile.{k}", v) for k, v in state.profile.items()],
        "memories": [(m["memory_id"], m["content"]) for m in state.memories],
        "entities": [
            (fact["fact_id"], fact["content"])
            for entity in state.entities
            for fact in entity["facts"]
            if fact.get("valid_to") is None
        ],
        "knowledge": [(i["insight_id"], f"{i['title']} {i['content']}") for i in state.insights],
    }
    totals.beliefs[where] = [
        *(f"{m['layer']}: {m['content']}" for m in state.memories),
        *(
            f"entity {e['name']}: {text}"
            for e in state.entities
            for text in state.entity_texts(e, edges=True)
        ),
    ]
    for store, held in items.items():
        scores[store].items += len(held)
        for item_id, text in held:
            if not grounded(text, said):
                wrong[store].add(item_id)
                totals.wrong.append(f"{where}: invented {store} item {text[:80]!r}")
    for item_id, text in _forbidden(session.forbid, state):
        store = item_id[0]
        if item_id[1] not in wrong[store]:
            wrong[store].add(item_id[1])
            totals.wrong.append(f"{where}: holds forbidden {store} item {text[:80]!r}")
    if session.noise and status is not None:
        held_ids = {store: {item_id for item_id, _ in held} for store, held in items.items()}
        for operation in status.get("operations", []):
            learned = OPERATION_STORES.get(operation["store"])
            if learned is None:
                continue
            totals.wrong.append(f"{where}: learned from noise: {learned} {operation['action']}")
            target = f"profile.{operation['target']}" if learned == "profile" else operation["target"]
            if target in held_ids[learned]:  # an item held now is wrong once, however it got wrong
                wrong[learned].add(target)
            else:  # a change to something not held as an item (a deletion, an entity): one more item
                scores[learned].items += 1
                wrong[learned].add(f"noise:{operation['target']}:{operation['action']}")
    for store, ids in wrong.items():
        scores[store].violations += len(ids)


def _memory_found(state: Snapshot, memory: ExpectedMemory) -> bool:
    layers = memory.layer.split("|") if memory.layer else None
    in_memories = any(
        matches(m["content"], memory.terms) and (layers is None or m["layer"] in layers)
        for m in state.memories
    )
    in_profile = memory.or_profile is not None and matches(
        state.profile.get(memory.or_profile, ""), memory.terms
    )
    return in_memories or in_profile


def _entity_candidates(state: Snapshot, name: str) -> list[dict[str, Any]]:
    return [e for e in state.entities if any(matches(n, [name]) for n in [e["name"], *e.get("aliases", [])])]


def _entity_found(state: Snapshot, expected: ExpectedEntity) -> bool:
    for entity in _entity_candidates(state, expected.name):
        facts = state.entity_texts(entity, edges=False)
        everything = state.entity_texts(entity, edges=True)
        if all(any(matches(text, terms) for text in facts) for terms in expected.facts) and all(
            any(matches(text, terms) for text in everything) for terms in expected.facts_or_edges
        ):
            return True
    return False


def _insight_found(state: Snapshot, expected: ExpectedInsight) -> bool:
    return any(
        i["state"] == expected.state and matches(f"{i['title']} {i['content']}", expected.terms)
        for i in state.insights
    )


def _score_session_context(expected: Any, state: Snapshot, check: Any) -> None:
    session = state.session or {}
    if expected.summary is not None:
        check(
            "session", matches(session.get("summary") or "", expected.summary), f"summary~{expected.summary}"
        )
    if expected.goal is not None:
        check("session", matches(session.get("goal") or "", expected.goal), f"goal~{expected.goal}")
    if expected.plan_min is not None:
        check("session", len(session.get("plan") or []) >= expected.plan_min, f"plan>={expected.plan_min}")
    for terms in expected.progress:
        done = session.get("progress") or []
        check("session", any(matches(step, terms) for step in done), f"progress~{terms}")


def _forbidden(forbid: Forbid, state: Snapshot) -> list[tuple[tuple[str, str], str]]:
    found: list[tuple[tuple[str, str], str]] = []
    for name, terms in forbid.profile.items():
        if name in state.profile and matches(state.profile[name], terms):
            found.append((("profile", f"profile.{name}"), state.profile[name]))
    for memory in forbid.memories:
        layers = memory.layer.split("|") if memory.layer else None
        for m in state.memories:
            if matches(m["content"], memory.terms) and (layers is None or m["layer"] in layers):
                found.append((("memories", m["memory_id"]), m["content"]))
    for entity in forbid.entities:
        for candidate in _entity_candidates(state, entity.name):
            for fact in candidate["facts"]:
                if fact.get("valid_to") is None and any(matches(fact["content"], t) for t in entity.facts):
                    found.append((("entities", fact["fact_id"]), fact["content"]))
    for insight in forbid.knowledge:
        for i in state.insights:
            if i["state"] == insight.state and matches(f"{i['title']} {i['content']}", insight.terms):
                found.append((("knowledge", i["insight_id"]), i["content"]))
    return found


# ------------------------------------------------------------------ the report


def figures(totals: Totals, learner: str, conversations: int, data: Path) -> dict[str, Any]:
    stores = {name: score.figures() for name, score in totals.stores.items()}
    expected = sum(s.expected for s in totals.stores.values())
    matched = sum(s.matched for s in totals.stores.values())
    items = sum(s.items for s in totals.stores.values())
    violations = sum(s.violations for s in totals.stores.values())
    transcripts = totals.transcripts
    count = len(transcripts) or 1
    done = [t for t in transcripts if t["status"] == "done"]
    first_valid = [t for t in done if t["repair_calls"] == 0]
    calls = sum(t["model_calls"] for t in transcripts)
    repairs = sum(t["repair_calls"] for t in transcripts)
    seconds = sorted(t["seconds"] for t in transcripts)
    overall = {
        "recall": round(matched / expected, 3) if expected else None,
        "precision": round(1 - violations / items, 3) if items else None,
        "expected_beliefs": expected,
        "items_held": items,
        "violations": violations,
        "transcripts": len(transcripts),
        "failed": len(transcripts) - len(done),
        "schema_valid_first": round(len(first_valid) / count, 3),
        "model_calls": calls,
        "repair_calls": repairs,
        "repair_share": round(repairs / count, 3),
        "held_operations": sum(len(t.get("held", [])) for t in transcripts),
        "prompt_tokens_per_transcript": round(sum(t["prompt_tokens"] for t in transcripts) / count),
        "completion_tokens_per_transcript": round(sum(t["completion_tokens"] for t in transcripts) / count),
        "seconds_per_transcript_p50": seconds[len(seconds) // 2] if seconds else None,
        "seconds_per_transcript_max": seconds[-1] if seconds else None,
        "contradictions": totals.contradictions,
    }
    within = (
        overall["failed"] <= BUDGET["failed"]
        and overall["schema_valid_first"] >= BUDGET["schema_valid_first"]
        and (overall["recall"] or 0) >= BUDGET["recall"]
        and (overall["precision"] or 0) >= BUDGET["precision"]
        and overall["repair_share"] <= BUDGET["repair_share"]
    )
    return {
        "learner": learner,
        "dataset": str(data),
        "conversations": conversations,
        "overall": overall,
        "stores": stores,
        "budget": BUDGET,
        "within_budget": within,
        "by_conversation": totals.by_conversation,
        "misses": totals.misses,
        "wrong": totals.wrong,
        "failures": [t for t in transcripts if t["status"] != "done"],
        "repairs": [t for t in transcripts if t["repair_calls"]],
        "held": [f"{t['where']}: {line}" for t in transcripts for line in t.get("held", [])],
        "beliefs": totals.beliefs,
    }


def print_table(result: dict[str, Any]) -> None:
    overall = result["overall"]
    counts = f"{result['conversations']} conversations, {overall['transcripts']} transcripts"
    print(f"\nlearner {result['learner']}: {counts}")
    print(f"{'store':10} {'recall':>8} {'precision':>10} {'expected':>9} {'items':>6} {'wrong':>6}")
    for name, store in result["stores"].items():
        recall = "-" if store["recall"] is None else f"{store['recall']:.2f}"
        precision = "-" if store["precision"] is None else f"{store['precision']:.2f}"
        sizes = f"{store['expected']:>9} {store['items']:>6} {store['violations']:>6}"
        print(f"{name:10} {recall:>8} {precision:>10} {sizes}")
    print(
        f"overall: recall {overall['recall']}, precision {overall['precision']}, failed {overall['failed']}, "
        f"schema-valid first replies {overall['schema_valid_first']}, repairs {overall['repair_calls']}, "
        f"model calls {overall['model_calls']}, held (ungrounded) {overall['held_operations']}, "
        f"contradictions {overall['contradictions']}, "
        f"p50 {overall['seconds_per_transcript_p50']} s per transcript"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.learning_quality", description=__doc__.splitlines()[0]
    )
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--learner", choices=["offline", "local", "endpoint"], default="offline")
    parser.add_argument("--base-url", help="--learner endpoint: the OpenAI-compatible base URL")
    parser.add_argument("--model", default=os.environ.get("LM_LLM_MODEL", "gpt-4o-mini"))
    parser.add_argument("--model-port", type=int, default=int(os.environ.get("LM_MODEL_PORT", "8181")))
    parser.add_argument("--only", help="comma-separated conversation ids (or id prefixes) to run")
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("LM_LQ_MOTO_PORT", "5610")))
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("LM_LQ_API_PORT", "3610")))
    parser.add_argument("--label", help="results name suffix (default: the learner)")
    parser.add_argument(
        "--first-session",
        type=datetime.fromisoformat,
        default=FIRST_SESSION_AT,
        help="when every first session happens (ISO 8601); the prompt shows it: another time, another sample",
    )
    args = parser.parse_args(argv)

    dataset = load(args.data)
    conversations = dataset.conversations
    if args.only:
        wanted = [part.strip() for part in args.only.split(",") if part.strip()]
        conversations = [c for c in conversations if any(c.id.startswith(w) for w in wanted)]
    state_dir = REPO_ROOT / ".local" / f"learning-quality-{args.learner}"
    stop_stack(state_dir)
    stack = start_stack(state_dir, args.moto_port, args.api_port, extra_env=learner_env(args))
    totals = Totals()
    run = uuid.uuid4().hex[:6]
    try:
        for conversation in conversations:
            print(f"{conversation.id} ...", flush=True)
            before = totals.counts()
            run_conversation(conversation, stack, run, totals, args.first_session)
            totals.by_conversation[conversation.id] = {
                key: value - before[key] for key, value in totals.counts().items()
            }
    finally:
        stop_stack(state_dir)
    result = figures(
        totals, args.learner if args.learner != "endpoint" else args.model, len(conversations), args.data
    )
    name = f"learning_quality_{args.label or args.learner}"
    write_result(name, result, module="bench.learning_quality")
    print_table(result)
    return 0 if result["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
