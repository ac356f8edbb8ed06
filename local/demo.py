"""`make demo`: three users talk to an agent; the service learns; we print what it learned.

Runs against the local stack (`make up` wrote `.local/env`), over HTTP, with the dev key.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from learning_machine.adapters.embeddings.factory import describe_embedder
from learning_machine.cli.http import Api
from learning_machine.settings import get_settings

TRANSCRIPTS = Path(__file__).with_name("demo_data") / "transcripts.json"
USERS = {"priya": "a developer", "marco": "a support customer", "lena": "a student (planning session)"}
LAYERS = ["profile", "policies", "knowledge", "feedback"]
OFFLINE_MODEL = "offline-rules"


# The local 1.5B model (`make demo LLM=local`) takes 10-60 s per transcript on 2 busy cores,
# up to about 4 minutes for one that runs to its token cap and is repaired.
def wait_until_learned(api: Api, ids: list[str], timeout: float = 600.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = [api.request("GET", f"/v1/transcripts/{i}") for i in ids]
        pending = [s for s in statuses if s["status"] not in ("done", "failed")]
        if not pending:
            return statuses
        if time.monotonic() > deadline:
            raise SystemExit(
                f"{len(pending)} transcripts still not learned after {timeout:.0f}s: is the poller up?"
            )
        time.sleep(0.5)


def _seconds(status: dict[str, Any]) -> float:
    received = datetime.fromisoformat(status["received_at"])
    completed = datetime.fromisoformat(status["completed_at"]) if status.get("completed_at") else received
    return (completed - received).total_seconds()


def show_user(api: Api, user: str, role: str, session: str) -> None:
    print(f"\n=== {user}: {role} " + "=" * max(0, 60 - len(user) - len(role)))
    profile = api.request("GET", f"/v1/users/{user}/profile")
    print("profile fields:")
    for name, value in sorted(profile["fields"].items()):
        print(f"  {name}: {value}")
    memories = api.request("GET", f"/v1/users/{user}/memories")["memories"]
    for layer in LAYERS:
        print(f"{layer}:")
        for memory in (m for m in memories if m["layer"] == layer):
            polarity = f" ({memory['polarity']})" if memory.get("polarity") else ""
            print(f"  - {memory['content']}{polarity}   [from {memory['provenance'].get('transcript_id')}]")
    context = api.request("GET", f"/v1/sessions/{session}/context")
    print(f"session {session}: {context['summary']}")
    if context.get("goal") or context.get("plan"):
        print(f"  goal: {context.get('goal')}")
        print(f"  plan: {context.get('plan')}")
        print(f"  progress: {context.get('progress')}")
    block = api.request(
        "GET", "/v1/context", query={"user_id": user, "session_id": session, "max_tokens": 600}
    )
    print(f"context block for the system prompt ({block['tokens']} tokens):")
    print("  " + block["xml"].replace("\n", "\n  "))


def agent_tool(api: Api, tool: str, user: str, **arguments: Any) -> dict[str, Any]:
    """What an agent does with the published tools: one function call, executed by the service."""
    reply = api.request("POST", "/v1/tools/call", {"name": tool, "arguments": arguments, "user_id": user})
    return dict(reply["result"])


def show_entities_and_knowledge(api: Api, user: str) -> None:
    """AGENTIC entity memory with a superseded fact, and a PROPOSE insight a human approves."""
    print("\n=== agent tools and human review " + "=" * 38)
    tools = [t["function"]["name"] for t in api.request("GET", "/v1/tools")["tools"]]
    print(f"tools published to the agent: {', '.join(tools)}")
    agent_tool(
        api,
        "remember_entity",
        user,
        name="Payments service",
        entity_type="system",
        facts=["The payments service runs on PostgreSQL 14."],
    )
    entity = api.request("GET", "/v1/entities/Payments service", query={"user_id": user})["entity"]
    old = next(f for f in entity["facts"] if "PostgreSQL 14" in f["content"])
    agent_tool(
        api,
        "remember_entity",
        user,
        name="payments service",
        facts=["The payments service runs on PostgreSQL 16."],
        supersedes=[old["fact_id"]],
    )
    agent_tool(api, "link_entities", user, source="Payments service", relation="publishes_to", target="Kafka")
    view = api.request("GET", "/v1/entities/Payments service", query={"user_id": user})
    print(f"entity {view['entity']['name']} ({view['entity']['entity_type']}):")
    for fact in view["entity"]["facts"]:
        validity = f"superseded at {fact['valid_to']}" if fact["valid_to"] else "current"
        print(f"  - {fact['content']}   [{validity}]")
    for edge in view["relationships"]:
        print(f"  - {edge['source_name']} --{edge['relation']}--> {edge['target_name']}")

    proposal = agent_tool(
        api,
        "propose_knowledge",
        user,
        title="Idempotent Kafka consumers",
        content="Store processed message ids under a unique key in the same transaction.",
        tags=["kafka", "idempotency"],
    )
    insight_id = proposal["insight"]["insight_id"]
    query = {"query": "idempotent kafka consumer", "stores": ["knowledge"]}
    before = api.request("POST", "/v1/search", query)["results"]
    print(f"proposal {insight_id} is pending; search finds {len(before)} insights before review")
    api.request("POST", f"/v1/knowledge/proposals/{insight_id}/approve", {"reviewer": "demo reviewer"})
    after = api.request("POST", "/v1/search", query)["results"]
    print(f"approved by a human; search now finds: {[r['title'] for r in after]}")
    block = api.request(
        "GET", "/v1/context", query={"user_id": user, "query": "payments service kafka consumers"}
    )
    print(f"context block with entities and learned knowledge ({block['tokens']} tokens):")
    print("  " + block["xml"].replace("\n", "\n  "))


def wait_for_job(api: Api, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Until the curate function (fed by the curation queue) has finished the job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = api.request("GET", f"/v1/curate/{job_id}")
        if view["job"]["status"] in ("done", "failed"):
            return view
        time.sleep(0.2)
    raise SystemExit(f"curation job {job_id} did not finish within {timeout:.0f} s")


def curated(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    return wait_for_job(api, api.request("POST", "/v1/curate", body)["job_id"])


def show_curation(api: Api, user: str) -> None:
    """The same fact saved twice in other words: a dry run plans the merge, a run makes it, undo reverts."""
    print("\n=== curation " + "=" * 57)
    for text in (
        "The payments service uses PostgreSQL and Kafka.",
        "The payments service runs on PostgreSQL and Kafka.",
    ):
        api.request("POST", f"/v1/users/{user}/memories", {"layer": "knowledge", "content": text})
    count = len(api.request("GET", f"/v1/users/{user}/memories")["memories"])
    print(f"an agent saved the same fact twice in other words; {user} has {count} memories")
    plan = curated(api, {"user_id": user, "dry_run": True, "operations": ["merge_memories"]})
    for change in plan["changes"]:
        print(f"dry run plans [{change['kind']}]: {change['reason']}")
    done = curated(api, {"user_id": user, "operations": ["merge_memories"]})
    memories = api.request("GET", f"/v1/users/{user}/memories")["memories"]
    kept = next(m for m in memories if m["merged"])
    print(f'after the run: {len(memories)} memories; kept "{kept["content"]}", which lists what it absorbed:')
    for item in kept["merged"]:
        print(f'  - "{item["content"]}"   [{item["provenance"]["source"]}, merged by job {item["job_id"]}]')
    undo = wait_for_job(api, api.request("POST", f"/v1/curate/{done['job']['job_id']}/undo")["job_id"])
    count = len(api.request("GET", f"/v1/users/{user}/memories")["memories"])
    print(f"undo ({undo['job']['progress']['by_kind']}): {user} has {count} memories again")


def main() -> int:
    api = Api.from_env()
    run = uuid.uuid4().hex[:6]
    api.request(
        "PUT",
        "/v1/config",
        {
            "stores": {
                "session_context": {"planning": True},
                # The agent may save insights, and propose ones a human must approve.
                "learned_knowledge": {"modes": ["agentic", "propose"]},
            }
        },
    )
    transcripts = json.loads(TRANSCRIPTS.read_text())
    ids = []
    sessions: dict[str, str] = {}
    # Fresh users per run, so running the demo twice shows the same story.
    for transcript in transcripts:
        user = transcript["user_id"]
        transcript = {
            **transcript,
            "transcript_id": f"{transcript['transcript_id']}-{run}",
            "user_id": f"{user}-{run}",
            "session_id": f"{transcript['session_id']}-{run}",
        }
        sessions[user] = transcript["session_id"]
        reply = api.request("POST", "/v1/transcripts", transcript)
        ids.append(reply["transcript_id"])
        # One at a time per user: each extraction builds on what the previous one learned.
        wait_until_learned(api, [reply["transcript_id"]])
    statuses = wait_until_learned(api, ids)
    failed = [s for s in statuses if s["status"] == "failed"]
    models = {s.get("model") for s in statuses}
    print(f"sent {len(ids)} transcripts over HTTP; learned by: {', '.join(sorted(m or '-' for m in models))}")
    seconds = sorted(_seconds(s) for s in statuses)
    p50, top = seconds[len(seconds) // 2], seconds[-1]
    print(f"seconds per transcript, queued to learned: p50 {p50:.1f}, max {top:.1f}")
    if OFFLINE_MODEL in models:
        print(
            "NOTE: the offline rule-based extractor learned these (LLM=offline): English patterns\n"
            "only, no real language understanding. `make down demo` learns with the local model; with\n"
            "OPENAI_API_KEY or LM_LLM_BASE_URL set, it uses that endpoint."
        )
    held = sum(len(s.get("held", [])) for s in statuses)
    if held:
        print(f"held back, not learned: {held} operations the users' own words do not support (grounding)")
    tokens = sum(s["usage"]["prompt_tokens"] + s["usage"]["completion_tokens"] for s in statuses)
    print(f"model tokens used: {tokens}")
    print(f"embeddings: {describe_embedder(get_settings())}; knowledge index: the embedded engine in .local/")
    for user, role in USERS.items():
        show_user(api, f"{user}-{run}", role, sessions[user])
    show_entities_and_knowledge(api, f"priya-{run}")
    show_curation(api, f"priya-{run}")
    if failed:
        print(f"\n{len(failed)} transcripts failed: {[s['error'] for s in failed]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
