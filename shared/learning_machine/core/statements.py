"""What a text tells, for its embedding: its sentences without the questions among them.

A question says what it is about, not the answer, and a sentence model scores it closest to
another question: with all-MiniLM-L6-v2, an imported turn "Perfect. What is the book club
reading?" came first for "What book is the book club on at the moment?", above the turn that
names the book. A knowledge item is therefore embedded without its questions; one that is only
questions is embedded as it is (there is nothing else to embed), and the keyword ranking still
reads every word (bench/quality/README.md measures the lever).
"""

from __future__ import annotations

import re

# A sentence: text up to punctuation that closes it (with any closing quote or bracket) before a
# space or the end, so "2.5" or "e.g.," do not end one; or the rest of the text.
_SENTENCE = re.compile(r"\S.*?(?:[.!?]+[\"')\]]*(?=\s|$)|$)", re.DOTALL)
_CLOSERS = " \t\n\"')]"


def statements(text: str) -> str:
    """The text without its questions; the text itself when nothing else is left."""
    told = [s.strip() for s in _SENTENCE.findall(text) if not s.rstrip(_CLOSERS).endswith("?")]
    kept = " ".join(s for s in told if s)
    return kept or text
