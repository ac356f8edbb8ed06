"""`lm`: manage keys, send transcripts, import knowledge, search, review proposals, read context,
curate, forget users, serve the agent tools over MCP (`lm mcp`).

Talks to LM_API_URL with LM_API_KEY (both read from `.local/env` after `make up` when neither is set).
`lm keys` writes to the keys table directly, `lm limits` sets a tenant's limits, and `lm replay` moves
dead-lettered transcripts back to the queue, with the AWS credentials of the shell: `--stack NAME`
takes the table and queues from a deployed stack's outputs, `--local` from the local stack;
`.local/env` never fills in a command aimed at AWS.
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


def target_table(
    args: argparse.Namespace, output: str, variable: str, also: list[str] | None = None
) -> tuple[str, dict[str, str]]:
    """The table a command aimed at AWS writes to: from `--stack`'s outputs (with the outputs `also`
    names, and all the others), else from `variable` in the shell or the local stack's file."""
    if args.stack:
        outputs = stack_outputs(args.stack, [output, *(also or [])])
        return outputs[output], outputs
    use_aws_settings([variable], local=args.local)
    table = os.environ.get(variable, "")
    if not table:
        raise TargetError(f"name the deployment: --stack NAME (or {variable}), or --local")
    return table, {}


def cmd_keys(args: argparse.Namespace) -> int:
    from ..stores.api_keys import ApiKeyStore

    table, outputs = target_table(args, "ApiKeysTableName", "LM_KEYS_TABLE")
    store = ApiKeyStore(table)
    if args.action == "create":
        key = store.create(args.tenant, label=args.label or "")
        if {"DataTableName", "ApiId", "UsagePlanId"} <= set(outputs):
            # API Gateway meters the tenant's requests against its API key there (usage plan): the
            # key must exist before the tenant's first request, or API Gateway answers 403.
            place_in_usage_plan(args.stack, args.tenant, outputs)
        elif args.stack:
            print(
                "lm: the stack has no usage plan outputs (deployed before per-tenant limits)", file=sys.stderr
            )
        print(key)
        return 0
    if store.revoke(args.key):
        print("revoked")
        return 0
    print("no such key", file=sys.stderr)
    return 1


LIMIT_OPTIONS = {
    "rate": "rate_per_second",
    "burst": "burst",
    "transcripts_per_day": "transcripts_per_day",
    "tokens_per_month": "tokens_per_month",
}


def cmd_limits(args: argparse.Namespace) -> int:
    """Show, set or clear one tenant's override of the deployment's limits."""
    from ..models.usage import LimitsOverride
    from ..services.quotas import default_limits
    from ..settings import Settings
    from ..stores.usage import LimitsStore

    table, outputs = target_table(args, "DataTableName", "LM_DATA_TABLE", ["ApiId", "UsagePlanId"])
    store = LimitsStore(table)
    current = store.get(args.tenant) or LimitsOverride()
    if args.action == "set":
        chosen = {field: getattr(args, option) for option, field in LIMIT_OPTIONS.items()}
        chosen = {field: value for field, value in chosen.items() if value is not None}
        if not chosen:
            raise SystemExit(
                "lm limits set: name at least one of --rate, --burst, --transcripts-per-day, ..."
            )
        current = LimitsOverride.model_validate({**current.model_dump(exclude_none=True), **chosen})
        store.put(args.tenant, current)
    elif args.action == "clear":
        store.delete(args.tenant)
        current = LimitsOverride()
    # The defaults: the deployment's (LM_LIMIT_* from the template parameters); `--stack` reads them
    # from the stack's parameters.
    defaults = default_limits(Settings.from_env())
    if args.stack:
        defaults = stack_default_limits(args.stack, defaults)
        if args.action != "show":
            place_in_usage_plan(args.stack, args.tenant, outputs)
    effective = defaults.overridden_by(current)
    print(
        json.dumps(
            {
                "tenant": args.tenant,
                "override": current.model_dump(exclude_none=True),
                **effective.model_dump(),
            },
            indent=2,
        )
    )
    return 0


def place_in_usage_plan(stack: str, tenant: str, outputs: dict[str, str]) -> str:
    """The tenant's API Gateway key in the usage plan its limits call for (AWS only)."""
    import boto3

    from ..services.quotas import default_limits
    from ..settings import Settings
    from ..stores.usage import LimitsStore
    from .usage_plans import place_tenant

    override = LimitsStore(outputs["DataTableName"]).get(tenant)
    limits = stack_default_limits(stack, default_limits(Settings.from_env())).overridden_by(override)
    plan = place_tenant(
        boto3.client("apigateway"),
        tenant=tenant,
        api_id=outputs["ApiId"],
        stage="live",
        default_plan_id=outputs["UsagePlanId"],
        limits=limits,
        overridden=override is not None and (override.rate_per_second or override.burst) is not None,
    )
    print(f"lm: the tenant's API key is in usage plan {plan}", file=sys.stderr)
    return plan


def stack_default_limits(stack_name: str, fallback: Any) -> Any:
    import boto3

    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    given = {p["ParameterKey"]: p.get("ParameterValue") for p in stacks[0].get("Parameters", [])}
    names = {
        "TenantRateLimit": "rate_per_second",
        "TenantBurstLimit": "burst",
        "TenantTranscriptsPerDay": "transcripts_per_day",
        "TenantTokensPerMonth": "tokens_per_month",
    }
    return fallback.model_copy(
        update={field: given[name] for name, field in names.items() if given.get(name)}
    )


def _cell(value: object) -> str:
    # Costs are fractions of a cent for a small tenant: six decimals, never scientific notation.
    return f"{value:.6f}" if isinstance(value, float) else str(value)


def cmd_usage(args: argparse.Namespace) -> int:
    reply = Api.from_env().request("GET", "/v1/usage", query={"from": args.since, "to": args.until})
    if args.json:
        print(json.dumps(reply, indent=2))
        return 0
    columns = (
        ("date", "date", 10),
        ("accepted", "transcripts_accepted", 8),
        ("learned", "transcripts_learned", 7),
        ("failed", "transcripts_failed", 6),
        ("calls", "model_calls", 6),
        ("prompt", "prompt_tokens", 9),
        ("completion", "completion_tokens", 10),
        ("embedding", "embedding_tokens", 9),
        ("reads", "reads", 6),
        ("cost $", "estimated_cost_usd", 10),
    )
    print("  ".join(title.rjust(width) for title, _, width in columns))
    for day in [*reply["days"], {**reply["total"], "date": "total"}]:
        print("  ".join(_cell(day[field]).rjust(width) for _, field, width in columns))
    limits = reply["limits"]
    print(
        f"limits: {limits['rate_per_second']:g} requests/s (burst {limits['burst']}), "
        f"{limits['transcripts_per_day']} transcripts/day, "
        f"{reply['tokens_this_month']} of {limits['tokens_per_month']} model tokens this month"
    )
    return 0


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

    from .replay import (
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
        from .mcp_server import run
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

    limits = sub.add_parser("limits", help="show, set or clear a tenant's limits (operator)")
    limits_sub = limits.add_subparsers(dest="action", required=True)
    show = limits_sub.add_parser("show", help="the limits in force for a tenant")
    set_ = limits_sub.add_parser(
        "set", help="override some of a tenant's limits (the rest keep the defaults)"
    )
    set_.add_argument("--rate", type=float, help="requests per second, steady")
    set_.add_argument("--burst", type=int, help="requests at once above the rate")
    set_.add_argument("--transcripts-per-day", type=int)
    set_.add_argument("--tokens-per-month", type=int, help="model tokens (prompt + completion)")
    clear = limits_sub.add_parser("clear", help="back to the deployment's defaults")
    for command in (show, set_, clear):
        command.add_argument("--tenant", required=True)
        add_target_arguments(command)
    limits.set_defaults(func=cmd_limits)

    usage = sub.add_parser("usage", help="usage per day, estimated cost and limits of your tenant")
    usage.add_argument("--from", dest="since", help="first day, YYYY-MM-DD (default: 29 days before --to)")
    usage.add_argument("--to", dest="until", help="last day, YYYY-MM-DD (default: today, UTC)")
    usage.add_argument("--json", action="store_true", help="the whole JSON answer")
    usage.set_defaults(func=cmd_usage)

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
        help="repeat to choose: merge_memories, prune_memories, embed_memories, prune_history, "
        "merge_entities, dedupe_knowledge, reindex, drop_sessions (default: all but reindex)",
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
