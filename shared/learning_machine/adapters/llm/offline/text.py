"""Vocabulary and text helpers: sentences, clauses, stems, near-duplicates."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

from ....core.ranking import terms

MAX_VALUE_CHARS = 160
# Thresholds on stemmed-word overlap, tuned on the unit tests' phrasings.
DUPLICATE_SIMILARITY = 0.7  # Jaccard over words and word pairs: same statement, other wording
DUPLICATE_CONTAINMENT = 0.9  # the new statement says nothing the stored one does not


def word_set(text: str) -> frozenset[str]:
    """Vocabulary is written as space-separated words, a few lines per list."""
    return frozenset(text.split())


LANGUAGES = word_set(
    "english spanish portuguese french german italian dutch polish russian ukrainian chinese mandarin "
    "cantonese japanese korean hindi arabic turkish swedish norwegian danish finnish greek hebrew czech "
    "romanian hungarian vietnamese thai indonesian catalan"
)
LANGUAGE = "(?:" + "|".join(sorted(LANGUAGES)) + ")"

# Role rules without an employer only fire when the role ends with one of these nouns, so that
# "I'm a bit confused" does not become a job title.
ROLE_NOUNS = word_set(
    "engineer developer programmer designer manager scientist analyst student teacher professor "
    "researcher consultant founder cofounder co-founder cto ceo cfo coo architect writer nurse doctor "
    "lawyer accountant administrator admin intern lead owner freelancer contractor tester sre pm "
    "marketer recruiter director editor journalist officer specialist technician coordinator "
    "instructor tutor lecturer physician pharmacist therapist entrepreneur"
)

# Capitalised words that follow "I'm" without being a name.
NOT_NAMES = frozenset(language.capitalize() for language in LANGUAGES) | word_set(
    "American British Canadian Australian Brazilian Mexican Indian Irish Scottish Welsh Swiss "
    "Austrian Belgian Argentinian Chilean Colombian Nigerian Kenyan Egyptian Israeli Iranian "
    "Pakistani Filipino Sorry Not Just Still So Here There Back Also Really Currently Okay Ok Fine Good "
    "Great Happy Glad Done Ready New Sure Afraid Working Looking Trying Learning Going Using Building "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday The A An In On At From With"
)

# Words that say nothing about what a transcript was about.
FILLER = word_set(
    "hi hello hey thanks thank please yes yeah no ok okay just also really want need like know think "
    "get got make sure much still now yet one lot bit something anything thing things way going "
    "trying they them their then first finally next some any all more very well good great perfect "
    "help work worked works right actually maybe let use using said say tell done finished working "
    "called named stuck yesterday today tomorrow goal plan there here"
)

PLEASANTRY = re.compile(
    r"^(?:sorry|i'm sorry|i am sorry|thanks|thank you|great|sure|of course|certainly|absolutely|happy to "
    r"help|glad|hi|hello|hey|nice to meet you|good question|no problem|understood|got it)\b",
    re.I,
)

# ---------------------------------------------------------------------------------------------
# Text helpers

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
BULLET = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022]|step\s+\d+\s*[:.)-])\s+", re.I)
# Clauses start where a new subject or request begins: "..., and I prefer ...", "...; please ...".
_CLAUSE_SPLIT = re.compile(
    r"\s*;\s*|,?\s+(?:and|but)\s+(?=(?:i|i'm|i've|i'd|my|we|we're|our|please|also)\b)"
    r"|,\s+(?=(?:and\s+)?(?:i|i'm|i've|i'd|my|we|we're|our|please)\b)",
    re.I,
)
_CLAUSE_END = re.compile(
    r"\s+(?:but|because|since|though|although|unless|whereas|so that|so (?=i|we|it)|as (?=i|we))\b"
    r"|\s+and\s+(?=(?:i|i'm|i've|my|we|our|you|please|it|also)\b)|\s+-\s+|\s*[;:()]\s*",
    re.I,
)
_LIST_COMMA = re.compile(r",\s+(?=(?:and\s+)?(?:but|because|so|i|i'm|we|it|which|that's)\b)", re.I)
_TRAILING_ADVERB = re.compile(
    r"(?:\s+(?:right now|now|currently|these days|at the moment|for now|from now on|please|instead|"
    r"anymore|as well|too|again|yesterday|today|this morning|last night|last week|earlier))+$",
    re.I,
)
_PRONOUNS = {
    "i'm": "they are",
    "i am": "they are",
    "i've": "they have",
    "i'd": "they would",
    "i'll": "they will",
    "i was": "they were",
    "i": "they",
    "me": "them",
    "my": "their",
    "mine": "theirs",
    "myself": "themselves",
    "we're": "they are",
    "we've": "they have",
    "we": "they",
    "us": "them",
    "our": "their",
    "ours": "theirs",
    "you're": "the assistant is",
    "your": "the assistant's",
    "you": "the assistant",
}
# Case-sensitive on purpose: "US" the country and "ME" the state are not pronouns.
_PRONOUN = re.compile(
    r"\b(?:I'm|I am|I've|I'd|I'll|I was|I|[Mm]yself|[Mm]ine|[Mm]y|[Mm]e|[Ww]e're|[Ww]e've|[Ww]e|"
    r"[Oo]urs|[Oo]ur|us|[Yy]ou're|[Yy]our|[Yy]ou)\b"
)


def sentences(text: str) -> list[str]:
    """Lines, then sentences; list bullets are dropped so "1. Review" reads as "Review"."""
    found = []
    for line in text.splitlines():
        for sentence in SENTENCE_END.split(BULLET.sub("", line)):
            if sentence.strip():
                found.append(sentence.strip())
    return found


def clauses(sentence: str) -> list[str]:
    return [part.strip() for part in _CLAUSE_SPLIT.split(sentence) if part and part.strip()]


def is_question(sentence: str) -> bool:
    """Questions are not statements about the user; polite requests ("can you ...?") are."""
    return sentence.rstrip().endswith("?") and not re.match(
        r"(?:can|could|would|will)\s+you\b", sentence, re.I
    )


def third_person(text: str) -> str:
    return _PRONOUN.sub(lambda m: _PRONOUNS[m.group(0).lower()], text)


def clip(value: str, lists: bool = False) -> str:
    """Cut a captured value at the end of its clause and drop trailing punctuation.

    With `lists`, commas separate items ("Rust, Tokio and Postgres") rather than clauses.
    """
    value = _CLAUSE_END.split(value, maxsplit=1)[0]
    value = _LIST_COMMA.split(value, maxsplit=1)[0] if lists else value.split(",", 1)[0]
    value = _TRAILING_ADVERB.sub("", value.strip(" \t\"'`.,;:!?"))
    value = re.sub(r"\s+", " ", value).strip(" \"'`.,;:!?")
    if len(value) > MAX_VALUE_CHARS:
        value = value[:MAX_VALUE_CHARS].rsplit(" ", 1)[0]
    return value


def as_sentence(text: str) -> str:
    """One sentence: capitalised, single-spaced, ending with a full stop."""
    text = re.sub(r"\s+", " ", text).strip().rstrip(" .,;:!?")
    return text[:1].upper() + text[1:] + "." if text else ""


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


_PRONOUN_WORDS = word_set(
    "they them their theirs themselves i'm i've i'd i'll myself mine we're we've assistant"
)


def stems(text: str) -> list[str]:
    """Content words with a light suffix strip, so "prefers"/"prefer" and "working"/"work" meet."""
    out = []
    for word in terms(text):
        if word in _PRONOUN_WORDS:
            continue
        if len(word) > 5 and word.endswith("ing"):
            word = word[:-3]
        elif len(word) > 4 and word.endswith("ed"):
            word = word[:-2]
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


def features(text: str) -> set[str]:
    """Words and adjacent word pairs: pairs tell "tabs over spaces" from "spaces over tabs"."""
    words = stems(text)
    return set(words) | {f"{a} {b}" for a, b in pairwise(words)}


_NEGATION = re.compile(r"\b(?:not|never|no|don't|doesn't|dislikes?|avoid|without)\b", re.I)


def negations(text: str) -> set[str]:
    return {m.group(0).lower() for m in _NEGATION.finditer(text)}


def normalised(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def near_duplicate(new: str, old: str) -> bool:
    if normalised(new) == normalised(old):
        return True
    if negations(new) != negations(old):
        return False
    a, b = features(new), features(old)
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= DUPLICATE_SIMILARITY or len(a & b) / len(a) >= DUPLICATE_CONTAINMENT


def oxford_join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
