"""Matching stored text against expected beliefs, and telling grounded items from invented ones.

- `matches(text, terms)`: every term appears in the text, case-insensitively; a term may list
  alternatives with `|`; an empty term matches anything. Terms are substrings ("emoji" matches
  "emojis"), so a dataset names stems, not whole sentences: stored wording is free.
- `grounded(text, said)`: at least one content word of the item (4+ letters, not a stop word)
  was said in the conversation so far, compared on its first 5 letters (a crude stem: "prefers"
  and "preferred" agree). An item with none is counted as invented ("language: French" when
  nobody spoke of French).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+")
STEM = 5
STOP_WORDS = frozenset(
    """
    user users their they them that this with from have has been about into when what which would
    should could will also only more most some such than then there these those very just like
    prefers prefer wants want likes answers answer always never does doing done make made uses
    using used works working work currently""".split()
)


def matches(text: str, terms: list[str]) -> bool:
    lowered = text.lower()
    return all(any(option.strip().lower() in lowered for option in term.split("|")) for term in terms)


def content_words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.lower()) if len(word) >= 4 and word not in STOP_WORDS}


def stems(text: str) -> set[str]:
    return {word[:STEM] for word in _WORD.findall(text.lower())}


def grounded(text: str, said_stems: set[str]) -> bool:
    words = content_words(text)
    return not words or any(word[:STEM] in said_stems for word in words)
