"""What a text tells, for its embedding: its sentences without the questions among them.

A question says what it is about, not the answer, and a sentence model scores it closest to
another question: with all-MiniLM-L6-v2, an imported turn "Perfect. What is the book club
reading?" came first for "What book is the book club on at the moment?", above the turn that
names the book. A knowledge item is therefore embedded without its questions, and the keyword
ranking still reads every word. One that is only questions is embedded as it is (an index needs a
vector), but its similarity counts for nothing in its score (`asks_only`, used by the ranking):
"When do you start at the council?" scored 1.0 for "On what date did Kofi begin his job at the
council?". bench/quality/README.md measures both levers.
"""

from __future__ import annotations

import re

# A sentence: text up to punctuation that closes it (with any closing quote or bracket) before a
# space or the end, so "2.5" or "e.g.," do not end one; or the rest of the text.
_SENTENCE = re.compile(r"\S.*?(?:[.!?]+[\"')\]]*(?=\s|$)|$)", re.DOTALL)
_CLOSERS = " \t\n\"')]"


def _asks(sentence: str) -> bool:
    # "A new dog?!" asks too: an exclamation mark after the question mark does not make it tell.
    return sentence.rstrip(_CLOSERS + "!").endswith("?")


def sentences(text: str) -> list[str]:
    """The text's sentences, stripped, in order."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def statements(text: str) -> str:
    """The text without its questions; the text itself when nothing else is left."""
    told = [s for s in sentences(text) if not _asks(s)]
    kept = " ".join(s for s in told if s)
    return kept or text


def asks_only(text: str) -> bool:
    """Whether every sentence of the text is a question (an empty text asks nothing)."""
    if not _asks(text):  # its last sentence tells: no need to split it (the ranking asks per hit)
        return False
    found = sentences(text)
    return bool(found) and all(_asks(s) for s in found)
