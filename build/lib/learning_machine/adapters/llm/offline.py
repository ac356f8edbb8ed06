"""Offline extraction: a rule-based stand-in for the model, for the demo without a key or endpoint.

This is not a language model. It is a table of English regular expressions and keyword lists that
turn a few common phrasings in the *user* messages into the same `ExtractionResult` a model would
return, so the pipeline, the stores and the context block can be shown end to end offline.

What it does:
- profile fields from stock phrasings ("my name is", "call me", "I'm a ROLE at COMPANY", "I live
  in", "my time zone is", "please answer in LANGUAGE", "my <schema field> is ...");
- memories in the four layers from stock phrasings (preferences and rules, background, projects and
  stack, feedback on the preceding assistant message), written as third-person sentences;
- consolidation against the current memories: near-duplicates become `noop`, a new statement on
  the same slot (answer length, language, contact channel, a project, ...) becomes `update`,
  "forget that ..." becomes `delete`;
- a bounded session summary, and with planning a goal, a plan and the steps reported done;
- entities from stock phrasings: "I work at/for COMPANY (as ROLE)" (the company, with the fact that
  it employs the user), "X is a company/project/tool ..." (an upsert with a type and description),
  "X uses / runs on / is written in ... Y" (a fact on X; when a shown fact of X has the same verb
  and a single-valued or same-named object, as "runs on Postgres 15" -> "Postgres 16", the new fact
  supersedes it by id), and "yesterday / last Friday / on March 3 we launched X" (an event on X
  with the date as said). Names are matched to the shown entities case-insensitively and by alias.

What it does not do: understand paraphrases or anything its patterns do not spell out, read any
language but English, resolve pronouns across messages, learn from assistant messages, relate
entities to each other, or judge whether a statement is true, hypothetical or sarcastic. It
proposes no learned knowledge: telling a reusable insight from a personal detail needs judgement
that rules do not have, so `knowledge_operations` is always empty. Sentences that hold a secret
(passwords, API keys, tokens, card numbers), or a placeholder where one was redacted on intake, are
skipped entirely; what counts as a secret is decided in one place, `learning_machine.redaction`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from ...models.common import Layer, Role
from ...models.entities import EntityType
from ...models.extraction import (
    MAX_ENTITY_OPERATIONS,
    MAX_MEMORY_OPERATIONS,
    MAX_PROFILE_UPDATES,
    EntityOp,
    EntityOperation,
    ExtractionRequest,
    ExtractionResult,
    MemoryOperation,
    ModelReply,
    NumberedMessage,
    ProfileFieldUpdate,
    SessionUpdate,
    ShownEntity,
)
from ...models.memories import Memory, Polarity
from ...models.transcripts import TokenUsage
from ...ranking import terms
from ...redaction import holds_secret

MODEL_NAME = "offline-rules"

# The session summary is rewritten on every transcript; these bounds keep it from growing forever.
MAX_SUMMARY_SENTENCES = 8
MAX_SUMMARY_CHARS = 800
MAX_VALUE_CHARS = 160
TOPICS_PER_TRANSCRIPT = 3

# Thresholds on stemmed-word overlap, tuned on the unit tests' phrasings.
DUPLICATE_SIMILARITY = 0.7  # Jaccard over words and word pairs: same statement, other wording
DUPLICATE_CONTAINMENT = 0.9  # the new statement says nothing the stored one does not
FORGET_COVERAGE = 0.75  # share of the "forget that ..." words found in the memory
PLAN_STEP_OVERLAP = 0.5  # share of the shorter text's words shared by a done item and a plan step

# ---------------------------------------------------------------------------------------------
# Vocabulary


def _words(text: str) -> frozenset[str]:
    """Vocabulary is written as space-separated words, a few lines per list."""
    return frozenset(text.split())


LANGUAGES = _words(
    "english spanish portuguese french german italian dutch polish russian ukrainian chinese mandarin "
    "cantonese japanese korean hindi arabic turkish swedish norwegian danish finnish greek hebrew czech "
    "romanian hungarian vietnamese thai indonesian catalan"
)
_LANGUAGE = "(?:" + "|".join(sorted(LANGUAGES)) + ")"

# Role rules without an employer only fire when the role ends with one of these nouns, so that
# "I'm a bit confused" does not become a job title.
ROLE_NOUNS = _words(
    "engineer developer programmer designer manager scientist analyst student teacher professor "
    "researcher consultant founder cofounder co-founder cto ceo cfo coo architect writer nurse doctor "
    "lawyer accountant administrator admin intern lead owner freelancer contractor tester sre pm "
    "marketer recruiter director editor journalist officer specialist technician coordinator "
    "instructor tutor lecturer physician pharmacist therapist entrepreneur"
)

# Capitalised words that follow "I'm" without being a name.
NOT_NAMES = frozenset(language.capitalize() for language in LANGUAGES) | _words(
    "American British Canadian Australian Brazilian Mexican Indian Irish Scottish Welsh Swiss "
    "Austrian Belgian Argentinian Chilean Colombian Nigerian Kenyan Egyptian Israeli Iranian "
    "Pakistani Filipino Sorry Not Just Still So Here There Back Also Really Currently Okay Ok Fine Good "
    "Great Happy Glad Done Ready New Sure Afraid Working Looking Trying Learning Going Using Building "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday The A An In On At From With"
)

# Words that say nothing about what a transcript was about.
_FILLER = _words(
    "hi hello hey thanks thank please yes yeah no ok okay just also really want need like know think "
    "get got make sure much still now yet one lot bit something anything thing things way going "
    "trying they them their then first finally next some any all more very well good great perfect "
    "help work worked works right actually maybe let use using said say tell done finished working "
    "called named stuck yesterday today tomorrow goal plan there here"
)

_PLEASANTRY = re.compile(
    r"^(?:sorry|i'm sorry|i am sorry|thanks|thank you|great|sure|of course|certainly|absolutely|happy to "
    r"help|glad|hi|hello|hey|nice to meet you|good question|no problem|understood|got it)\b",
    re.I,
)

# ---------------------------------------------------------------------------------------------
# Text helpers

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_BULLET = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022]|step\s+\d+\s*[:.)-])\s+", re.I)
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
        for sentence in _SENTENCE_END.split(_BULLET.sub("", line)):
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


_PRONOUN_WORDS = _words(
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


# ---------------------------------------------------------------------------------------------
# Findings and the rule table


@dataclass(frozen=True)
class FieldValue:
    field: str
    value: str | None  # None removes the field


@dataclass(frozen=True)
class Fact:
    layer: Layer
    content: str
    category: str | None = None
    polarity: Polarity | None = None


@dataclass(frozen=True)
class Forget:
    target: str  # the user's words after "forget that"


Finding = FieldValue | Fact | Forget


@dataclass(frozen=True)
class Context:
    """What a handler may need beyond its match."""

    previous_assistant: str | None
    known_projects: tuple[frozenset[str], ...]


Handler = Callable[[re.Match[str], Context], list[Finding]]


@dataclass(frozen=True)
class Rule:
    """Within a clause, the first rule of each group that yields findings wins."""

    group: str
    pattern: re.Pattern[str]
    handler: Handler


def _rule(group: str, pattern: str, handler: Handler) -> Rule:
    return Rule(group, re.compile(pattern, re.I), handler)


# Shared pattern pieces. The rules compile with re.I, so case-sensitive captures use (?-i:...).
_NAME = r"(?-i:[A-Z][a-zA-Z'-]+(?:\s+[A-Z][a-zA-Z'-]+){0,2})"
_ORG = r"(?-i:(?!I\b)[A-Z0-9][\w&.'-]*(?:\s+(?!I\b)[A-Z0-9&][\w&.'-]*){0,4})"
_PLACE = (  # "Lisbon", "Rio de Janeiro", "Portland, Oregon"
    r"(?-i:[A-Z][\w.'-]*(?:\s+(?:(?:de|da|do|of)\s+)?[A-Z][\w.'-]*){0,3}"
    r"(?:,\s*[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*){0,2})?)"
)
_TZ = (
    r"(?-i:[A-Z][a-z]+/[A-Z][A-Za-z_]+(?:/[A-Z][A-Za-z_]+)?|(?:UTC|GMT)\s?[+-]\s?\d{1,2}(?::?\d{2})?"
    r"|UTC|GMT|[A-Z]{2,4}T)"
)
_ROLE = r"[a-z][a-z/+&' -]{1,60}?"
_REST = r"(?P<x>[^.;!?]+)"
# Sentence openers before an imperative: "OK, from now on please always ...".
_LEAD = (
    r"^(?:(?:ok(?:ay)?|also|and|oh|btw|actually|so|one more thing|from now on|going forward|"
    r"in (?:the )?future)[,:!]?\s+)*(?:(?:can|could|would) you\s+)?(?:please\s+)?"
)
_CHANNEL = r"\b(?:e-?mail|phone(?:\s+calls?)?|calls?|sms|text(?:\s+messages?)?|whatsapp|chat|slack)\b"
_CONTACT_WISH = re.compile(
    rf"^(?:to be (?:contacted|reached)\b|being (?:contacted|reached)\b|{_CHANNEL})", re.I
)
_CONCISE_WORDS = r"short|shorter|concise|brief|briefer|succinct|terse|tight|to the point"
_DETAILED_WORDS = r"detailed|longer|thorough|in-depth|in depth|more detail(?:s|ed)?|elaborate|verbose"
_CONCISE = rf"\b(?:{_CONCISE_WORDS})\b"
_DETAILED = rf"\b(?:{_DETAILED_WORDS})\b"
_ANSWER_NOUN = r"\b(?:answers?|responses?|replies|explanations?|it|things)\b"
_PROJECT_NOUN = re.compile(
    r"\b(?:project|app|application|cli|service|library|lib|tool|website|site|api|bot|game|repo|package|"
    r"plugin|extension|prototype|mvp|thesis|paper|book|startup)\b",
    re.I,
)
_NOT_A_PROJECT = re.compile(r"^(?:it|that|this|something|step\s+\d+|the next step|a fix)\b", re.I)
_DONT_EXCEPTIONS = re.compile(r"^(?:worry|know|mind|get me wrong|hesitate|bother|remember|forget)\b", re.I)


def _name(m: re.Match[str], _: Context) -> list[Finding]:
    value = m.group("name").strip()
    return [] if value.split()[0] in NOT_NAMES else [FieldValue("name", value)]


def _preferred_name(m: re.Match[str], _: Context) -> list[Finding]:
    value = m.group("name").strip()
    return [] if value.split()[0] in NOT_NAMES else [FieldValue("preferred_name", value)]


def _role_and_company(m: re.Match[str], _: Context) -> list[Finding]:
    groups = m.groupdict()
    role = clip(groups.get("role") or "")
    company = (groups.get("company") or "").strip(" .,;:!?")
    found: list[Finding] = []
    # Without an employer only a recognisable job title counts ("I'm a bit tired" is no role).
    if role and (company or role.lower().split()[-1] in ROLE_NOUNS) and len(role.split()) <= 6:
        found.append(FieldValue("role", role))
    if company:
        found.append(FieldValue("company", company))
    return found


def _location(m: re.Match[str], _: Context) -> list[Finding]:
    value = m.group("place").strip(" .,;:!?")
    return [] if re.fullmatch(_TZ, value) else [FieldValue("location", value)]


def _timezone(m: re.Match[str], _: Context) -> list[Finding]:
    return [FieldValue("timezone", re.sub(r"\s+", "", m.group("tz")))]


def _language(m: re.Match[str], _: Context) -> list[Finding]:
    language = m.group("lang").capitalize()
    return [
        FieldValue("language", language),
        Fact(Layer.POLICIES, f"Prefers answers in {language}.", "communication/language"),
    ]


def _answer_length(m: re.Match[str], _: Context) -> list[Finding]:
    kind = "detailed" if re.search(_DETAILED, m.group(0), re.I) else "concise"
    return [Fact(Layer.POLICIES, f"Prefers {kind} answers.", "communication/style")]


def _contact(channel_text: str) -> Fact | None:
    """'email over phone calls' -> 'Prefers to be contacted by email rather than phone calls.'"""
    channel = re.search(_CHANNEL, channel_text, re.I)
    if not channel:
        return None
    content = f"Prefers to be contacted by {channel.group(0).lower()}"
    other = re.search(
        r"\b(?:over|rather than|instead of|to)\s+(?P<y>.+)$", channel_text[channel.end() :], re.I
    )
    if other and re.search(_CHANNEL, other.group("y"), re.I):
        content += f" rather than {other.group('y').lower()}"
    return Fact(Layer.POLICIES, as_sentence(content), "communication/contact")


def _contact_request(m: re.Match[str], _: Context) -> list[Finding]:
    fact = _contact(clip(m.group("x")))
    return [fact] if fact else []


def _preference(m: re.Match[str], _: Context) -> list[Finding]:
    """'I prefer X': a contact channel, an answer style, a choice 'X over Y', or a plain preference."""
    wish = clip(m.group("x"))
    if not wish:
        return []
    contact = _contact(wish) if _CONTACT_WISH.match(wish) else None
    if contact:
        return [contact]
    category = None
    if re.search(_ANSWER_NOUN, wish, re.I) and re.search(f"{_CONCISE}|{_DETAILED}", wish, re.I):
        category = "communication/style"
    return [Fact(Layer.POLICIES, as_sentence(f"Prefers {third_person(wish)}"), category)]


def _instead(m: re.Match[str], _: Context) -> list[Finding]:
    chosen, rejected = clip(m.group("a")), clip(m.group("b"))
    if not (chosen and rejected):
        return []
    return [
        Fact(Layer.POLICIES, as_sentence(f"Prefers {third_person(chosen)} over {third_person(rejected)}"))
    ]


def _always(m: re.Match[str], _: Context) -> list[Finding]:
    return _rule_fact("Wants the assistant to always", m.group("x"))


def _never(m: re.Match[str], _: Context) -> list[Finding]:
    return _rule_fact("Wants the assistant to never", m.group("x"))


def _dont(m: re.Match[str], _: Context) -> list[Finding]:
    return (
        []
        if _DONT_EXCEPTIONS.match(m.group("x"))
        else _rule_fact("Does not want the assistant to", m.group("x"))
    )


def _rule_fact(prefix: str, action: str) -> list[Finding]:
    action = clip(action)
    return [Fact(Layer.POLICIES, as_sentence(f"{prefix} {third_person(action)}"))] if action else []


def _dislike(m: re.Match[str], _: Context) -> list[Finding]:
    thing = clip(m.group("x"))
    return [Fact(Layer.POLICIES, as_sentence(f"Dislikes {third_person(thing)}"))] if thing else []


def _experience(m: re.Match[str], _: Context) -> list[Finding]:
    subject = clip(m.group("x"))
    if not subject:
        return []
    years = m.group("n")
    unit = "year" if years.lower() in ("1", "one", "a") else "years"
    content = f"Has {years} {unit} of experience {m.group('prep').lower()} {third_person(subject)}"
    return [Fact(Layer.PROFILE, as_sentence(content), "background/experience")]


_STUDY_VERBS = {"learning": "Is learning", "studying": "Is studying", "new to": "Is new to"}


def _studying(m: re.Match[str], _: Context) -> list[Finding]:
    subject = clip(m.group("x"))
    if not subject or _NOT_A_PROJECT.match(subject):
        return []
    verb = _STUDY_VERBS[re.sub(r"\s+", " ", m.group("verb").lower())]
    return [Fact(Layer.PROFILE, as_sentence(f"{verb} {third_person(subject)}"), "background/learning")]


_PROJECT_STATUS = {
    "finished": "Has finished",
    "completed": "Has finished",
    "shipped": "Has shipped",
    "launched": "Has shipped",
    "released": "Has shipped",
    "paused": "Has paused",
    "abandoned": "Has stopped working on",
    "stopped working on": "Has stopped working on",
}


def _project_status(m: re.Match[str], ctx: Context) -> list[Finding]:
    """'I shipped ferrite': only for something that is plainly a project or one already known."""
    project = clip(m.group("x"))
    words = frozenset(stems(project))
    known = any(words and (words <= key or key <= words) for key in ctx.known_projects)
    if not project or not (known or _PROJECT_NOUN.search(project)):
        return []
    verb = _PROJECT_STATUS[re.sub(r"\s+", " ", m.group("status").lower())]
    return [Fact(Layer.KNOWLEDGE, as_sentence(f"{verb} {third_person(project)}"), "work/projects")]


_PROJECT_VERBS = {
    "working on": "Is working on",
    "building": "Is building",
    "developing": "Is developing",
    "writing": "Is writing",
    "creating": "Is creating",
}


def _project(m: re.Match[str], _: Context) -> list[Finding]:
    project = clip(m.group("x"))
    if not project or _NOT_A_PROJECT.match(project):
        return []
    verb = _PROJECT_VERBS[re.sub(r"\s+", " ", m.group("verb").lower())]
    return [Fact(Layer.KNOWLEDGE, as_sentence(f"{verb} {third_person(project)}"), "work/projects")]


def _stack(m: re.Match[str], _: Context) -> list[Finding]:
    stack = clip(m.group("x"), lists=True)
    return (
        [Fact(Layer.KNOWLEDGE, as_sentence(f"Their team's stack is {stack}"), "work/stack")] if stack else []
    )


def _team_uses(m: re.Match[str], _: Context) -> list[Finding]:
    tools = clip(m.group("x"), lists=True)
    if not tools:
        return []
    return [Fact(Layer.KNOWLEDGE, as_sentence(f"Their team uses {third_person(tools)}"), "work/stack")]


_PROBLEM = re.compile(
    r"\b(?:hasn't|has not|haven't|never|didn't|did not|isn't|is not|wasn't|was not|won't|can't|cannot|"
    r"still|late|delayed|missing|lost|broken|damaged|wrong|cancell?ed|charged twice|double[- ]charged|"
    r"failed|stuck|locked)\b",
    re.I,
)
_REFERENCE = re.compile(
    r"^\s*(?:(?:number|no\.?|id|reference)\s*)?(?:is\s+)?#?\s*(?P<id>[A-Z]{0,4}-?\d[A-Z0-9-]{2,})\b",
    re.I,
)


def _support_case(m: re.Match[str], _: Context) -> list[Finding]:
    """'my order #A-48213 hasn't arrived' / 'my order number is A-48213' (secrets never get here)."""
    thing = m.group("thing").lower()
    rest = clip(m.group("x") or "")
    reference = _REFERENCE.match(rest)
    ident = reference.group("id") if reference else None
    remainder = rest[reference.end() :].strip() if reference else rest
    subject = f"their {thing} {ident}" if ident else f"their {thing}"
    category = f"support/{thing}"
    if remainder and _PROBLEM.search(remainder):
        return [
            Fact(Layer.KNOWLEDGE, as_sentence(f"Reported that {subject} {third_person(remainder)}"), category)
        ]
    if ident:
        return [Fact(Layer.KNOWLEDGE, as_sentence(f"Their {thing} number is {ident}"), category)]
    return []


def _feedback(polarity: Polarity) -> Handler:
    """Feedback is about the preceding assistant message; the user's remark says why."""

    def handle(m: re.Match[str], ctx: Context) -> list[Finding]:
        remark = clip(m.string[m.end() :].lstrip(" ,.;:!-"))
        remark = "" if re.fullmatch(r"(?:thanks?|thank you|cheers)", remark, re.I) else remark
        verdict = "helpful" if polarity == "positive" else "unhelpful"
        gist = suggestion_gist(ctx.previous_assistant)
        content = (
            f'Found the suggestion "{gist}" {verdict}' if gist else f"Found the assistant's answer {verdict}"
        )
        if remark:
            content += f" ({third_person(remark)})"
        return [Fact(Layer.FEEDBACK, as_sentence(content), None, polarity)]

    return handle


def suggestion_gist(message: str | None, limit: int = 140) -> str | None:
    """The first sentence of the assistant message that is not a pleasantry, shortened."""
    if not message:
        return None
    candidates = [s for s in sentences(message) if not holds_secret(s)]
    chosen = next((s for s in candidates if not _PLEASANTRY.match(s)), None)
    if not chosen:
        return None
    chosen = re.sub(r"\s+", " ", chosen.replace('"', "'")).rstrip(" .!?:;,")
    return chosen if len(chosen) <= limit else chosen[:limit].rsplit(" ", 1)[0] + "..."


_INTERJECTION = (
    r"^(?:(?:great|awesome|nice|cool|ok(?:ay)?|thanks|thank you|perfect|yes|yep|hmm+|no|nope|"
    r"unfortunately|sorry|but|well|i think)[,!.]?\s+)*"
)
_CLAUSE_STOP = r"(?=\s*(?:[,.;!?]|$)|\s+(?:and|but|so|on|in)\b)"
_NUMBER = r"(?P<n>\d+|a|one|two|three|four|five|six|seven|eight|nine|ten|fifteen|twenty)"
_STATUS = "(?P<status>" + "|".join(_PROJECT_STATUS) + ")"
_PROJECT_VERB = "(?P<verb>" + "|".join(_PROJECT_VERBS) + ")"
_SUPPORT_THING = (
    r"(?P<thing>order|package|parcel|delivery|shipment|refund|subscription|invoice|ticket|booking|"
    r"reservation)"
)

RULES: tuple[Rule, ...] = (
    # Profile fields
    _rule("field:name", rf"\bmy (?:full )?name is\s+(?P<name>{_NAME})", _name),
    _rule(
        "field:name",
        rf"^(?:hi|hello|hey|good (?:morning|afternoon|evening))\b[^.!?]*?\bthis is\s+(?P<name>{_NAME})",
        _name,
    ),
    _rule(
        "field:name", rf"\b(?:I'm|I am)\s+(?P<name>{_NAME})(?=\s*(?:[,.!;]|$|\s+(?:and|from|here)\b))", _name
    ),
    _rule("field:preferred_name", rf"\b(?:call me|I go by)\s+(?P<name>{_NAME})", _preferred_name),
    _rule(
        "field:role",
        rf"\b(?:I'm|I am)\s+(?:{_NAME},\s+)?(?:an?|the)\s+(?P<role>{_ROLE})"
        rf"(?:\s+(?:at|for|with)\s+(?P<company>{_ORG}))?{_CLAUSE_STOP}",
        _role_and_company,
    ),
    _rule(
        "field:role",
        rf"\bI work as (?:an?|the)\s+(?P<role>{_ROLE})"
        rf"(?:\s+(?:at|for|with)\s+(?P<company>{_ORG}))?{_CLAUSE_STOP}",
        _role_and_company,
    ),
    _rule(
        "field:role",
        rf"\bI work (?:at|for)\s+(?P<company>{_ORG})(?:\s+as (?:an?|the)\s+(?P<role>{_ROLE}))?{_CLAUSE_STOP}",
        _role_and_company,
    ),
    _rule(
        "field:location",
        rf"\b(?:I live in|I(?:'m| am) (?:based|located) in|I(?:'m| am) from)\s+(?P<place>{_PLACE})",
        _location,
    ),
    _rule("field:timezone", rf"\b(?:my )?time\s?zone (?:is|:)\s*(?P<tz>{_TZ})", _timezone),
    _rule(
        "field:timezone",
        rf"\b(?:I'm|I am|we're|we are)\s+(?:in|on)\s+(?:the\s+)?(?P<tz>{_TZ})"
        rf"(?:\s+time(?:\s?zone)?)?{_CLAUSE_STOP}",
        _timezone,
    ),
    # Policies: preferences and rules, the most specific first
    _rule(
        "policies",
        r"\b(?:answer|reply|respond|write|talk to me|speak to me|communicate)\s+(?:to me\s+)?(?:only\s+)?"
        rf"in\s+(?P<lang>{_LANGUAGE})\b",
        _language,
    ),
    _rule(
        "policies",
        r"\bI(?:'d| would)?\s+prefer\s+(?:answers\s+in\s+|(?:to\s+)?(?:talk|write|chat|speak)\s+in\s+)?"
        rf"(?P<lang>{_LANGUAGE})\b",
        _language,
    ),
    _rule(
        "policies",
        rf"\b(?:keep|make)\s+(?:the\s+|your\s+|all\s+|my\s+)?{_ANSWER_NOUN}\s+(?:{_CONCISE_WORDS})\b",
        _answer_length,
    ),
    _rule("policies", r"\bbe\s+(?:more\s+|very\s+)?(?:concise|brief|succinct|terse)\b", _answer_length),
    _rule(
        "policies",
        rf"\b(?:I\s+(?:like|want|need)|give me)\s+(?:{_CONCISE_WORDS}|{_DETAILED_WORDS})\s+"
        r"(?:answers|responses|replies|explanations)\b",
        _answer_length,
    ),
    _rule(
        "policies",
        r"\b(?:short|shorter|concise|brief)\s+(?:answers|responses|replies)\s+please\b",
        _answer_length,
    ),
    _rule(
        "policies",
        r"\b(?:more detail(?:s|ed)?(?:\s+please)?$|go into (?:more )?detail"
        r"|explain (?:it |things )?in (?:more )?detail)",
        _answer_length,
    ),
    _rule(
        "policies",
        r"(?:^(?:(?:please|also|and|so|from now on)[,]?\s+)*|\bI\s+(?:always\s+)?|\blet's\s+)"
        r"use\s+(?P<a>[^,;.!?]+?)\s+(?:instead of|rather than)\s+(?P<b>[^,;.!?]+)",
        _instead,
    ),
    _rule(
        "policies",
        r"\bI(?:'d| would)?\s+(?:really\s+)?(?:prefer|rather)\s+"
        rf"(?:it\s+)?(?:if\s+you\s+|that\s+you\s+|you\s+)?{_REST}",
        _preference,
    ),
    _rule(
        "policies",
        rf"\b(?:contact|reach|update|notify|message)\s+me\s+(?:by|via|through|over|on)\s+{_REST}",
        _contact_request,
    ),
    _rule("policies", rf"{_LEAD}always\s+{_REST}", _always),
    _rule("policies", rf"{_LEAD}never\s+{_REST}", _never),
    _rule("policies", rf"{_LEAD}(?:don't|do not|dont)\s+{_REST}", _dont),
    _rule(
        "policies",
        rf"\bI\s+(?:really\s+)?(?:hate|dislike|don't like|do not like|can't stand)\s+{_REST}",
        _dislike,
    ),
    # Profile layer: background
    _rule(
        "profile",
        rf"\bI(?:'ve| have)\s+(?:got\s+)?(?:about\s+|over\s+|almost\s+)?{_NUMBER}\+?\s+years?(?:\s+of)?"
        rf"(?:\s+professional)?\s+experience\s+(?P<prep>in|with|as|doing)\s+{_REST}",
        _experience,
    ),
    _rule(
        "profile",
        rf"\b(?:I'm|I am)\s+(?:currently\s+|now\s+|also\s+)?(?P<verb>learning|studying|new to)\s+{_REST}",
        _studying,
    ),
    # Knowledge: projects, stack, support cases
    _rule(
        "knowledge",
        rf"\bI(?:'ve| have)?\s+(?:just\s+|finally\s+|now\s+)?{_STATUS}\s+{_REST}",
        _project_status,
    ),
    _rule(
        "knowledge",
        r"\b(?:I'm|I am|we're|we are)\s+(?:currently\s+|now\s+|also\s+)?"
        rf"{_PROJECT_VERB}\s+{_REST}",
        _project,
    ),
    _rule("knowledge", rf"\bour\s+(?:tech(?:nology)?\s+)?stack\s+(?:is|=|:)\s*{_REST}", _stack),
    _rule(
        "knowledge",
        r"\b(?:we|our team|my team|our company)\s+(?:mostly\s+|mainly\s+|currently\s+)?"
        rf"(?:use|uses|are using|run on|deploy (?:to|on))\s+{_REST}",
        _team_uses,
    ),
    _rule("support", rf"\bmy\s+{_SUPPORT_THING}\b(?P<x>[^.;!?]*)", _support_case),
    # Feedback on the preceding assistant message (negative first: "didn't work" contains "work")
    _rule(
        "feedback",
        _INTERJECTION
        + r"(?:(?:that|this|it)\s+(?:still\s+)?(?:didn't|did not|doesn't|does not|won't|isn't|is not)\s+"
        r"(?:work|help|fix it|working|helping)\b"
        r"|(?:that|this|it)(?:'s|\s+is|\s+was)\s+"
        r"(?:wrong|incorrect|not (?:right|helpful|correct|what I asked))\b"
        r"|not helpful\b|(?:that|this) (?:is|was) unhelpful\b)",
        _feedback("negative"),
    ),
    _rule(
        "feedback",
        _INTERJECTION + r"(?:(?:that|this|it)\s+(?:worked|works(?:\s+now)?|helped|fixed it|did the trick)\b"
        r"|(?:that's|that is|this is|it's)\s+(?:perfect|exactly what I needed)\b|perfect\b|works now\b)",
        _feedback("positive"),
    ),
)

_FORGET = re.compile(
    r"^(?:(?:ok(?:ay)?|also|and|actually|oh)[,]?\s+)*(?:(?:can|could|would) you\s+)?(?:please\s+)?"
    r"(?:forget(?:\s+(?:that|about))?|(?:don't|do not|stop)\s+remember(?:ing)?(?:\s+that)?"
    r"|(?:delete|remove) (?:the )?memory (?:that|about))\s+(?P<target>.+)$",
    re.I,
)


def schema_rules(schema: Iterable[str]) -> list[Rule]:
    """'my <field> is <value>' for every schema field, standard or custom ('favorite_editor')."""
    aliases = {"timezone": ["time zone"], "language": ["preferred language"]}
    found = []
    for name in schema:
        phrases = [name.replace("_", " "), *aliases.get(name, [])]
        pattern = r"\bmy\s+(?:" + "|".join(re.escape(p) for p in phrases) + rf")\s+(?:is|=|:)\s*{_REST}"
        found.append(_rule(f"field:{name}", pattern, _schema_field(name)))
    return found


def _schema_field(name: str) -> Handler:
    def handle(m: re.Match[str], _: Context) -> list[Finding]:
        value = clip(m.group("x"))
        return [FieldValue(name, value)] if value else []

    return handle


# ---------------------------------------------------------------------------------------------
# Reading the transcript


@dataclass(frozen=True)
class Line:
    bulleted: bool  # "1. ..." or "- ...": an item of a list (a plan, usually)
    sentences: list[str]


@dataclass(frozen=True)
class UserTurn:
    """One user message, line by line, with secret-bearing sentences already removed."""

    turn_index: int
    lines: list[Line]
    previous_assistant: str | None

    @property
    def sentences(self) -> list[str]:
        return [s for line in self.lines for s in line.sentences]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def user_turns(messages: Sequence[NumberedMessage]) -> list[UserTurn]:
    turns = []
    previous_assistant: str | None = None
    for message in messages:
        content = message.content.replace("\u2019", "'").replace("\u2018", "'")
        if message.role == Role.ASSISTANT:
            previous_assistant = content
        elif message.role == Role.USER:
            lines = [
                Line(bool(_BULLET.match(raw)), [s for s in sentences(raw) if not holds_secret(s)])
                for raw in content.splitlines()
            ]
            turns.append(
                UserTurn(message.turn_index, [line for line in lines if line.sentences], previous_assistant)
            )
    return turns


@dataclass
class Reading:
    """What the rules found, and the sentences that say what the conversation was about."""

    found: list[tuple[Finding, int]] = field(default_factory=list)  # with the turn index
    topical: list[str] = field(default_factory=list)


def read(
    turns: Sequence[UserTurn], rules: Sequence[Rule], known_projects: tuple[frozenset[str], ...]
) -> Reading:
    reading = Reading()
    for turn in turns:
        ctx = Context(turn.previous_assistant, known_projects)
        for sentence in turn.sentences:
            found = (
                []
                if is_question(sentence)
                else [f for c in clauses(sentence) for f in clause_findings(c, rules, ctx)]
            )
            reading.found.extend((finding, turn.turn_index) for finding in found)
            if all(_topical(finding) for finding in found):
                reading.topical.append(sentence)
    return reading


def _topical(finding: Finding) -> bool:
    """Introductions, style rules and feedback are about the user, not the topic of the session."""
    return isinstance(finding, Fact) and finding.layer in (Layer.KNOWLEDGE, Layer.PROFILE)


def clause_findings(clause: str, rules: Sequence[Rule], ctx: Context) -> list[Finding]:
    forget = _FORGET.match(clause)
    if forget:
        # The forgotten statement must not be learned again by the other rules.
        target = forget.group("target").strip(" .!?")
        return [Forget(target)] if target and target.lower() not in ("it", "that", "this") else []
    found: list[Finding] = []
    claimed: set[str] = set()
    for rule in rules:
        if rule.group in claimed:
            continue
        match = rule.pattern.search(clause)
        produced = rule.handler(match, ctx) if match else []
        if produced:
            claimed.add(rule.group)
            found.extend(produced)
    return found


# ---------------------------------------------------------------------------------------------
# Consolidation: slots say which statements replace one another

Slot = tuple[str, frozenset[str]]
OperationKind = Literal["add", "update", "delete", "noop"]

_SLOTS: tuple[tuple[Layer, str, re.Pattern[str]], ...] = (
    (
        Layer.POLICIES,
        "answer_length",
        re.compile(rf"{_CONCISE}.*{_ANSWER_NOUN}|{_DETAILED}.*{_ANSWER_NOUN}|\bbe (?:concise|brief)\b", re.I),
    ),
    (
        Layer.POLICIES,
        "language",
        re.compile(
            rf"^(?=.*\b{_LANGUAGE}\b)(?=.*\b(?:answer|respon|repl|writ|speak|language|communicat)\w*)", re.I
        ),
    ),
    (Layer.POLICIES, "contact", re.compile(rf"^(?=.*\b(?:contact|reach)\w*)(?=.*{_CHANNEL})", re.I)),
    (
        Layer.POLICIES,
        "choice",
        re.compile(r"^Prefers (?P<key>.+? (?:over|rather than|instead of) .+?)\.?$", re.I),
    ),
    (
        Layer.POLICIES,
        "rule",
        re.compile(
            r"^(?:Wants the assistant to (?:always|never)|Does not want the assistant to) (?P<key>.+?)\.?$",
            re.I,
        ),
    ),
    (
        Layer.KNOWLEDGE,
        "project",
        re.compile(
            r"\b(?:is|are|has|have)\s+(?:been\s+)?(?:"
            + "|".join([*_PROJECT_VERBS, *_PROJECT_STATUS])
            + r")\s+(?P<key>.+?)\.?$",
            re.I,
        ),
    ),
    (Layer.KNOWLEDGE, "stack", re.compile(r"\bstack\b", re.I)),
    (
        Layer.PROFILE,
        "experience",
        re.compile(r"\byears? of experience (?:in|with|as|doing)\s+(?P<key>.+?)\.?$", re.I),
    ),
)


def slot(layer: Layer, content: str) -> Slot | None:
    for slot_layer, family, pattern in _SLOTS:
        match = pattern.search(content) if slot_layer == layer else None
        if match:
            return family, _slot_key(family, match.groupdict().get("key") or "")
    return None


def _slot_key(family: str, text: str) -> frozenset[str]:
    if family == "choice":  # either order of the two options is the same choice
        text = re.sub(r"\b(?:over|rather than|instead of)\b", " ", text, flags=re.I)
    if family == "project":  # "a Rust CLI called ferrite" is known by its name
        named = re.search(r"\b(?:called|named)\s+(\S+)", text, re.I)
        text = named.group(1) if named else text
    return frozenset(stems(text))


def same_slot(a: Slot | None, b: Slot | None) -> bool:
    if a is None or b is None or a[0] != b[0]:
        return False
    if a[0] == "project":  # "ferrite" and "the ferrite CLI" are the same project
        return bool(a[1] and b[1]) and (a[1] <= b[1] or b[1] <= a[1])
    return a[1] == b[1]


def forget_score(target: str, content: str) -> float:
    wanted = set(stems(third_person(target)))
    return len(wanted & set(stems(content))) / len(wanted) if wanted else 0.0


@dataclass
class MemoryPlan:
    """Operations in the order they were decided; a later statement on the same memory wins."""

    existing: list[Memory]
    operations: list[MemoryOperation] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)

    def live(self) -> list[Memory]:
        return [m for m in self.existing if m.memory_id not in self.deleted]

    def put(self, operation: MemoryOperation) -> None:
        for index, current in enumerate(self.operations):
            if operation.memory_id and current.memory_id == operation.memory_id:
                self.operations[index] = operation
                return
        self.operations.append(operation)

    def forget(self, target: str, turn_index: int) -> None:
        candidates = [(forget_score(target, m.content), m.memory_id) for m in self.live()]
        score, memory_id = max(candidates, default=(0.0, ""))
        if score >= FORGET_COVERAGE:
            self.deleted.add(memory_id)
            self.put(_operation("delete", memory_id=memory_id, turn_index=turn_index))
        # A statement made earlier in this same transcript is forgotten too.
        self.operations = [
            op
            for op in self.operations
            if not (op.op == "add" and op.content and forget_score(target, op.content) >= FORGET_COVERAGE)
        ]

    def learn(self, fact: Fact, turn_index: int) -> None:
        same = [m for m in self.live() if m.layer == fact.layer]
        pending = [op for op in self.operations if op.op == "add" and op.layer == fact.layer]
        fact_slot = slot(fact.layer, fact.content)
        duplicate = next((m for m in same if near_duplicate(fact.content, m.content)), None)
        if duplicate:
            self.put(_operation("noop", memory_id=duplicate.memory_id))
        elif any(near_duplicate(fact.content, op.content or "") for op in pending):
            return
        elif target := next((m for m in same if same_slot(fact_slot, slot(m.layer, m.content))), None):
            self.put(_operation("update", fact, memory_id=target.memory_id, turn_index=turn_index))
        elif earlier := next(
            (op for op in pending if same_slot(fact_slot, slot(fact.layer, op.content or ""))), None
        ):
            self.operations[self.operations.index(earlier)] = _operation("add", fact, turn_index=turn_index)
        else:
            self.operations.append(_operation("add", fact, turn_index=turn_index))

    def result(self) -> list[MemoryOperation]:
        """Within the schema's cap; no-ops are the first to go, as they change nothing."""
        operations = self.operations
        if len(operations) > MAX_MEMORY_OPERATIONS:
            operations = [op for op in operations if op.op != "noop"]
        return operations[:MAX_MEMORY_OPERATIONS]


def _operation(
    op: OperationKind, fact: Fact | None = None, memory_id: str | None = None, turn_index: int | None = None
) -> MemoryOperation:
    return MemoryOperation(
        op=op,
        memory_id=memory_id,
        layer=fact.layer if fact else None,
        category=fact.category if fact else None,
        content=fact.content if fact else None,
        polarity=fact.polarity if fact else None,
        turn_index=turn_index,
    )


def memory_operations(
    request: ExtractionRequest, found: Sequence[tuple[Finding, int]]
) -> list[MemoryOperation]:
    layers = set(request.layers)
    plan = MemoryPlan([m for m in request.memories if m.layer in layers])
    for finding, turn_index in found:
        if isinstance(finding, Forget):
            plan.forget(finding.target, turn_index)
        elif isinstance(finding, Fact) and finding.layer in layers:
            plan.learn(finding, turn_index)
    return plan.result()


def profile_updates(
    request: ExtractionRequest, found: Sequence[tuple[Finding, int]]
) -> list[ProfileFieldUpdate]:
    if not request.learn_profile:
        return []
    latest: dict[str, ProfileFieldUpdate] = {}
    for finding, turn_index in found:
        for item in _field_values(finding, request.profile_fields):
            if item.field in request.profile_schema:
                latest.pop(item.field, None)  # re-insert: the order follows the last statement
                latest[item.field] = ProfileFieldUpdate(
                    field=item.field, value=item.value, turn_index=turn_index
                )
    changed = [u for u in latest.values() if not _unchanged(u, request.profile_fields.get(u.field))]
    return changed[:MAX_PROFILE_UPDATES]


def _field_values(finding: Finding, current: dict[str, object]) -> list[FieldValue]:
    if isinstance(finding, FieldValue):
        return [finding]
    if isinstance(finding, Forget):  # "forget that I live in Lisbon" removes the field holding Lisbon
        return [
            FieldValue(name, None)
            for name, value in current.items()
            if isinstance(value, str)
            and value
            and re.search(rf"\b{re.escape(value)}\b", finding.target, re.I)
        ]
    return []


def _unchanged(update: ProfileFieldUpdate, current: object) -> bool:
    if update.value is None:
        return current is None
    if not isinstance(current, str):
        return False
    if update.field == "name":  # "I'm Dana" does not shorten a known "Dana Whitfield"
        return current.lower().split()[: len(update.value.split())] == update.value.lower().split()
    return current.strip().lower() == update.value.strip().lower()


# ---------------------------------------------------------------------------------------------
# Session context

_GOALS = (  # by priority: an explicit goal beats a passing "I want to"
    re.compile(
        r"\b(?:my|our|the)\s+(?:main\s+|overall\s+|end\s+|real\s+)?goal\s+"
        rf"(?:for (?:this|today|the session)\s+)?is\s+(?:to\s+)?{_REST}",
        re.I,
    ),
    re.compile(r"\bI(?:'m| am)\s+trying\s+to\s+" + _REST, re.I),
    re.compile(r"\bI(?:'d|\s+would)?\s+(?:really\s+)?(?:want|need|like|hope)\s+to\s+" + _REST, re.I),
)
_NOT_A_GOAL = re.compile(r"^(?:know|ask|say|mention|add|point out|check whether|confirm)\b", re.I)
_PLAN_STATED = re.compile(r"\b(?:the|my|our)\s+plan\s+is(?:\s+to)?\s*:?\s*(?P<x>.+)$", re.I | re.S)
_PLAN_FIRST = re.compile(r"\b(?:first(?:ly)?|to start(?: with)?|start by)\b[,:]?\s*(?P<x>.+)$", re.I | re.S)
_STEP_SPLIT = re.compile(
    r"(?:[,;.]\s*|\s+)(?:and\s+)?(?:then|next|after that|afterwards|finally|lastly)\b[,:]?\s*"
    r"|\s*;\s*|,\s*(?:and\s+)?",
    re.I,
)
_STEP_LEAD = re.compile(r"^(?:I'll|I will|I'm going to|I want to|I need to|we'll|let's|to|I)\s+", re.I)
_DONE = (
    re.compile(
        r"\bI(?:'ve| have)?\s+(?:just\s+|already\s+|now\s+)?"
        rf"(?:finished|completed|done|wrapped up|got through)\s+(?:with\s+)?{_REST}",
        re.I,
    ),
    re.compile(r"\b(?:I'm|I am)\s+(?:done|finished)\s+with\s+" + _REST, re.I),
    re.compile(r"^(?:done with|finished|completed)\s+" + _REST, re.I),
    re.compile(r"^(?P<x>[^.;!?]+?)\s+(?:is|are)\s+(?:now\s+)?(?:done|finished|complete|completed)\b", re.I),
)
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "last": -1}


def session_update(
    request: ExtractionRequest, turns: Sequence[UserTurn], topical: Sequence[str]
) -> SessionUpdate | None:
    if not request.learn_session:
        return None
    previous = request.previous_session
    fallback = [s for turn in turns for s in turn.sentences]  # when every sentence was about the user
    summary = bounded_summary(previous.summary if previous else "", transcript_summary(topical or fallback))
    if not request.planning:
        return SessionUpdate(summary=summary, goal=None, plan=[], progress=[])
    goal = find_goal(turns) or (previous.goal if previous else None)
    plan = find_plan(turns) or (list(previous.plan) if previous else [])
    known_steps = [*plan, *(previous.plan if previous else [])]
    progress = find_progress(turns, known_steps, previous.progress if previous else [])
    return SessionUpdate(summary=summary, goal=goal, plan=plan, progress=progress)


def transcript_summary(topical: Sequence[str]) -> str:
    """'Talked about order, a-48213 and arrived ("My order #A-48213 still hasn't arrived ...").'"""
    words = [w.removesuffix("'s") for s in topical for w in terms(s)]
    words = [w for w in words if w not in _FILLER and len(w) > 2 and "'" not in w]  # no contractions
    topics = [word for word, _ in Counter(words).most_common(TOPICS_PER_TRANSCRIPT)]
    if not topics:
        return ""
    opener = next((s for s in topical if len(terms(s)) >= 3), "")
    opener = re.sub(r"[.!?]+", ",", opener.replace('"', "'")).strip(" ,")
    if len(opener) > 100:
        opener = opener[:100].rsplit(" ", 1)[0] + "..."
    return (
        f'Talked about {oxford_join(topics)} ("{opener}").'
        if opener
        else f"Talked about {oxford_join(topics)}."
    )


def bounded_summary(previous: str, latest: str) -> str:
    """The previous summary plus this transcript, dropping the oldest sentences past the bounds."""
    parts = [s for s in _SENTENCE_END.split(previous.strip()) if s] + ([latest] if latest else [])
    parts = parts[-MAX_SUMMARY_SENTENCES:]
    while len(parts) > 1 and len(" ".join(parts)) > MAX_SUMMARY_CHARS:
        parts.pop(0)
    text = " ".join(parts)
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 3].rsplit(" ", 1)[0] + "..."


def find_goal(turns: Sequence[UserTurn]) -> str | None:
    for pattern in _GOALS:
        for turn in turns:
            for sentence in turn.sentences:
                match = pattern.search(sentence)
                goal = clip(match.group("x")) if match else ""
                if goal and not _NOT_A_GOAL.match(goal):
                    return capitalised(third_person(goal))
    return None


def find_plan(turns: Sequence[UserTurn]) -> list[str]:
    """The last plan stated in the transcript: a list, 'the plan is: a, b, c', or 'first a, then b'."""
    plan: list[str] = []
    for turn in turns:
        steps = (
            _listed_steps(turn)
            or _stated_steps(turn.text, _PLAN_STATED)
            or _stated_steps(turn.text, _PLAN_FIRST)
        )
        plan = steps or plan
    return plan


def _listed_steps(turn: UserTurn) -> list[str]:
    return _clean_steps(" ".join(line.sentences) for line in turn.lines if line.bulleted)


def _stated_steps(text: str, pattern: re.Pattern[str]) -> list[str]:
    match = pattern.search(text)
    if not match:
        return []
    body = match.group("x")
    connected = pattern is _PLAN_STATED or re.search(
        r"\b(?:then|next|after that|finally|lastly)\b", body, re.I
    )
    if not connected:
        return []
    # The chain of steps ends with the sentence that holds its last connector.
    last = list(re.finditer(r"\b(?:then|next|after that|afterwards|finally|lastly)\b", body, re.I))
    end = re.search(r"[.!?](?:\s|$)", body[last[-1].end() :]) if last else re.search(r"[.!?](?:\s|$)", body)
    if end:
        body = body[: (last[-1].end() if last else 0) + end.start()]
    return _clean_steps(_STEP_SPLIT.split(body))


def _clean_steps(raw: Iterable[str]) -> list[str]:
    steps = []
    for item in raw:
        step = clip(_STEP_LEAD.sub("", re.split(r"[.!?](?:\s|$)", item.strip())[0]))
        if step and not holds_secret(step):
            steps.append(capitalised(third_person(step)))
    return steps if len(steps) >= 2 else []


def find_progress(turns: Sequence[UserTurn], plan: Sequence[str], done_before: Sequence[str]) -> list[str]:
    progress = list(done_before)
    for turn in turns:
        for sentence in turn.sentences:
            for clause in clauses(sentence):
                done = next((m for m in (p.search(clause) for p in _DONE) if m), None)
                item = _plan_step(clip(done.group("x")), plan) if done else None
                if item and item.lower() not in {p.lower() for p in progress}:
                    progress.append(item)
    return progress


def _plan_step(done: str, plan: Sequence[str]) -> str | None:
    """Name a finished item by its plan step when they overlap ('reviewing sorting' -> 'Review sorting')."""
    if not done:
        return None
    numbered = re.search(
        r"\bstep\s+(\d+)\b|\b(first|second|third|fourth|fifth|sixth|last)\s+step\b", done, re.I
    )
    if numbered and plan:
        index = int(numbered.group(1)) - 1 if numbered.group(1) else _ORDINALS[numbered.group(2).lower()]
        index = index if index >= 0 else len(plan) + index
        return plan[index] if 0 <= index < len(plan) else None
    words = set(stems(done))
    best = max(plan, key=lambda step: len(words & set(stems(step))), default=None)
    if best and words:
        shared = len(words & set(stems(best)))
        if shared and shared / min(len(words), len(set(stems(best))) or 1) >= PLAN_STEP_OVERLAP:
            return best
    return capitalised(third_person(done))


# ---------------------------------------------------------------------------------------------
# Entities: a few stock phrasings, resolved against the entities the request shows

_ENTITY_NAME = r"(?-i:(?!(?:I|We|It|This|That|They|He|She|You|The|Our|My|Your|There|Here|What|A|An)\b)"
_ENTITY_NAME += r"[A-Z][\w&.'-]*(?:\s+[A-Z0-9][\w&.'-]*){0,3})"
_FACT_VERBS = (
    "uses|runs on|is written in|is built (?:on|with)|is hosted (?:on|at|in)|is deployed (?:on|to)|"
    "depends on|is owned by|is led by|is based in"
)
# Verbs with one value at a time: a new object replaces the old one ("runs on Postgres 16").
_SINGLE_VALUED = _words(
    "runs_on is_written_in is_hosted_on is_hosted_at is_hosted_in is_owned_by is_led_by is_based_in "
    "is_deployed_on is_deployed_to"
)
_ENTITY_FACT = re.compile(
    rf"^(?P<name>{_ENTITY_NAME})\s+(?:now\s+|currently\s+|still\s+|also\s+)?(?P<verb>{_FACT_VERBS})\s+"
    r"(?P<obj>.+)$",
    re.I,
)
# "Falcon runs on X, and Falcon uses Y": a second named subject starts a second statement.
_ENTITY_STATEMENT_SPLIT = re.compile(
    rf",?\s+(?:and|but)\s+(?={_ENTITY_NAME}\s+(?:now\s+|also\s+)?(?:{_FACT_VERBS})\b)", re.I
)
_KINDS: dict[str, EntityType] = {
    **dict.fromkeys(["company", "startup", "firm", "vendor", "client", "customer", "agency"], "company"),
    **dict.fromkeys(
        ["project", "app", "application", "service", "library", "cli", "website", "repo", "api"], "project"
    ),
    **dict.fromkeys(["tool", "database", "framework", "platform", "system", "queue", "language"], "system"),
    **dict.fromkeys(["product"], "product"),
}
_ENTITY_KIND = re.compile(
    rf"^(?P<name>{_ENTITY_NAME})\s+is\s+(?:an?|our|my|the)\s+(?:[\w-]+\s+){{0,4}}?"
    rf"(?P<kind>{'|'.join(_KINDS)})\b",
    re.I,
)
_EMPLOYER = (
    re.compile(
        rf"\bI work (?:at|for)\s+(?P<company>{_ORG})(?:\s+as (?:an?|the)\s+(?P<role>{_ROLE}))?{_CLAUSE_STOP}",
        re.I,
    ),
    re.compile(
        rf"\b(?:I'm|I am)\s+(?:{_NAME},\s+)?(?:an?|the)\s+(?P<role>{_ROLE})\s+(?:at|for)\s+"
        rf"(?P<company>{_ORG}){_CLAUSE_STOP}",
        re.I,
    ),
)
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH_NAME = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_EVENT_DATE = re.compile(
    rf"\b(?:on\s+)?(?P<date>yesterday|today|(?:last|this)\s+(?:{_WEEKDAY}|week|month)|\d+\s+(?:days?|weeks?)\s+ago|"
    rf"{_MONTH_NAME}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?"
    rf"{_MONTH_NAME}(?:\s+\d{{4}})?|\d{{4}}-\d{{2}}-\d{{2}})\b,?",
    re.I,
)
_EVENT = re.compile(
    r"^(?P<who>we|I|the team|our team)\s+(?:just\s+|finally\s+)?(?P<verb>launched|released|shipped|"
    r"deployed|migrated|signed|hired|closed|started|finished|completed|announced|moved|acquired|upgraded)\s+"
    rf"(?:the\s+)?(?P<name>{_ENTITY_NAME})(?P<rest>.*)$",
    re.I,
)
_WHO = {"we": "The user's team", "i": "The user", "the team": "The team", "our team": "The user's team"}


@dataclass
class EntityPlan:
    """Entity operations, each at most once, resolved against the shown entities."""

    shown: Sequence[ShownEntity]
    operations: list[EntityOperation] = field(default_factory=list)

    def entity(self, name: str) -> ShownEntity | None:
        key = normalised(name)
        return next((e for e in self.shown if key in {normalised(n) for n in (e.name, *e.aliases)}), None)

    def put(self, op: EntityOp, name: str, turn_index: int, **fields: Any) -> None:
        shown = self.entity(name)
        operation = EntityOperation.of(op, shown.name if shown else name, turn_index, **fields)
        key = (operation.op, normalised(operation.entity), normalised(operation.content or ""))
        if all((o.op, normalised(o.entity), normalised(o.content or "")) != key for o in self.operations):
            self.operations.append(operation)

    def fact(self, name: str, verb: str, obj: str, turn_index: int) -> None:
        """A new fact, a no-op when shown already, or the successor of the shown fact it changes."""
        content = as_sentence(f"{name} {verb.lower()} {obj}")
        shown = self.entity(name)
        for fact in shown.facts if shown else []:
            if normalised(fact.content) == normalised(content):
                return
            old = _ENTITY_FACT.match(fact.content.rstrip("."))
            if shown and shown.writable and old and _replaces(verb.lower(), obj, old):
                self.put("supersede_fact", name, turn_index, content=content, fact_id=fact.fact_id)
                return
        self.put("add_fact", name, turn_index, content=content)


def _replaces(verb: str, obj: str, old: re.Match[str]) -> bool:
    if old["verb"].lower() != verb or normalised(old["obj"]) == normalised(obj):
        return False
    same_thing = obj.split()[0].lower() == old["obj"].split()[0].lower()  # "Postgres 15" -> "Postgres 16"
    return verb.replace(" ", "_") in _SINGLE_VALUED or same_thing


def entity_operations(request: ExtractionRequest, turns: Sequence[UserTurn]) -> list[EntityOperation]:
    if not request.learn_entities:
        return []
    plan = EntityPlan(request.entities)
    for turn in turns:
        for sentence in turn.sentences:
            if not is_question(sentence):
                for clause in clauses(sentence):
                    for statement in _ENTITY_STATEMENT_SPLIT.split(clause):
                        _entity_clause(plan, statement.strip(" .!"), turn.turn_index)
    return plan.operations[:MAX_ENTITY_OPERATIONS]


def _entity_clause(plan: EntityPlan, clause: str, turn_index: int) -> None:
    for pattern in _EMPLOYER:
        if (m := pattern.search(clause)) and (company := m["company"].strip(" .,;:!?")):
            role = clip(m["role"] or "")
            plan.put("upsert", company, turn_index, entity_type="company")
            works = f"{company} employs the user" + (f" as {_article(role)} {role}" if role else "")
            plan.put("add_fact", company, turn_index, content=as_sentence(works))
            return
    if m := _ENTITY_KIND.match(clause):
        description = re.sub(r"\b(?:our|my)\b", "the user's", clip(clause), flags=re.I)
        kind = _KINDS[m["kind"].lower()]
        plan.put("upsert", m["name"], turn_index, entity_type=kind, description=as_sentence(description))
        return
    if (m := _ENTITY_FACT.match(clause)) and (obj := clip(m["obj"], lists=True)):
        plan.fact(m["name"], m["verb"], obj, turn_index)
        return
    if date := _EVENT_DATE.search(clause):
        undated = (clause[: date.start()] + " " + clause[date.end() :]).strip(" ,")
        if m := _EVENT.match(re.sub(r"\s+", " ", undated)):
            said = f"{_WHO[m['who'].lower()]} {m['verb'].lower()} {m['name']} {clip(m['rest'])}"
            plan.put("add_event", m["name"], turn_index, content=as_sentence(said), date_text=date["date"])


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


# ---------------------------------------------------------------------------------------------
# The model


class OfflineExtractionModel:
    """The ExtractionModel used when no model endpoint is configured: deterministic rules, no LLM."""

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def offline(self) -> bool:
        return True

    def extract(self, request: ExtractionRequest) -> ModelReply:
        turns = user_turns(request.messages)
        known_projects = tuple(
            s[1] for m in request.memories if (s := slot(m.layer, m.content)) and s[0] == "project" and s[1]
        )
        rules = (*RULES, *schema_rules(request.profile_schema))
        reading = read(turns, rules, known_projects)
        result = ExtractionResult(
            memory_operations=memory_operations(request, reading.found),
            profile_updates=profile_updates(request, reading.found),
            session=session_update(request, turns, reading.topical),
            entity_operations=entity_operations(request, turns),
            knowledge_operations=[],  # reusable insights need judgement that rules do not have
        )
        return ModelReply(
            result=result, usage=TokenUsage(prompt_tokens=0, completion_tokens=0), model=MODEL_NAME
        )
