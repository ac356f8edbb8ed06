"""`python -m bench.quality DATASET.json [--embedder local|openai|hashing] [--budget N[,N...]]`

Imports every turn verbatim (`POST /v1/knowledge/import`, no model call) into a fresh tenant, one
private namespace per conversation, then asks every question through `POST /v1/search` (top 20
knowledge results) and `GET /v1/context` (with the token budget), and reports recall@1/5/10/20 of
the evidence turns, MRR, the share of questions with all evidence in the top 10, and the evidence
found in the context block with the tokens it used, per category and overall; for unanswerable
questions (no evidence), what came back anyway: the top score, the share below 0.5, the results.
The API runs in this process (bench/inprocess.py: the local API's routing, authorizer and handlers)
against the local stack's moto server, with an index file of its own, so the embedder is chosen
here: `local` (the sentence model), `openai` (any OpenAI-compatible endpoint: LM_EMBEDDING_BASE_URL
or OPENAI_API_KEY, LM_EMBEDDING_MODEL, LM_EMBEDDING_DIMENSION), or `hashing` (not semantic; a floor).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import write_result
from bench.inprocess import InProcessApi
from bench.quality.dataset import Conversation, Dataset, DatasetError, item_id, load
from bench.quality.metrics import QuestionScore, by_category, score
from learning_machine.core.ranking import estimate_tokens

SAMPLE = Path(__file__).with_name("data") / "sample.json"
INDEX_DIR = Path(__file__).resolve().parents[2] / ".local" / "quality"
SEARCH_LIMIT = 20
IMPORT_BATCH = 100
CONTEXT_ITEMS = 50  # the most a tenant's config lets get-context show; the token budget cuts first
TENANT_CONFIG = {
    "stores": {
        # Each conversation is one user's private knowledge: search and context read only it.
        "learned_knowledge": {"namespace": "user", "max_in_context": CONTEXT_ITEMS},
        "entity_memory": {"enabled": False},
    }
}


def user_of(index: int) -> str:
    return f"conversation-{index}"


def turn_context(conversation: Conversation, position: int, neighbours: int) -> str | None:
    """The `context` an imported turn carries, embedded with its text: the turn before it in its
    session when that turn asks a question, since an answer ("Twenty-two years. I bought it
    secondhand.") means little without it ("How old is the kiln?"); with `neighbours`, the turns
    just before it instead, whatever they say; otherwise none.

    Who said it and when go in the title (a keyword field), not here: questions name the person
    they are about, and a speaker's name in every embedded text made short turns ("Go on.", "No
    promises.") as close to any question about that person as the turn holding the answer
    (recall@10 on the long chats 0.68 with it, 0.73 without); the session's date in every embedded
    text did the same for any question that names a month or a year ("Probably both." came first
    for "Where was Ingrid in June 2023?"; recall@10 0.76 with it, 0.80 without;
    bench/quality/README.md)."""
    turn = conversation.turns[position]
    before = [
        t
        for t in conversation.turns[max(position - max(neighbours, 1), 0) : position]
        if t.session_id == turn.session_id
    ]
    if neighbours > 0 and before:
        return ("After: " + " ".join(f"{t.speaker}: {t.text}" for t in before))[:8_000]
    if before and before[-1].text.rstrip().endswith("?"):
        return f"Answering: {before[-1].text}"[:8_000]
    return None


def import_turns(api: InProcessApi, user: str, conversation: Conversation, neighbours: int = 0) -> None:
    items = [
        {
            "item_id": item_id(turn.turn_id),
            "title": f"{turn.speaker}, {turn.date}"[:300],
            "content": turn.text,
            "context": turn_context(conversation, position, neighbours),
            "source": turn.turn_id[:500],
            "namespace": "user",
            "user_id": user,
        }
        for position, turn in enumerate(conversation.turns)
    ]
    for start in range(0, len(items), IMPORT_BATCH):
        api.call("POST", "/v1/knowledge/import", {"items": items[start : start + IMPORT_BATCH]})


def evaluate(
    api: InProcessApi, dataset: Dataset, budgets: list[int], neighbours: int = 0
) -> list[QuestionScore]:
    scores = []
    for index, conversation in enumerate(dataset.conversations):
        user = user_of(index)
        import_turns(api, user, conversation, neighbours)
        for question in conversation.questions:
            body = {
                "query": question.question,
                "user_id": user,
                "namespace": "user",
                "stores": ["knowledge"],
                "limit": SEARCH_LIMIT,
                # Every candidate, so that recall and MRR measure the ranking; what a default
                # search would return (min_score) is counted from the scores.
                "min_score": 0,
            }
            results = api.call("POST", "/v1/search", body)["results"]
            ranked = [r["details"]["source"] for r in results]
            found = [float(r["score"]) for r in results]
            contexts = {}
            for budget in budgets:
                query = {"user_id": user, "query": question.question, "max_tokens": budget}
                context = api.call("GET", "/v1/context", query=query)
                contexts[budget] = ([k["source"] for k in context["knowledge"]], context["tokens"])
            scores.append(score(question.category, ranked, question.evidence, contexts, found))
    return scores


def history_tokens(dataset: Dataset) -> float:
    """Mean tokens of a conversation's raw turns (what the context block stands in for)."""
    totals = [sum(estimate_tokens(f"{t.speaker}: {t.text}") for t in c.turns) for c in dataset.conversations]
    return round(sum(totals) / len(totals), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__)
    parser.add_argument("dataset", type=Path, nargs="?", default=SAMPLE)
    parser.add_argument("--embedder", choices=["local", "openai", "hashing"], default="local")
    parser.add_argument(
        "--budget",
        default="200,500,1000",
        help="max_tokens of GET /v1/context; a comma list compares several",
    )
    parser.add_argument(
        "--neighbours",
        type=int,
        default=0,
        help="put this many preceding turns of the same session in each turn's context",
    )
    parser.add_argument("--tag", default="", help="suffix of the result file's name (compare levers)")
    args = parser.parse_args(argv)
    budgets = sorted({int(b) for b in args.budget.split(",") if b})
    try:
        dataset = load(args.dataset)
    except DatasetError as error:
        print(f"invalid dataset: {error}", file=sys.stderr)
        return 2
    INDEX_DIR.mkdir(parents=True, exist_ok=True)
    index = INDEX_DIR / f"{dataset.name}-{args.embedder}{'-' + args.tag if args.tag else ''}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    api = InProcessApi.start(
        f"quality-{uuid.uuid4().hex[:8]}",
        index,
        LM_EMBEDDING_BACKEND=args.embedder,
        LM_CONFIG_CACHE_SECONDS="0",
    )
    api.call("PUT", "/v1/config", TENANT_CONFIG)
    started = time.perf_counter()
    scores = evaluate(api, dataset, budgets, args.neighbours)
    figures: dict[str, Any] = {
        "dataset": str(args.dataset),
        "conversations": len(dataset.conversations),
        "turns": sum(len(c.turns) for c in dataset.conversations),
        "embedder": args.embedder,
        "neighbours": args.neighbours,
        "context_max_tokens": budgets,
        "raw_conversation_tokens_mean": history_tokens(dataset),
        "seconds": round(time.perf_counter() - started, 1),
        "by_category": by_category(scores),
    }
    name = f"quality_{dataset.name}_{args.embedder}" + (f"_{args.tag}" if args.tag else "")
    write_result(name, figures, module="bench.quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
