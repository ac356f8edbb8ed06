"""The learning loop end to end: HTTP -> local API -> SQS (moto) -> poller -> extract -> context.

The stack's model is the project's OpenAI adapter talking to a fake chat-completions server
over HTTP (tests/fakes/openai_server.py): its default responder turns "remember <layer>: x"
and "set <field>: x" into operations, and `[[fail:malformed]]` makes every reply invalid.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from learning_machine.models.common import MAX_BODY_BYTES
from learning_machine.stores.keys import memory_sk, user_pk
from tests.fakes.openai_server import FakeOpenAIServer, transcript_from_body
from tests.integration.conftest import Stack, fake_model_env, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack_extra_env(fake_model: FakeOpenAIServer) -> dict[str, str]:
    return fake_model_env(fake_model)


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:
        yield http


Api = Callable[..., httpx.Response]


@pytest.fixture(scope="module")
def tenant(stack: Stack, client: httpx.Client) -> Callable[[str], Api]:
    """A fresh tenant with its own key: `tenant(name)(method, path, **kwargs)`."""

    def make(name: str) -> Api:
        key = stack.new_tenant_key(f"{name}-{uuid.uuid4().hex[:6]}")

        def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
            headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
            return client.request(method, path, headers=headers, **kwargs)

        return call

    return make


def transcript(*lines: str, user: str = "ada", session: str = "s1", transcript_id: str | None = None) -> dict:
    body: dict[str, Any] = {
        "user_id": user,
        "session_id": session,
        "messages": [{"role": "user", "content": line} for line in lines],
    }
    if transcript_id:
        body["transcript_id"] = transcript_id
    return body


def learned(api: Api, transcript_id: str) -> dict:
    def done() -> dict | None:
        status = api("GET", f"/v1/transcripts/{transcript_id}").json()
        return status if status["status"] in ("done", "failed") else None

    return wait_for(done, f"transcript {transcript_id} to be learned")


def model_calls_for(fake: FakeOpenAIServer, marker: str) -> int:
    return sum(
        1 for body in list(fake.requests) if any(marker in m["content"] for m in transcript_from_body(body))
    )


def test_a_transcript_shows_up_in_its_tenants_context_and_no_other(tenant: Callable[[str], Api]) -> None:
    acme, globex = tenant("acme"), tenant("globex")
    posted = acme(
        "POST", "/v1/transcripts", json=transcript("remember policies: Answer in haiku.", "set name: Ada")
    )
    assert posted.status_code == 202
    status = learned(acme, posted.json()["transcript_id"])
    assert status["status"] == "done" and status["model"] == "fake-model"
    assert {(o["store"], o["action"]) for o in status["operations"]} >= {
        ("memories", "add"),
        ("user_profile", "set"),
    }
    assert status["usage"]["prompt_tokens"] > 0

    context = acme("GET", "/v1/context", params={"user_id": "ada", "session_id": "s1"}).json()
    assert "- Answer in haiku." in context["xml"] and "name: Ada" in context["xml"]
    assert context["session"]["summary"]
    assert acme("GET", "/v1/sessions/s1/context").json()["user_id"] == "ada"

    other = globex("GET", "/v1/context", params={"user_id": "ada", "session_id": "s1"}).json()
    assert other["xml"] == "" and other["profile"] == {} and other["session"] is None
    assert globex("GET", "/v1/users/ada/profile").status_code == 404
    assert globex("GET", "/v1/sessions/s1/context").status_code == 404
    assert globex("GET", f"/v1/transcripts/{posted.json()['transcript_id']}").status_code == 404


def test_the_same_transcript_id_twice_is_learned_once(
    tenant: Callable[[str], Api], fake_model: FakeOpenAIServer
) -> None:
    api = tenant("dupes")
    body = transcript("remember knowledge: Uses a standing desk. dup-marker-1", transcript_id="dup-1")
    first = api("POST", "/v1/transcripts", json=body)
    second = api("POST", "/v1/transcripts", json=body)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["duplicate"] is True
    learned(api, "dup-1")
    third = api("POST", "/v1/transcripts", json=body)
    assert third.status_code == 200 and third.json()["status"] == "done"
    memories = api("GET", "/v1/users/ada/memories").json()["memories"]
    assert [m["content"] for m in memories] == ["Uses a standing desk. dup-marker-1"]
    assert model_calls_for(fake_model, "dup-marker-1") == 1


def test_exactly_one_model_call_per_transcript(
    tenant: Callable[[str], Api], fake_model: FakeOpenAIServer
) -> None:
    api = tenant("calls")
    marker = f"count-{uuid.uuid4().hex[:8]}"
    ids = [
        api(
            "POST",
            "/v1/transcripts",
            json=transcript(
                f"remember knowledge: fact {i} {marker}", user=f"u{i % 2}", session=f"s-u{i % 2}"
            ),
        ).json()["transcript_id"]
        for i in range(6)
    ]
    statuses = [learned(api, i) for i in ids]
    assert all(s["status"] == "done" for s in statuses)
    assert model_calls_for(fake_model, marker) == 6


def test_a_failing_extraction_lands_in_the_dlq_intact(
    stack: Stack, tenant: Callable[[str], Api], fake_model: FakeOpenAIServer
) -> None:
    api = tenant("failing")
    body = transcript(
        "remember knowledge: this reply will be broken [[fail:malformed]]", transcript_id="bad-1"
    )
    assert api("POST", "/v1/transcripts", json=body).status_code == 202

    def in_dlq() -> dict | None:
        reply = stack.sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        for message in reply.get("Messages", []):
            envelope = json.loads(message["Body"])
            if envelope["transcript_id"] == "bad-1":
                return envelope
        return None

    envelope = wait_for(in_dlq, "the failing transcript to reach the DLQ")
    assert envelope["transcript"]["messages"] == [{**body["messages"][0], "created_at": None}]
    status = api("GET", "/v1/transcripts/bad-1").json()
    assert status["status"] == "failed" and "ModelOutputError" in status["error"]
    assert status["attempts"] == 3  # maxReceiveCount of the template's redrive policy
    assert api("GET", "/v1/users/ada/memories").json()["memories"] == []


@pytest.mark.parametrize(
    ("content", "status", "loc"),
    [
        (b"{not json", 422, ["body"]),
        (
            json.dumps(transcript("x")).replace('"role": "user"', '"role": "robot"').encode(),
            422,
            ["body", "messages", 0, "role"],
        ),
        (json.dumps({**transcript("x"), "messages": []}).encode(), 422, ["body", "messages"]),
        (json.dumps({**transcript("x"), "user_id": "a b"}).encode(), 422, ["body", "user_id"]),
        (
            json.dumps(
                transcript("x" * 19_000) | {"messages": [{"role": "user", "content": "x" * 19_000}] * 11}
            ).encode(),
            413,
            ["body"],
        ),
    ],
)
def test_bad_input_over_http_names_the_field(
    tenant: Callable[[str], Api], content: bytes, status: int, loc: list
) -> None:
    assert status != 413 or len(content) > MAX_BODY_BYTES
    reply = tenant("bad")(
        "POST", "/v1/transcripts", content=content, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == status
    assert any(d["loc"][: len(loc)] == loc for d in reply.json()["detail"]), reply.text


def test_forget_user_removes_what_was_learned(tenant: Callable[[str], Api]) -> None:
    api = tenant("forget")
    posted = api(
        "POST", "/v1/transcripts", json=transcript("remember profile: Grew up in Lisbon.", user="zoe")
    )
    learned(api, posted.json()["transcript_id"])
    assert "Lisbon" in api("GET", "/v1/context", params={"user_id": "zoe"}).json()["xml"]
    assert api("DELETE", "/v1/users/zoe").status_code == 204
    assert api("GET", "/v1/context", params={"user_id": "zoe"}).json()["xml"] == ""
    assert api("GET", "/v1/users/zoe/profile").status_code == 404


def lm_cli(stack: Stack, key: str, cwd: Path) -> Callable[..., str]:
    """`lm` as a user runs it against the local API with a tenant's key: its output, or a failure."""
    env = {"PATH": str(Path(sys.executable).parent), "LM_API_URL": stack.api_url, "LM_API_KEY": key}
    lm = str(Path(sys.executable).with_name("lm"))

    def run(*argv: str) -> str:
        done = subprocess.run([lm, *argv], env=env, capture_output=True, text=True, check=False, cwd=cwd)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    return run


def test_lm_cli_ingests_a_jsonl_file_and_prints_the_context(stack: Stack, tmp_path: Path) -> None:
    key = stack.new_tenant_key(f"cli-{uuid.uuid4().hex[:6]}")
    lines = [
        transcript("remember policies: Prefers tabs.", user="cli", transcript_id="cli-1"),
        transcript("set role: Librarian", user="cli", transcript_id="cli-2"),
    ]
    path = tmp_path / "transcripts.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    env = {"PATH": str(Path(sys.executable).parent), "LM_API_URL": stack.api_url, "LM_API_KEY": key}
    lm = str(Path(sys.executable).with_name("lm"))
    ingest = subprocess.run(
        [lm, "ingest", str(path)], env=env, capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert ingest.returncode == 0, ingest.stderr
    assert "sent 2 of 2 transcripts" in ingest.stdout

    def context() -> str | None:
        shown = subprocess.run(
            [lm, "context", "--user", "cli"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        ).stdout
        return shown if "Prefers tabs." in shown and "role: Librarian" in shown else None

    wait_for(context, "the CLI to show what was learned")


def test_entities_are_learned_in_the_same_call_and_a_new_fact_supersedes_the_old(
    tenant: Callable[[str], Api], fake_model: FakeOpenAIServer
) -> None:
    api = tenant("entities")
    marker = f"entity-run-{uuid.uuid4().hex[:8]}"
    session = {"user": "eve", "session": "s-eve"}
    first = api(
        "POST",
        "/v1/transcripts",
        json=transcript("entity Falcon (project): Falcon runs on Postgres 15.", f"note {marker}", **session),
    ).json()["transcript_id"]
    status = learned(api, first)
    assert status["status"] == "done", status
    assert {("entity_memory", "upsert"), ("entity_memory", "add_fact")} <= {
        (o["store"], o["action"]) for o in status["operations"]
    }

    second = api(
        "POST",
        "/v1/transcripts",
        json=transcript(
            "supersede Falcon: Falcon runs on Postgres 15. => Falcon runs on Postgres 16.",
            f"note {marker}",
            **session,
        ),
    ).json()["transcript_id"]
    status = learned(api, second)
    assert status["status"] == "done" and status["skipped"] == [], status
    assert ("entity_memory", "supersede_fact") in {(o["store"], o["action"]) for o in status["operations"]}

    view = api("GET", "/v1/entities/Falcon", params={"user_id": "eve"})
    assert view.status_code == 200, view.text
    facts = {f["content"]: f for f in view.json()["entity"]["facts"]}
    old, new = facts["Falcon runs on Postgres 15."], facts["Falcon runs on Postgres 16."]
    assert old["valid_to"] is not None and old["superseded_by"] == new["fact_id"]
    assert new["valid_to"] is None and new["provenance"]["transcript_id"] == second
    assert view.json()["entity"]["entity_type"] == "project"

    context = api(
        "GET",
        "/v1/context",
        params={"user_id": "eve", "session_id": "s-eve", "query": "Which Postgres does Falcon run on?"},
    ).json()
    entities = context["xml"].split("<entities>", 1)[1].split("</entities>", 1)[0]
    assert "Falcon runs on Postgres 16." in entities and "Postgres 15" not in entities
    # Memories, session and entities: still one model call per transcript.
    assert model_calls_for(fake_model, marker) == 2


def test_lm_imports_knowledge_searches_and_reviews_proposals(stack: Stack, tmp_path: Path) -> None:
    key = stack.new_tenant_key(f"cli-kn-{uuid.uuid4().hex[:6]}")
    run = lm_cli(stack, key, tmp_path)

    items = [
        {"item_id": f"rb-{i}", "title": f"Runbook {i}", "content": f"Restart worker pool {i} after a deploy."}
        for i in range(150)
    ]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in items))
    assert "imported 150 new and updated 0 of 150 items" in run("import", str(path))
    assert "imported 0 new and updated 150 of 150 items" in run("import", str(path))
    assert "[knowledge] Runbook 42: Restart worker pool 42" in run("search", "worker pool 42")

    api = {"Authorization": f"Bearer {key}"}
    proposal = httpx.post(
        f"{stack.api_url}/v1/knowledge/proposals",
        headers=api,
        json={"title": "Quokka rule", "content": "Quokkas deploy on Fridays."},
    ).json()
    assert proposal["insight_id"] in run("proposals", "list")
    assert "Quokka" not in run("search", "quokkas deploy fridays")
    assert "is now active" in run("proposals", "approve", proposal["insight_id"], "--reviewer", "cli")
    assert "Quokka rule" in run("search", "quokkas deploy fridays")


def test_lm_curate_gives_a_memory_written_without_a_vector_one(stack: Stack, tmp_path: Path) -> None:
    """A memory stored before memories were embedded (its `vec` attribute removed in moto) gets its
    vector back from the curate function, through a conditional transaction update in moto."""
    tenant = f"vec-{uuid.uuid4().hex[:6]}"
    key = stack.new_tenant_key(tenant)
    api = {"Authorization": f"Bearer {key}"}
    created = httpx.post(
        f"{stack.api_url}/v1/users/ana/memories",
        headers=api,
        json={"layer": "knowledge", "content": "Has two cats named Miso and Tofu"},
        timeout=60,  # a cold API process loads its embedder on its first write
    )
    assert created.status_code == 201, created.text
    item_key = {"pk": {"S": user_pk(tenant, "ana")}, "sk": {"S": memory_sk(created.json()["memory_id"])}}
    table = stack.env["LM_DATA_TABLE"]

    def stored() -> dict[str, Any]:
        return dict(stack.dynamodb.get_item(TableName=table, Key=item_key, ConsistentRead=True)["Item"])

    vector = stored()["vec"]["B"]
    stack.dynamodb.update_item(TableName=table, Key=item_key, UpdateExpression="REMOVE vec")
    without = stored()
    assert "vec" not in without

    made = lm_cli(stack, key, tmp_path)("curate", "--user", "ana", "--operation", "embed_memories")

    assert "[embed_memories] made" in made and "done: embed_memories 1" in made
    after = stored()
    assert after["vec"]["B"] == vector  # the same text, the same embedder: the same bytes
    assert (after["doc"], after["version"]) == (without["doc"], without["version"])


def test_lm_curate_reindexes_a_namespace_through_the_curate_function(stack: Stack, tmp_path: Path) -> None:
    """`reindex` reads the namespace's items from moto and writes them to the index on disk again."""
    key = stack.new_tenant_key(f"idx-{uuid.uuid4().hex[:6]}")
    items = [
        {"item_id": f"tip-{i}", "title": f"Tip {i}", "content": f"Pin dependency {i} in CI."}
        for i in range(3)
    ]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in items))
    run = lm_cli(stack, key, tmp_path)

    assert "imported 3 new" in run("import", str(path))

    made = run("curate", "--namespace", "global", "--operation", "reindex")

    assert "[reindex] made" in made and "done: reindex 1" in made
    assert "0 entities and 3 insights embedded with" in made
    assert "[knowledge] Tip 2: Pin dependency 2 in CI." in run("search", "pin dependency 2")


def test_lm_curate_plans_merges_and_undoes_through_the_curate_function(stack: Stack, tmp_path: Path) -> None:
    """POST /v1/curate -> curation queue (moto) -> poller -> curate function, driven by `lm curate`."""
    key = stack.new_tenant_key(f"cur-{uuid.uuid4().hex[:6]}")
    api = {"Authorization": f"Bearer {key}"}
    for text in ("The user prefers short answers in French", "The user prefers short answers in French!"):
        created = httpx.post(
            f"{stack.api_url}/v1/users/ana/memories", headers=api, json={"layer": "policies", "content": text}
        )
        assert created.status_code == 201, created.text
    run = lm_cli(stack, key, tmp_path)

    def memories() -> list[str]:
        listed = httpx.get(f"{stack.api_url}/v1/users/ana/memories", headers=api).json()
        return sorted(m["memory_id"] for m in listed["memories"])

    both = memories()
    plan = run("curate", "--user", "ana", "--dry-run")
    assert "[merge_memories] planned" in plan and "done: merge_memories 1" in plan
    assert memories() == both

    made = run("curate", "--user", "ana")
    assert "[merge_memories] made" in made
    job_id = made.split()[2]
    assert len(memories()) == 1 and memories()[0] in both

    undone = run("curate", "--undo", job_id)
    assert "done: undone 1" in undone
    assert memories() == both
