"""Retrieval metrics over evidence turn ids: per question, then averaged per category and overall.

Unanswerable questions (no evidence) have no recall or MRR: for them the figures are what search and
the context block returned anyway (the top score, how many results), the measure a `min_score`
threshold must bring down. Answerable questions report their top score too, for the contrast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from learning_machine.core.scoring import DEFAULT_MIN_SCORE

CUTOFFS = (1, 5, 10, 20)
ALL_IN_TOP = 10
LOW_SCORE = 0.5  # a top search score below this counts as "nothing relevant found"


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
    items: int = 0  # knowledge items shown in the block


@dataclass(frozen=True)
class QuestionScore:
    category: str
    recall: dict[int, float]
    reciprocal_rank: float
    all_in_top: bool
    context: dict[int, ContextScore]  # per token budget
    answerable: bool = True
    top_score: float = 0.0  # the first search result's score; 0 when search returned nothing
    results: int = 0  # how many results a search with the default min_score returns


def score(
    category: str,
    ranked: Sequence[str],
    evidence: Sequence[str],
    contexts: Mapping[int, tuple[Sequence[str], int]],
    scores: Sequence[float] = (),
) -> QuestionScore:
    """`ranked`: turn ids as search returned them, `scores` their scores; `contexts`: budget ->
    (turn ids shown, tokens). No evidence means an unanswerable question."""
    wanted = set(evidence)
    return QuestionScore(
        category=category,
        recall={k: recall_at(ranked, wanted, k) for k in CUTOFFS},
        reciprocal_rank=reciprocal_rank(ranked, wanted),
        all_in_top=bool(wanted) and recall_at(ranked, wanted, ALL_IN_TOP) == 1.0,
        context={
            budget: ContextScore(
                recall=len(wanted & set(shown)) / len(wanted) if wanted else 0.0,
                all_evidence=bool(wanted) and wanted <= set(shown),
                tokens=tokens,
                items=len(shown),
            )
            for budget, (shown, tokens) in contexts.items()
        },
        answerable=bool(wanted),
        top_score=scores[0] if scores else 0.0,
        results=sum(1 for s in scores if s >= DEFAULT_MIN_SCORE) if scores else len(ranked),
    )


def _mean(values: Iterable[float], n: int, digits: int = 4) -> float:
    return round(sum(values) / n, digits)


def _returned(scores: Sequence[QuestionScore]) -> dict[str, object]:
    """What search returned, answer or not: the figures a relevance threshold moves."""
    n = len(scores)
    return {
        "top_score_mean": _mean((s.top_score for s in scores), n),
        f"top_score_below_{LOW_SCORE}": _mean((float(s.top_score < LOW_SCORE) for s in scores), n),
        "results_mean": _mean((s.results for s in scores), n, 1),
        "nothing_by_default": _mean((float(s.results == 0) for s in scores), n),
    }


def aggregate_unanswerable(scores: Sequence[QuestionScore]) -> dict[str, object]:
    """Questions with nothing to find: recall and MRR do not apply; what came back anyway does."""
    n = len(scores)
    if not n:
        return {"questions": 0}
    figures: dict[str, object] = {"questions": n, **_returned(scores)}
    for budget in sorted(scores[0].context):
        figures[f"context_max_tokens_{budget}"] = {
            "items_mean": _mean((s.context[budget].items for s in scores), n, 1),
            "tokens_mean": _mean((s.context[budget].tokens for s in scores), n, 1),
        }
    return figures


def aggregate(scores: Sequence[QuestionScore]) -> dict[str, object]:
    """Answerable questions: recall, MRR and the context block's evidence."""
    n = len(scores)
    if not n:
        return {"questions": 0}

    def mean(values: Iterable[float]) -> float:
        return _mean(values, n)

    figures: dict[str, object] = {"questions": n}
    for k in CUTOFFS:
        figures[f"recall@{k}"] = mean(s.recall[k] for s in scores)
    figures["mrr"] = mean(s.reciprocal_rank for s in scores)
    figures[f"all_evidence_in_top_{ALL_IN_TOP}"] = mean(float(s.all_in_top) for s in scores)
    for budget in sorted(scores[0].context):
        figures[f"context_max_tokens_{budget}"] = {
            "evidence_recall": mean(s.context[budget].recall for s in scores),
            "all_evidence": mean(float(s.context[budget].all_evidence) for s in scores),
            "tokens_mean": _mean((s.context[budget].tokens for s in scores), n, 1),
        }
    figures.update(_returned(scores))
    return figures


def by_category(scores: Sequence[QuestionScore]) -> dict[str, dict[str, object]]:
    """Per category, then `overall` over the answerable questions only (unanswerable ones have no
    recall to average in). The dataset's rules make a category all answerable or all not."""
    report: dict[str, dict[str, object]] = {}
    for category in sorted({s.category for s in scores}):
        members = [s for s in scores if s.category == category]
        answerable = all(s.answerable for s in members)
        report[category] = aggregate(members) if answerable else aggregate_unanswerable(members)
    return {**report, "overall": aggregate([s for s in scores if s.answerable])}
