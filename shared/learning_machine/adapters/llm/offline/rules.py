"""Findings and the rule table: one regular expression and handler per stock phrasing."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ....core.redaction import holds_secret
from ....models.common import Layer
from ....models.memories import Polarity
from .text import (
    LANGUAGE,
    NOT_NAMES,
    PLEASANTRY,
    ROLE_NOUNS,
    as_sentence,
    clip,
    sentences,
    stems,
    third_person,
)


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
NAME = r"(?-i:[A-Z][a-zA-Z'-]+(?:\s+[A-Z][a-zA-Z'-]+){0,2})"
ORG = r"(?-i:(?!I\b)[A-Z0-9][\w&.'-]*(?:\s+(?!I\b)[A-Z0-9&][\w&.'-]*){0,4})"
_PLACE = (  # "Lisbon", "Rio de Janeiro", "Portland, Oregon"
    r"(?-i:[A-Z][\w.'-]*(?:\s+(?:(?:de|da|do|of)\s+)?[A-Z][\w.'-]*){0,3}"
    r"(?:,\s*[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*){0,2})?)"
)
_TZ = (
    r"(?-i:[A-Z][a-z]+/[A-Z][A-Za-z_]+(?:/[A-Z][A-Za-z_]+)?|(?:UTC|GMT)\s?[+-]\s?\d{1,2}(?::?\d{2})?"
    r"|UTC|GMT|[A-Z]{2,4}T)"
)
ROLE = r"[a-z][a-z/+&' -]{1,60}?"
REST = r"(?P<x>[^.;!?]+)"
# Sentence openers before an imperative: "OK, from now on please always ...".
_LEAD = (
    r"^(?:(?:ok(?:ay)?|also|and|oh|btw|actually|so|one more thing|from now on|going forward|"
    r"in (?:the )?future)[,:!]?\s+)*(?:(?:can|could|would) you\s+)?(?:please\s+)?"
)
CHANNEL = r"\b(?:e-?mail|phone(?:\s+calls?)?|calls?|sms|text(?:\s+messages?)?|whatsapp|chat|slack)\b"
_CONTACT_WISH = re.compile(
    rf"^(?:to be (?:contacted|reached)\b|being (?:contacted|reached)\b|{CHANNEL})", re.I
)
_CONCISE_WORDS = r"short|shorter|concise|brief|briefer|succinct|terse|tight|to the point"
_DETAILED_WORDS = r"detailed|longer|thorough|in-depth|in depth|more detail(?:s|ed)?|elaborate|verbose"
CONCISE = rf"\b(?:{_CONCISE_WORDS})\b"
DETAILED = rf"\b(?:{_DETAILED_WORDS})\b"
ANSWER_NOUN = r"\b(?:answers?|responses?|replies|explanations?|it|things)\b"
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
    kind = "detailed" if re.search(DETAILED, m.group(0), re.I) else "concise"
    return [Fact(Layer.POLICIES, f"Prefers {kind} answers.", "communication/style")]


def _contact(channel_text: str) -> Fact | None:
    """'email over phone calls' -> 'Prefers to be contacted by email rather than phone calls.'"""
    channel = re.search(CHANNEL, channel_text, re.I)
    if not channel:
        return None
    content = f"Prefers to be contacted by {channel.group(0).lower()}"
    other = re.search(
        r"\b(?:over|rather than|instead of|to)\s+(?P<y>.+)$", channel_text[channel.end() :], re.I
    )
    if other and re.search(CHANNEL, other.group("y"), re.I):
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
    if re.search(ANSWER_NOUN, wish, re.I) and re.search(f"{CONCISE}|{DETAILED}", wish, re.I):
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


PROJECT_STATUS = {
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
    verb = PROJECT_STATUS[re.sub(r"\s+", " ", m.group("status").lower())]
    return [Fact(Layer.KNOWLEDGE, as_sentence(f"{verb} {third_person(project)}"), "work/projects")]


PROJECT_VERBS = {
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
    verb = PROJECT_VERBS[re.sub(r"\s+", " ", m.group("verb").lower())]
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
    chosen = next((s for s in candidates if not PLEASANTRY.match(s)), None)
    if not chosen:
        return None
    chosen = re.sub(r"\s+", " ", chosen.replace('"', "'")).rstrip(" .!?:;,")
    return chosen if len(chosen) <= limit else chosen[:limit].rsplit(" ", 1)[0] + "..."


_INTERJECTION = (
    r"^(?:(?:great|awesome|nice|cool|ok(?:ay)?|thanks|thank you|perfect|yes|yep|hmm+|no|nope|"
    r"unfortunately|sorry|but|well|i think)[,!.]?\s+)*"
)
CLAUSE_STOP = r"(?=\s*(?:[,.;!?]|$)|\s+(?:and|but|so|on|in)\b)"
_NUMBER = r"(?P<n>\d+|a|one|two|three|four|five|six|seven|eight|nine|ten|fifteen|twenty)"
_STATUS = "(?P<status>" + "|".join(PROJECT_STATUS) + ")"
_PROJECT_VERB = "(?P<verb>" + "|".join(PROJECT_VERBS) + ")"
_SUPPORT_THING = (
    r"(?P<thing>order|package|parcel|delivery|shipment|refund|subscription|invoice|ticket|booking|"
    r"reservation)"
)

RULES: tuple[Rule, ...] = (
    # Profile fields
    _rule("field:name", rf"\bmy (?:full )?name is\s+(?P<name>{NAME})", _name),
    _rule(
        "field:name",
        rf"^(?:hi|hello|hey|good (?:morning|afternoon|evening))\b[^.!?]*?\bthis is\s+(?P<name>{NAME})",
        _name,
    ),
    _rule(
        "field:name", rf"\b(?:I'm|I am)\s+(?P<name>{NAME})(?=\s*(?:[,.!;]|$|\s+(?:and|from|here)\b))", _name
    ),
    _rule("field:preferred_name", rf"\b(?:call me|I go by)\s+(?P<name>{NAME})", _preferred_name),
    _rule(
        "field:role",
        rf"\b(?:I'm|I am)\s+(?:{NAME},\s+)?(?:an?|the)\s+(?P<role>{ROLE})"
        rf"(?:\s+(?:at|for|with)\s+(?P<company>{ORG}))?{CLAUSE_STOP}",
        _role_and_company,
    ),
    _rule(
        "field:role",
        rf"\bI work as (?:an?|the)\s+(?P<role>{ROLE})"
        rf"(?:\s+(?:at|for|with)\s+(?P<company>{ORG}))?{CLAUSE_STOP}",
        _role_and_company,
    ),
    _rule(
        "field:role",
        rf"\bI work (?:at|for)\s+(?P<company>{ORG})(?:\s+as (?:an?|the)\s+(?P<role>{ROLE}))?{CLAUSE_STOP}",
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
        rf"(?:\s+time(?:\s?zone)?)?{CLAUSE_STOP}",
        _timezone,
    ),
    # Policies: preferences and rules, the most specific first
    _rule(
        "policies",
        r"\b(?:answer|reply|respond|write|talk to me|speak to me|communicate)\s+(?:to me\s+)?(?:only\s+)?"
        rf"in\s+(?P<lang>{LANGUAGE})\b",
        _language,
    ),
    _rule(
        "policies",
        r"\bI(?:'d| would)?\s+prefer\s+(?:answers\s+in\s+|(?:to\s+)?(?:talk|write|chat|speak)\s+in\s+)?"
        rf"(?P<lang>{LANGUAGE})\b",
        _language,
    ),
    _rule(
        "policies",
        rf"\b(?:keep|make)\s+(?:the\s+|your\s+|all\s+|my\s+)?{ANSWER_NOUN}\s+(?:{_CONCISE_WORDS})\b",
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
        rf"(?:it\s+)?(?:if\s+you\s+|that\s+you\s+|you\s+)?{REST}",
        _preference,
    ),
    _rule(
        "policies",
        rf"\b(?:contact|reach|update|notify|message)\s+me\s+(?:by|via|through|over|on)\s+{REST}",
        _contact_request,
    ),
    _rule("policies", rf"{_LEAD}always\s+{REST}", _always),
    _rule("policies", rf"{_LEAD}never\s+{REST}", _never),
    _rule("policies", rf"{_LEAD}(?:don't|do not|dont)\s+{REST}", _dont),
    _rule(
        "policies",
        rf"\bI\s+(?:really\s+)?(?:hate|dislike|don't like|do not like|can't stand)\s+{REST}",
        _dislike,
    ),
    # Profile layer: background
    _rule(
        "profile",
        rf"\bI(?:'ve| have)\s+(?:got\s+)?(?:about\s+|over\s+|almost\s+)?{_NUMBER}\+?\s+years?(?:\s+of)?"
        rf"(?:\s+professional)?\s+experience\s+(?P<prep>in|with|as|doing)\s+{REST}",
        _experience,
    ),
    _rule(
        "profile",
        rf"\b(?:I'm|I am)\s+(?:currently\s+|now\s+|also\s+)?(?P<verb>learning|studying|new to)\s+{REST}",
        _studying,
    ),
    # Knowledge: projects, stack, support cases
    _rule(
        "knowledge",
        rf"\bI(?:'ve| have)?\s+(?:just\s+|finally\s+|now\s+)?{_STATUS}\s+{REST}",
        _project_status,
    ),
    _rule(
        "knowledge",
        r"\b(?:I'm|I am|we're|we are)\s+(?:currently\s+|now\s+|also\s+)?"
        rf"{_PROJECT_VERB}\s+{REST}",
        _project,
    ),
    _rule("knowledge", rf"\bour\s+(?:tech(?:nology)?\s+)?stack\s+(?:is|=|:)\s*{REST}", _stack),
    _rule(
        "knowledge",
        r"\b(?:we|our team|my team|our company)\s+(?:mostly\s+|mainly\s+|currently\s+)?"
        rf"(?:use|uses|are using|run on|deploy (?:to|on))\s+{REST}",
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

FORGET = re.compile(
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
        pattern = r"\bmy\s+(?:" + "|".join(re.escape(p) for p in phrases) + rf")\s+(?:is|=|:)\s*{REST}"
        found.append(_rule(f"field:{name}", pattern, _schema_field(name)))
    return found


def _schema_field(name: str) -> Handler:
    def handle(m: re.Match[str], _: Context) -> list[Finding]:
        value = clip(m.group("x"))
        return [FieldValue(name, value)] if value else []

    return handle
