"""A question that asks several things at once, split into the clauses that each ask one.

"What did Theo sell to pay for an engagement ring, and how did the proposal go?" needs two turns:
one about the sale, one about the proposal. One embedding of the whole question lands between
them, near neither, and the proposal turn stayed out of the top 10. So such a question is also
asked clause by clause: each clause gets its own vector (the same embedding call as the
question's), and an item's meaning is the best of the whole question's and each clause's, a
clause counted at `scoring.CLAUSE_WEIGHT` of its value, since a clause alone ("how did the
proposal go") says less than the question it came from. bench/quality/README.md measures it.

A question splits where a comma, or "and", is followed by a question word or an auxiliary that
opens a new question (", and how ...", ", why ...", " and what ...", " and did ..."); not at "or",
which joins alternatives of one question ("study or do for a living"). Only a text
that is one sentence splits (a session summary used as get-context's topic does not), each clause
needs `MIN_CLAUSE_WORDS` words, and at most `MAX_CLAUSES` are asked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .statements import sentences

MIN_CLAUSE_WORDS = 3
MAX_CLAUSES = 3

_OPENERS = (
    "what|how|who|whom|whose|where|why|which|when|"
    "did|does|do|is|was|are|were|has|have|had|can|could|will|would|should"
)
# A preposition may come first: ", and for how long did they stay".
_PREPOSITION = r"(?:(?:for|in|at|to|with|from|by|on|since|until)\s+)?"
_BREAK = re.compile(
    rf"(?:\s*,\s*(?:and\s+|but\s+)?|\s+(?:and|but)\s+)(?={_PREPOSITION}(?:{_OPENERS})\b)", re.I
)
_WORD = re.compile(r"\w+")
_TRIM = " \t\n,;:?!."


@dataclass(frozen=True)
class Clause:
    """One clause of a query, with its embedding (None where the search uses no vectors)."""

    text: str
    vector: Sequence[float] | None = None


def clauses_of(question: str) -> tuple[str, ...]:
    """The clauses of a one-sentence question that asks several things; () when it asks one."""
    if len(sentences(question)) != 1:
        return ()
    parts = [part.strip(_TRIM) for part in _BREAK.split(question)]
    if len(parts) < 2 or any(len(_WORD.findall(part)) < MIN_CLAUSE_WORDS for part in parts):
        return ()
    return tuple(parts[:MAX_CLAUSES])
