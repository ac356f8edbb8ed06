"""Retrieval metrics over evidence turn ids: per question, then averaged per category and overall."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

CUTOFFS = (1, 5, 10, 20)
ALL_IN_TOP = 10


def recall_at(ranked: Sequence[str], evidence: Iterable[str], k: int) -> float:
    """Share of the evidence turns found in the first k results."""
    wanted = set(evidence)
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def reciprocal_rank(ranked: Sequence[str], evidence: Iterable[str]) -> float:
    """1 / rank of the first evidence turn found; 0 when none is."""
    wanted = set(evidence)
    return next((1 / rank for rank, turn in enumerate(ranked, start=1) if turn in wanted), 0.0)


@dataclass(frozen=True)
class ContextScore:
    recall: float  # share of the evidence turns shown in the context block
    all_evidence: bool
    tokens: int


@dataclass(frozen=True)
class QuestionScore:
    category: str
    recall: dict[int, float]
    reciprocal_rank: float
    all_in_top: bool
    context: dict[int, ContextScore]  # per token budget


def score(
    category: str,
    ranked: Sequence[str],
    evidence: Sequence[str],
    contexts: Mapping[int, tuple[Iterable[str], int]],
) -> QuestionScore:
    """`ranked`: turn ids as search returned them; `contexts`: budget -> (turn ids shown, tokens)."""
    wanted = set(evidence)
    return QuestionScore(
        category=category,
        recall={k: recall_at(ranked, wanted, k) for k in CUTOFFS},
        reciprocal_rank=reciprocal_rank(ranked, wanted),
        all_in_top=recall_at(ranked, wanted, ALL_IN_TOP) == 1.0,
        context={
            budget: ContextScore(
                recall=len(wanted & set(shown)) / len(wanted) if wanted else 0.0,
                all_evidence=wanted <= set(shown),
                tokens=tokens,
            )
            for budget, (shown, tokens) in contexts.items()
        },
    )


def aggregate(scores: Sequence[QuestionScore]) -> dict[str, object]:
    n = len(scores)
    if not n:
        return {"questions": 0}

    def mean(values: Iterable[float]) -> float:
        return round(sum(values) / n, 4)

    figures: dict[str, object] = {"questions": n}
    for k in CUTOFFS:
        figures[f"recall@{k}"] = mean(s.recall[k] for s in scores)
    figures["mrr"] = mean(s.reciprocal_rank for s in scores)
    figures[f"all_evidence_in_top_{ALL_IN_TOP}"] = mean(float(s.all_in_top) for s in scores)
    for budget in sorted(scores[0].context):
        figures[f"context_max_tokens_{budget}"] = {
            "evidence_recall": mean(s.context[budget].recall for s in scores),
            "all_evidence": mean(float(s.context[budget].all_evidence) for s in scores),
            "tokens_mean": round(sum(s.context[budget].tokens for s in scores) / n, 1),
        }
    return figures


def by_category(scores: Sequence[QuestionScore]) -> dict[str, dict[str, object]]:
    categories = sorted({s.category for s in scores})
    report = {c: aggregate([s for s in scores if s.category == c]) for c in categories}
    return {**report, "overall": aggregate(scores)}
