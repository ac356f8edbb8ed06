"""`lm`: manage keys, send transcripts, import knowledge, search, review proposals, read context,
curate, forget users, serve the agent tools over MCP (`lm mcp`).

Talks to LM_API_URL with LM_API_KEY (both read from `.local/env` after `make up` when neither is set).
`lm keys` writes to the keys table directly, and `lm replay` moves dead-lettered transcripts back
to the queue, with the AWS credentials of the shell: `--stack NAME` takes the table and queues from
a deployed stack's outputs, `--local` from the local stack; `.local/env` never fills in a command
aimed at AWS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .http import Api, ApiError
from .target import TargetError, stack_outputs, use_api_settings, use_aws_settings


def read_documents(path: Path) -> Iterator[dict[str, Any]]:
    """A JSON object, a JSON array of objects, or JSON Lines."""
    text = path.read_text()
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise SystemExit(f"{path}:{number}: not JSON ({error.msg})") from None
        return
    yield from document if isinstance(document, list) else [document]


def progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def cmd_keys(args: argparse.Namespace) -> int:
    from ..stores.api_keys import ApiKeyStore

    if args.stack:
        table = stack_outputs(args.stack, ["ApiKeysTableName"])["ApiKeysTableName"]
    else:
        use_aws_settings(["LM_KEYS_TABLE"], local=args.local)
        table = os.environ.get("LM_KEYS_TABLE", "")
        if not table:
            raise TargetError("name the deployment: --stack NAME (or LM_KEYS_TABLE), or --local")
    store = ApiKeyStore(table)
    if args.action == "create":
        print(store.create(args.tenant, label=args.label or ""))
        return 0
    if store.revoke(args.key):
        print("revoked")
        return 0
    print("no such key", file=sys.stderr)
    return 1


def cmd_ingest(args: argparse.Namespace) -> int:
    api = Api.from_env()
    transcripts = list(read_documents(Path(args.file)))
    failures = 0
    for index, transcript in enumerate(transcripts, 1):
        try:
            reply = api.request("POST", "/v1/transcripts", transcript)
            if args.verbose:
                print(json.dumps(reply))
        except ApiError as error:
            failures += 1
            print(f"\ntranscript {index}: {error}", file=sys.stderr)
        progress(index, len(transcripts), "ingest")
    print(f"sent {len(transcripts) - failures} of {len(transcripts)} transcripts")
    return 1 if failures else 0


IMPORT_BATCH = 100  # the API's limit per call; one embedding call per batch


def cmd_import(args: argparse.Namespace) -> int:
    """Bulk knowledge import: items stored verbatim, idempotent per item_id, with a progress bar."""
    api = Api.from_env()
    items = list(read_documents(Path(args.file)))
    imported = updated = 0
    for start in range(0, len(items), IMPORT_BATCH):
        reply = api.request("POST", "/v1/knowledge/import", {"items": items[start : start + IMPORT_BATCH]})
        imported += reply["imported"]
        updated += reply["updated"]
        progress(min(start + IMPORT_BATCH, len(items)), len(items), "import")
    print(f"imported {imported} new and updated {updated} of {len(items)} items")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    body = {
        "query": args.query,
        "user_id": args.user,
        "namespace": args.namespace,
        "limit": args.limit,
        "min_score": args.min_score,
    }
    reply = Api.from_env().request("POST", "/v1/search", {k: v for k, v in body.items() if v is not None})
    for result in reply["results"]:
        title = f"{result['title']}: " if result.get("title") else ""
        print(f"{result['score']:.3f}  [{result['store']}] {title}{result['content']}")
    return 0


def cmd_proposals(args: argparse.Namespace) -> int:
    api = Api.from_env()
    query = {"namespace": args.namespace}
    if args.action == "list":
        for insight in api.request("GET", "/v1/knowledge/proposals", query=query)["insights"]:
            print(f"{insight['insight_id']}  {insight['title']}: {insight['content']}")
        return 0
    path = f"/v1/knowledge/proposals/{args.insight_id}/{args.action}"
    body = {"reason": args.reason} if args.action == "reject" else {"reviewer": args.reviewer}
    reply = api.request("POST", path, {k: v for k, v in body.items() if v is not None}, query=query)
    print(f"{reply['insight_id']} is now {reply['status']}")
    return 0


def cmd_context(args: argparse.Namespace) -> int:
    api = Api.from_env()
    reply = api.request(
        "GET",
        "/v1/context",
        query={
            "user_id": args.user,
            "session_id": args.session,
            "query": args.query,
            "max_tokens": args.max_tokens,
            "min_score": args.min_score,
        },
    )
    print(json.dumps(reply, indent=2) if args.json else reply["xml"])
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    print(json.dumps(Api.from_env().request("GET", f"/v1/transcripts/{args.transcript_id}"), indent=2))
    return 0


def cmd_forget_user(args: argparse.Namespace) -> int:
    if not args.yes:
        print(f"this removes everything held about {args.user}; add --yes to confirm", file=sys.stderr)
        return 2
    Api.from_env().request("DELETE", f"/v1/users/{args.user}")
    print(f"forgot {args.user}")
    return 0


def cmd_curate(args: argparse.Namespace) -> int:
    """Start a job (or an undo), follow it to its end, print what it changed."""
    api = Api.from_env()
    if args.undo:
        accepted = api.request("POST", f"/v1/curate/{args.undo}/undo")
    else:
        body: dict[str, Any] = {"dry_run": args.dry_run}
        if args.user:
            body["user_id"] = args.user
        if args.namespace:
            body["namespace"] = args.namespace
        if args.operation:
            body["operations"] = args.operation
        accepted = api.request("POST", "/v1/curate", body)
    job_id = accepted["job_id"]
    print(f"curation job {job_id}{' (dry run)' if accepted.get('dry_run') else ''}")
    if args.no_wait:
        return 0
    deadline = time.monotonic() + args.timeout
    while True:
        view = api.request("GET", f"/v1/curate/{job_id}")
        job = view["job"]
        progress_ = job["progress"]
        sys.stderr.write(
            f"\r{job['status']}: {progress_['units_done']} units, {progress_['changes']} changes"
        )
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            sys.stderr.write("\n")
            break
        time.sleep(0.5)
    for change in _all_changes(api, job_id, view):
        verb = "planned" if not change["applied"] else ("undone" if change["undone"] else "made")
        removed = ", ".join(change["removed"])
        print(f"[{change['kind']}] {verb}: {change['reason']}" + (f" (removed {removed})" if removed else ""))
    counts = (
        ", ".join(f"{kind} {n}" for kind, n in sorted(job["progress"]["by_kind"].items())) or "no changes"
    )
    print(f"{job['status']}: {counts}")
    if job["status"] == "failed":
        print(job.get("error") or "failed", file=sys.stderr)
    return 0 if job["status"] == "done" else 1


def _all_changes(api: Api, job_id: str, view: dict[str, Any]) -> Iterator[dict[str, Any]]:
    while True:
        yield from view["changes"]
        if not view.get("next_token"):
            return
        view = api.request("GET", f"/v1/curate/{job_id}", query={"after": view["next_token"]})


def cmd_replay(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from ..replay import (
        DLQ_URL_VARIABLE,
        QUEUE_URL_VARIABLE,
        QueueUrls,
        ReplaySetupError,
        replay,
        sqs_client,
        waiting,
    )

    if args.stack:
        outputs = stack_outputs(args.stack, ["TranscriptsQueueUrl", "TranscriptsDeadLetterQueueUrl"])
        queues = QueueUrls(queue=outputs["TranscriptsQueueUrl"], dlq=outputs["TranscriptsDeadLetterQueueUrl"])
    else:
        use_aws_settings([QUEUE_URL_VARIABLE, DLQ_URL_VARIABLE], local=args.local)
        try:
            queues = QueueUrls.from_env()
        except ReplaySetupError as error:
            raise SystemExit(str(error)) from None
    sqs = sqs_client(queues.queue)
    try:
        if args.dry_run:
            print(f"{waiting(sqs, queues.dlq)} transcripts in the DLQ would be replayed (dry run)")
            return 0
        result = replay(sqs, queues, args.limit, lambda done, total: progress(done, total, "replay"))
    except (BotoCoreError, ClientError) as error:
        print(f"replay failed: {error}", file=sys.stderr)
        return 1
    if 0 < result.moved + result.failed < result.total:
        sys.stderr.write("\n")  # the DLQ ran dry before the count it reported: end the progress line
    for problem in result.errors:
        print(problem, file=sys.stderr)
    left = f"; {result.failed} could not be sent and stay in the DLQ" if result.failed else ""
    print(f"replayed {result.moved} of {result.total} transcripts from the DLQ{left}")
    return 1 if result.failed else 0


def cmd_mcp(args: argparse.Namespace) -> int:
    """Serve the agent tools over MCP on stdio until the host closes it."""
    use_api_settings()
    try:  # the client and the MCP SDK load only for this command
        from ..client import AsyncLearningMachineClient
        from ..mcp_server import run
    except ImportError as error:
        hint = "pip install 'learning-machine-serverless[mcp]'"
        raise SystemExit(f"lm mcp needs the mcp extra: {hint} ({error})") from None
    try:
        client = AsyncLearningMachineClient()
    except ValueError as error:  # no LM_API_URL / LM_API_KEY
        raise SystemExit(str(error)) from None
    run(client, args.user or os.environ.get("LM_USER_ID"), args.session or os.environ.get("LM_SESSION_ID"))
    return 0


def add_target_arguments(command: argparse.ArgumentParser) -> None:
    """For the commands that call AWS themselves: which deployment, said outright."""
    target = command.add_mutually_exclusive_group()
    target.add_argument("--stack", help="a deployed stack's name: its outputs name the table and queues")
    target.add_argument("--local", action="store_true", help="the local stack `make up` started")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="lm", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = root.add_subparsers(dest="command", required=True)

    keys = sub.add_parser("keys", help="create or revoke API keys")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    create = keys_sub.add_parser("create", help="print a new API key for a tenant (shown once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--label")
    revoke = keys_sub.add_parser("revoke", help="revoke an API key")
    revoke.add_argument("key")
    for command in (create, revoke):
        add_target_arguments(command)
    keys.set_defaults(func=cmd_keys)

    ingest = sub.add_parser("ingest", help="send transcripts from a JSON or JSONL file")
    ingest.add_argument("file")
    ingest.add_argument("-v", "--verbose", action="store_true")
    ingest.set_defaults(func=cmd_ingest)

    context = sub.add_parser("context", help="print the context block for a user")
    context.add_argument("--user", required=True)
    context.add_argument("--session")
    context.add_argument("--query")
    context.add_argument("--max-tokens", type=int)
    context.add_argument(
        "--min-score", type=float, help="leave out entities and knowledge scoring below this"
    )
    context.add_argument("--json", action="store_true", help="the whole JSON answer")
    context.set_defaults(func=cmd_context)

    knowledge_import = sub.add_parser("import", help="bulk-import knowledge items from a JSON or JSONL file")
    knowledge_import.add_argument("file")
    knowledge_import.set_defaults(func=cmd_import)

    search = sub.add_parser("search", help="search memories, entities and knowledge")
    search.add_argument("query")
    search.add_argument("--user")
    search.add_argument("--namespace")
    search.add_argument("--limit", type=int)
    search.add_argument("--min-score", type=float, help="leave out results scoring below this (0: keep all)")
    search.set_defaults(func=cmd_search)

    proposals = sub.add_parser("proposals", help="review proposed knowledge")
    proposals.add_argument("--namespace")
    review = proposals.add_subparsers(dest="action", required=True)
    review.add_parser("list", help="pending proposals, oldest first")
    approve = review.add_parser("approve", help="make a proposal searchable")
    approve.add_argument("insight_id")
    approve.add_argument("--reviewer")
    reject = review.add_parser("reject", help="reject a proposal; the reason is kept")
    reject.add_argument("insight_id")
    reject.add_argument("--reason", required=True)
    proposals.set_defaults(func=cmd_proposals)

    status = sub.add_parser("status", help="status, operations and tokens of a transcript")
    status.add_argument("transcript_id")
    status.set_defaults(func=cmd_status)

    forget = sub.add_parser("forget-user", help="remove everything held about a user")
    forget.add_argument("user")
    forget.add_argument("--yes", action="store_true")
    forget.set_defaults(func=cmd_forget_user)

    curate = sub.add_parser(
        "curate", help="merge duplicates and prune by the tenant's rules; wait and report"
    )
    curate.add_argument("--user", help="only this user (and their private namespace)")
    curate.add_argument("--namespace", help="only this namespace")
    curate.add_argument("--dry-run", action="store_true", help="plan and report every change, write nothing")
    curate.add_argument(
        "--operation",
        action="append",
        help="repeat to choose: merge_memories, prune_memories, prune_history, merge_entities, "
        "dedupe_knowledge, drop_sessions (default: all)",
    )
    curate.add_argument("--undo", metavar="JOB_ID", help="undo a finished job instead")
    curate.add_argument("--no-wait", action="store_true", help="print the job id and return")
    curate.add_argument("--timeout", type=float, default=600, help="seconds to wait for the job")
    curate.set_defaults(func=cmd_curate)

    replay = sub.add_parser("replay", help="move dead-lettered transcripts back to the transcripts queue")
    replay.add_argument("--dry-run", action="store_true", help="only count what would be replayed")
    replay.add_argument("--limit", type=int, help="move at most this many (default: what the DLQ holds)")
    add_target_arguments(replay)
    replay.set_defaults(func=cmd_replay)

    mcp = sub.add_parser("mcp", help="serve the agent tools to an MCP host (stdio)")
    mcp.add_argument("--user", help="the user the tools act for (LM_USER_ID); else each call names one")
    mcp.add_argument("--session", help="the session passed with each call (LM_SESSION_ID)")
    mcp.set_defaults(func=cmd_mcp)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ApiError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
