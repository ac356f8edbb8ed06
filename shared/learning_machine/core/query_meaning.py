"""What of a query goes into its embedding: everything but the names in it.

A name says who or what a question is about, and the keyword ranking matches it exactly (a
conversation's speaker is in each turn's title, an entity's name in its title). In a sentence
embedding a name outweighs the rest of a short question: with all-MiniLM-L6-v2, "Who is Nadia's
employer now?" scores 0.57 against "Congratulations, Nadia! That's wonderful news." and 0.21
against "They offered me the job! Senior engineer at Tidewater.", the turn that answers it; the
same question without the name scores them 0.14 and 0.34. So the query's vector is computed from
the query without its capitalised words (bench/quality/README.md measures the lever), and its
keyword query still holds every word.

A capitalised word is a name unless it opens a sentence, is "I" (or "I'm", "I'd" ...), a month or
a day of the week (they date the question: "What trip did she take in May 2024?"), or an acronym
written in capitals (SQL, LGBTQ: the model knows many of them as words). A query written
mostly in capitals or in title case ("Deploy Checklist For Payments") is embedded as it is, and
so is one that would have nothing left.

An entity is what its name says, so the names left out of the embedding are matched against
entities' names instead: an entity whose name (or an alias) the query names counts as fully
meant (`fusion`). Without that, "when does Falcon move to Dagster?" found a deploy checklist above
the Falcon project.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?:;]['\")\]]*$")
_LETTERS = re.compile(r"[^\W\d_]+")
_POSSESSIVE = re.compile(r"['\u2019]s\b", re.IGNORECASE)
_CALENDAR = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)


def _is_name(word: str, opens_sentence: bool) -> bool:
    runs = _LETTERS.findall(word)  # "O'Brien's" -> O, Brien, s
    if not runs or opens_sentence:
        return False
    first = runs[0]
    return (
        first[0].isupper() and first != "I" and not "".join(runs).isupper() and first.lower() not in _CALENDAR
    )


def _split(query: str) -> tuple[str, tuple[str, ...]]:
    """The query without its names, and the names (their letters, lowercased); the query itself
    and no names when that would leave nothing, or when most of its words are capitalised."""
    words = _WORD.findall(query)
    kept: list[str] = []
    names: list[str] = []
    for position, word in enumerate(words):
        opens_sentence = position == 0 or _SENTENCE_END.search(words[position - 1]) is not None
        if _is_name(word, opens_sentence):
            names += name_words(word)
        else:
            kept.append(word)
    if not names or not kept or (len(words) - len(kept)) * 2 > len(words):
        return query, ()
    return " ".join(kept), tuple(names)


def name_words(text: str) -> list[str]:
    """The words of a name, lowercased, without a possessive: "Nadia's" -> nadia, "O'Brien" -> o,
    brien. Query names and entity names are compared in these words."""
    return [word.lower() for word in _LETTERS.findall(_POSSESSIVE.sub("", text))]


def meaning_text(query: str) -> str:
    """The query without the names in it, for the embedding."""
    return _split(query)[0]


def names_in(query: str) -> tuple[str, ...]:
    """The names `meaning_text` leaves out, lowercased: what the ranking matches against the
    names of entities instead (a query that names an entity is about it)."""
    return _split(query)[1]
